#!/usr/bin/env bash
# Runs every test: a short bounded run of each fuzz target (libFuzzer, clang), then the unit
# tests and the integration suite against the real binaries, as the current user and (when run
# as root) again as an unprivileged user, with the network fixture. Installs what is missing
# and builds first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
# Fuzz targets: their own clang build; 10 s per target (FENCE_FUZZ_SECONDS to change).
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DFENCE_FUZZ=ON -DFENCE_BUILD_TESTS=OFF >/dev/null
ninja -C build-fuzz fuzz_http_request fuzz_socks5 fuzz_ipc_frame fuzz_shell_words \
    fuzz_command_policy fuzz_config fuzz_git_hooks_path fuzz_nest_registration \
    fuzz_dns_message fuzz_claimed_name | tail -n 5
ctest --test-dir build-fuzz/fuzz --output-on-failure --timeout 300
ctest --test-dir build --output-on-failure --timeout 1200
