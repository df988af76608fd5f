#!/usr/bin/env bash
# Runs every test: unit tests, and the integration suite against the real binaries as the
# current user and (when run as root) again as an unprivileged user. Installs what is missing
# and builds first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
ctest --test-dir build --output-on-failure --timeout 1200
