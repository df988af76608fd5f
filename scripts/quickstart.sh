#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a sandboxed run: installs what is missing,
# builds, and runs a command under fence's embedded default policy (no network, no writes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
echo
echo "\$ build/bin/fence -- sh -c '...'   # embedded default policy: no network, no writes"
# An empty HOME makes sure ~/.fence.json does not replace the embedded default policy.
HOME="$(mktemp -d)" build/bin/fence -- sh -c '
  echo "hello from inside fence (uid $(id -u), pid $$)"
  touch /etc/fence-was-here 2>/dev/null && echo "write to /etc: allowed?!" || echo "write to /etc: blocked"
  cat /proc/self/status | grep -E "^(CapEff|NoNewPrivs|Seccomp):"
  ls /sys/class/net'
