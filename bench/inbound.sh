#!/usr/bin/env bash
# Inbound benchmark (-p): bulk throughput from a server inside the sandbox to a client on the
# host through `fence -p PORT`, against the same server and client directly on the host's
# loopback, measured in the same run (alternating, medians). Loopback only.
#
# Usage: FENCE_BIN_DIR=/path/to/bin bench/inbound.sh [--bytes N] [--runs N]
#   --bytes N   bytes per transfer (default 1073741824 = 1 GiB)
#   --runs N    transfers per side (default 9; single transfers vary by up to 2x)
#
# Server: bench/upstream.py (its bulk port sends N bytes on "BULK N"). Client:
# bench/proxy_client.py bulk. Makes no assertions; prints the ratio and whether the goal
# (>= 0.8x direct) is met.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
bin_dir="${FENCE_BIN_DIR:-$repo/build/bin}"
fence="$bin_dir/fence"
bytes=$((1 << 30)); runs=9
while (($#)); do
    case "$1" in
        --bytes) bytes="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "inbound.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[[ -x "$fence" ]] || { echo "inbound.sh: $fence not found (set FENCE_BIN_DIR)" >&2; exit 2; }

work="$(mktemp -d)"
chmod 755 "$work"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/home"
export HOME="$work/home"
cfg="$work/fence.json"
printf '%s\n' '{"network": {"allowLocalBinding": true}}' >"$cfg"
client="$here/proxy_client.py"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server NAME direct|fence PORT: upstream.py with its bulk port on PORT, until this
# script ends (its stdin is a fifo this script holds open).
start_server() {
    local name="$1" how="$2" port="$3" fd
    mkfifo "$work/$name.in"
    if [[ "$how" == fence ]]; then
        "$fence" -s "$cfg" -p "$port" -- python3 "$here/upstream.py" --bulk-port "$port" \
            --lifetime 1800 <"$work/$name.in" >"$work/$name.out" 2>"$work/$name.err" &
    else
        python3 "$here/upstream.py" --bulk-port "$port" --lifetime 1800 \
            <"$work/$name.in" >"$work/$name.out" 2>"$work/$name.err" &
    fi
    pids+=($!)
    exec {fd}>"$work/$name.in"
    for _ in $(seq 200); do [[ -s "$work/$name.out" ]] && return 0; sleep 0.05; done
    echo "inbound.sh: $name server did not start" >&2
    cat "$work/$name.err" >&2
    exit 2
}

direct_port="$(free_port)"
start_server direct direct "$direct_port"
inbound_port="$(free_port)"
start_server inbound fence "$inbound_port"
echo "inbound.sh: fence $("$fence" --version | head -1), $(nproc) CPUs, $bytes bytes x $runs per side, host TCP congestion control $(cat /proc/sys/net/ipv4/tcp_congestion_control 2>/dev/null || echo unknown)"

for i in $(seq "$runs"); do
    for side in direct inbound; do
        port=$direct_port
        [[ $side == inbound ]] && port=$inbound_port
        python3 "$client" bulk --target "127.0.0.1:$port" --bytes "$bytes" \
            | sed -n 's/^RESULT //p' >"$work/$side-$i.json"
    done
done

python3 - "$work" "$runs" <<'EOF'
import json, statistics, sys
work, runs = sys.argv[1], int(sys.argv[2])
res = {side: [json.load(open(f"{work}/{side}-{i}.json")) for i in range(1, runs + 1)]
       for side in ("direct", "inbound")}
med = {}
for side, rs in res.items():
    bad = [r for r in rs if r["bytes"] != r["expected"]]
    med[side] = statistics.median(r["MBps"] for r in rs)
    print(f"  {side:<8} {med[side]:8.1f} MB/s   runs: " + ", ".join(f"{r['MBps']:.0f}" for r in rs)
          + (f"   INCOMPLETE: {len(bad)}" if bad else ""))
ratio = med["inbound"] / med["direct"]
pairs = statistics.median(b["MBps"] / a["MBps"] for a, b in zip(res["direct"], res["inbound"])
                          if a["MBps"] > 0)
print(f"  ratio inbound/direct: {ratio:.2f}x   goal >= 0.8x: {'MET' if ratio >= 0.8 else 'NOT MET'}"
      f"   (median of the {runs} pairs' own ratios: {pairs:.2f}x)")
EOF
