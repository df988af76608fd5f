#!/usr/bin/env bash
# Cost of the connect mediation (allowUnixSockets): connect()s per second inside the sandbox,
# to a unix socket and to a TCP port served inside the same sandbox, with
#   all     {"allowAllUnixSockets": true}               connect unmediated (baseline)
#   listed  {"allowUnixSockets": ["<a host socket>"]}    every connect performed by init
# Both with allowLocalBinding (the TCP server binds a port). Runs alternate, medians compared.
#
# Usage: FENCE_BIN_DIR=/path/to/bin bench/connect.sh [connects-per-run] [runs]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
bin_dir="${FENCE_BIN_DIR:-$repo/build/bin}"
n="${1:-5000}"
runs="${2:-5}"
fence="$bin_dir/fence"
[[ -x $fence ]] || { echo "connect.sh: $fence not found (set FENCE_BIN_DIR)" >&2; exit 2; }

work="$(mktemp -d)"
server_pid=
cleanup() { [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/home"
# The default policy reads the working directory, not necessarily this checkout.
cp "$here/connect_client.py" "$work/"
# The listed host socket: only needs to exist.
python3 -c 'import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1); time.sleep(3600)' \
    "$work/host.sock" &
server_pid=$!
for _ in $(seq 50); do [[ -S $work/host.sock ]] && break; sleep 0.1; done
printf '{"network": {"allowLocalBinding": true, "allowAllUnixSockets": true}}\n' >"$work/all.json"
printf '{"network": {"allowLocalBinding": true, "allowUnixSockets": ["%s"]}}\n' \
    "$work/host.sock" >"$work/listed.json"

declare -A results
for _ in $(seq "$runs"); do
    for mode in all listed; do
        out=$(cd "$work" && HOME="$work/home" "$fence" -s "$work/$mode.json" -- \
            python3 connect_client.py "$n")
        results[$mode-unix]+="$(awk '$1=="unix"{print $2}' <<<"$out") "
        results[$mode-tcp]+="$(awk '$1=="tcp"{print $2}' <<<"$out") "
    done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for kind in unix tcp; do
    all=$(median <<<"${results[all-$kind]}")
    listed=$(median <<<"${results[listed-$kind]}")
    awk -v k="$kind" -v a="$all" -v l="$listed" 'BEGIN {
        printf "%-4s connects/s  all (unmediated) %7d   listed (mediated) %7d   ratio %.2fx   +%.1f us per connect\n",
            k, a, l, l / a, (1e6 / l) - (1e6 / a) }'
done
