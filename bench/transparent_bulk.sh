#!/usr/bin/env bash
# Bulk transfers through the transparent path against CONNECT tunnels, alternating in one run so
# that the machine's drift hits every side alike: CONNECT with the transparent path on (the
# default: connection tracking is on in the sandbox's namespace), CONNECT with it off, and the
# transparent path itself. Prints each side's transfers and medians, and the ratios.
#
# Usage: FENCE_BIN_DIR=/path/to/bin bench/transparent_bulk.sh [ROUNDS] [BYTES]
#   ROUNDS  rounds of three transfers (default 12); BYTES per transfer (default 1 GiB)
# Loopback only (bench/upstream.py on the host's 127.0.0.1); run from anywhere, as root or as a
# user fence works for. Makes no assertions.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
fence="${FENCE_BIN_DIR:-$repo/build/bin}/fence"
rounds="${1:-12}"; bytes="${2:-1073741824}"
work="$(mktemp -d)"; chmod 755 "$work"
up_pid=""
trap '[[ -n "$up_pid" ]] && kill "$up_pid" 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/home"; export HOME="$work/home"
cp "$here/proxy_client.py" "$work/"; chmod 644 "$work/proxy_client.py"
mkfifo "$work/up.in"
python3 "$here/upstream.py" --lifetime 1800 <"$work/up.in" >"$work/up.out" 2>/dev/null &
up_pid=$!
exec {up_in}>"$work/up.in"
for _ in $(seq 100); do [[ -s "$work/up.out" ]] && break; sleep 0.05; done
read -r bulk_port _ _ <"$work/up.out"
on="$work/on.json"; off="$work/off.json"
printf '%s\n' '{"network": {"allowedDomains": ["127.0.0.1"], "allowLocalOutbound": true}}' >"$on"
printf '%s\n' '{"network": {"allowedDomains": ["127.0.0.1"], "allowLocalOutbound": true, "transparent": false}}' >"$off"
mbps() { sed -n 's/^RESULT .*"MBps": \([0-9.]*\).*/\1/p'; }
cd "$work"
for i in $(seq "$rounds"); do
    a=$("$fence" -s "$on" -- python3 proxy_client.py bulk --target "127.0.0.1:$bulk_port" --bytes "$bytes" --proxy 127.0.0.1:3128 | mbps)
    b=$("$fence" -s "$off" -- python3 proxy_client.py bulk --target "127.0.0.1:$bulk_port" --bytes "$bytes" --proxy 127.0.0.1:3128 | mbps)
    c=$("$fence" -s "$on" -- python3 proxy_client.py bulk --target "localhost:$bulk_port" --bytes "$bytes" --transparent | mbps)
    echo "round $i/$rounds: CONNECT $a MB/s, CONNECT (transparent off) $b MB/s, transparent $c MB/s"
    echo "$a $b $c" >>"$work/rows"
done
python3 - "$work/rows" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if len(l.split()) == 3]
names = ("CONNECT", "CONNECT, transparent off", "transparent")
med = [statistics.median(r[i] for r in rows) for i in range(3)]
for name, m, i in zip(names, med, range(3)):
    print(f"{name:<26} median {m:7.0f} MB/s   " + ", ".join(f"{r[i]:.0f}" for r in rows))
print(f"transparent / CONNECT: {med[2] / med[0]:.2f}x   (goal >= 0.9x: {'MET' if med[2] >= 0.9 * med[0] else 'NOT MET'});"
      f" transparent / CONNECT with the path off: {med[2] / med[1]:.2f}x;"
      f" CONNECT on / off: {med[0] / med[1]:.2f}x")
PY
