#!/usr/bin/env bash
# Runs the integration suite. MODE "current": as the invoking user. MODE "unprivileged": as the
# unprivileged user fence-test (created if needed; requires root) with the binaries and tests
# copied to a world-readable temporary directory, so nothing depends on the checkout's
# permissions. Usage: run.sh MODE BIN_DIR
set -euo pipefail
mode=$1
bin_dir=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
if [[ $mode == current ]]; then
  exec env FENCE_BIN_DIR="$bin_dir" /usr/bin/python3 -m pytest -q -p no:cacheprovider "$here"
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "already unprivileged (uid $(id -u)): the 'current' run covers this mode"
  exit 0
fi
user=fence-test
id -u "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/sh "$user"
work=$(mktemp -d /tmp/fence-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/tests"
cp "$bin_dir"/fence "$bin_dir"/fence-launcher "$work/bin/"
[[ -x $bin_dir/fence-proxy-worker ]] && cp "$bin_dir"/fence-proxy-worker "$work/bin/"
cp -r "$here"/. "$work/tests/"
rm -rf "$work/tests/__pycache__"
chmod -R a+rX "$work"
chmod 755 "$work"
cd "$work"
exec runuser -u "$user" -- env HOME="$(getent passwd "$user" | cut -d: -f6)" \
  FENCE_BIN_DIR="$work/bin" /usr/bin/python3 -B -m pytest -q -p no:cacheprovider "$work/tests"
