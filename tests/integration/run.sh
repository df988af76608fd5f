#!/usr/bin/env bash
# Runs the integration suite. MODE "current": as the invoking user. MODE "unprivileged": as the
# unprivileged user fence-test (created if needed; requires root) with the binaries and tests
# copied to a world-readable temporary directory, so nothing depends on the checkout's
# permissions. Usage: run.sh MODE BIN_DIR
#
# As root, both modes first bring up the network fixture (net_fixture.sh: two network
# namespaces, upstream servers, a hosts file) and run pytest inside its "host" namespace with
# FENCE_NET_STATE pointing at the fixture's state file; it is torn down on exit. Without root
# there is no fixture and the network tests skip.
set -euo pipefail
mode=$1
bin_dir=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)

net_state=
cleanup() {
  if [[ -n $net_state ]]; then
    FENCE_NET_STATE=$net_state bash "$here/net_fixture.sh" down || true
    rmdir "$(dirname "$net_state")" 2>/dev/null || true
  fi
  if [[ -n ${work:-} ]]; then rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Prefix for running pytest: inside the fixture's host namespace when there is one.
netns_exec=()
net_env=()
if [[ $(id -u) -eq 0 && ${FENCE_NET_FIXTURE:-1} != 0 ]]; then
  net_state=$(mktemp -d /tmp/fence-net-state.XXXXXX)/state
  chmod 755 "$(dirname "$net_state")"
  FENCE_NET_STATE=$net_state bash "$here/net_fixture.sh" up >/dev/null
  host_ns=$(sed -n 's/^HOST_NS=//p' "$net_state")
  netns_exec=(ip netns exec "$host_ns")
  net_env=(FENCE_NET_STATE="$net_state")
fi

if [[ $mode == current ]]; then
  # Not exec: the trap has to tear the fixture down afterwards.
  "${netns_exec[@]}" env FENCE_BIN_DIR="$bin_dir" "${net_env[@]}" \
    /usr/bin/python3 -m pytest -q -p no:cacheprovider "$here"
  exit
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "already unprivileged (uid $(id -u)): the 'current' run covers this mode"
  exit 0
fi
user=fence-test
id -u "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/sh "$user"
work=$(mktemp -d /tmp/fence-test.XXXXXX)
mkdir -p "$work/bin" "$work/tests"
cp "$bin_dir"/fence "$bin_dir"/fence-launcher "$work/bin/"
[[ -x $bin_dir/fence-proxy-worker ]] && cp "$bin_dir"/fence-proxy-worker "$work/bin/"
cp -r "$here"/. "$work/tests/"
rm -rf "$work/tests/__pycache__"
chmod -R a+rX "$work"
chmod 755 "$work"
cd "$work"
"${netns_exec[@]}" runuser -u "$user" -- env HOME="$(getent passwd "$user" | cut -d: -f6)" \
  FENCE_BIN_DIR="$work/bin" "${net_env[@]}" \
  /usr/bin/python3 -B -m pytest -q -p no:cacheprovider "$work/tests"
