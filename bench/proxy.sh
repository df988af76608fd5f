#!/usr/bin/env bash
# Proxy benchmark: bulk throughput through a CONNECT tunnel and through the transparent path,
# new-connection rate and latency on both, DNS answers of the transparent path, and the RSS of
# supervisor + proxy worker, each against a baseline measured in the same run. Loopback only;
# every client operation has a timeout.
#
# Usage: FENCE_BIN_DIR=/path/to/bin bench/proxy.sh [options]
#   --bytes N         bulk transfer size (default 1073741824 = 1 GiB)
#   --bulk-runs N     bulk transfers per side, alternating direct/proxy; medians reported (9;
#                     single transfers vary by up to 2x on a shared 2-CPU machine)
#   --seq N           sequential tunnels (default 2000)
#   --conc N          tunnels in the concurrent test (default 20000)
#   --concurrency N   tunnels in flight at once in the concurrent test (default 64)
#   --hold N          tunnels held open for the memory measurement (default 1000)
#   --audit-runs N    concurrent runs per side, alternating without/with --audit-log, for the
#                     audit log's cost; medians compared (default 3)
#   --dns N           sequential DNS queries (default 5000)
#
# Upstream: bench/upstream.py on the host's 127.0.0.1. Client: bench/proxy_client.py, run
# directly on the host for the baseline and inside `fence -s CFG --` through the sandbox's HTTP
# proxy (127.0.0.1:3128, CONNECT) for the measurement; for the transparent path, inside fence
# with no proxy: it looks up "localhost" by DNS (fence answers with a synthetic address, which
# the policy's allowLocalOutbound allows) and connects to that address, which the sandbox's
# nftables rules redirect to the worker; the supervisor connects to the host's 127.0.0.1. Builds nothing; makes no assertions,
# it only prints whether each goal is met. Run as root or as a user fence works for.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
bin_dir="${FENCE_BIN_DIR:-$repo/build/bin}"
fence="$bin_dir/fence"

bytes=$((1 << 30)); bulk_runs=9; seq_n=2000; conc_n=20000; concurrency=64; hold_n=1000
audit_runs=3; dns_n=5000
while (($#)); do
    case "$1" in
        --bytes) bytes="$2"; shift 2 ;;
        --bulk-runs) bulk_runs="$2"; shift 2 ;;
        --seq) seq_n="$2"; shift 2 ;;
        --conc) conc_n="$2"; shift 2 ;;
        --concurrency) concurrency="$2"; shift 2 ;;
        --hold) hold_n="$2"; shift 2 ;;
        --audit-runs) audit_runs="$2"; shift 2 ;;
        --dns) dns_n="$2"; shift 2 ;;
        -h|--help) sed -n '2,24p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "proxy.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

if [[ ! -x "$fence" ]]; then
    echo "proxy.sh: $fence not found or not executable (set FENCE_BIN_DIR)" >&2
    exit 2
fi
command -v python3 >/dev/null || { echo "proxy.sh: python3 not found" >&2; exit 2; }

work="$(mktemp -d)"
chmod 755 "$work"
up_pid=""
fence_pid=""
cleanup() {
    # Only processes this script started, by pid.
    [[ -n "$fence_pid" ]] && kill "$fence_pid" 2>/dev/null || true
    [[ -n "$up_pid" ]] && kill "$up_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/home"
export HOME="$work/home"   # no ~/.fence.json: only the settings file below applies
cfg="$work/fence.json"
printf '%s\n' '{"network": {"allowedDomains": ["127.0.0.1"], "allowLocalOutbound": true}}' >"$cfg"
client="$here/proxy_client.py"
proxy=127.0.0.1:3128
hz="$(getconf CLK_TCK)"

# --- upstream ----------------------------------------------------------------------------------
mkfifo "$work/up.in"
python3 "$here/upstream.py" --lifetime 1800 <"$work/up.in" >"$work/up.out" 2>"$work/up.err" &
up_pid=$!
exec {up_in}>"$work/up.in"      # upstream exits at end of file, i.e. when this script exits
for _ in $(seq 100); do [[ -s "$work/up.out" ]] && break; sleep 0.05; done
read -r bulk_port rate_port dns_port <"$work/up.out" || { echo "proxy.sh: upstream did not start" >&2; cat "$work/up.err" >&2; exit 2; }

if ! "$fence" -s "$cfg" -- true; then
    echo "proxy.sh: '$fence -s $cfg -- true' fails; nothing to measure" >&2
    exit 2
fi

# --- helpers -------------------------------------------------------------------------------------
cpu_ticks() {   # utime + stime of one process, in clock ticks (0 if gone)
    awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}
rss_kb() {      # VmRSS (or another field) of one process, in kB
    awk -v f="${2:-VmRSS}:" '$1 == f {print $2}' "/proc/$1/status" 2>/dev/null || echo 0
}
worker_of() {   # the fence-proxy-worker child of a fence process
    local pid comm
    for _ in $(seq 100); do
        while read -r pid comm; do
            [[ "$comm" == fence-proxy-wor* ]] && { echo "$pid"; return 0; }
        done < <(ps -o pid=,comm= --ppid "$1" 2>/dev/null)
        sleep 0.05
    done
    echo 0
}
wait_line() {   # wait_line FILE PREFIX [seconds]: wait until FILE has a line starting with PREFIX
    local deadline=$((SECONDS + ${3:-600}))
    while ! grep -q "^$2" "$1" 2>/dev/null; do
        if ((SECONDS > deadline)) || ! kill -0 "$fence_pid" 2>/dev/null; then
            echo "proxy.sh: no '$2' from the client (see below)" >&2
            cat "$1" "$1.err" >&2 2>/dev/null || true
            return 1
        fi
        sleep 0.02
    done
}

# run_client NAME direct|fence CLIENT-ARGS...: runs the client with --control, samples the CPU
# time of fence, the worker and the upstream around the measured part; writes $work/NAME.json.
run_client() {
    local name="$1" how="$2"; shift 2
    local out="$work/$name.out" ctl="$work/$name.ctl" fd wpid=0
    mkfifo "$ctl"
    if [[ "$how" == fence || "$how" == fence-audit ]]; then
        local audit=()
        [[ "$how" == fence-audit ]] && audit=(--audit-log "$work/$name.audit.jsonl")
        "$fence" -s "$cfg" "${audit[@]}" -- python3 "$client" "$@" --proxy "$proxy" --control \
            <"$ctl" >"$out" 2>"$out.err" &
    elif [[ "$how" == transparent ]]; then
        "$fence" -s "$cfg" -- python3 "$client" "$@" --control <"$ctl" >"$out" 2>"$out.err" &
    else
        python3 "$client" "$@" --control <"$ctl" >"$out" 2>"$out.err" &
    fi
    fence_pid=$!
    exec {fd}>"$ctl"
    wait_line "$out" START 60
    [[ "$how" != direct ]] && wpid="$(worker_of "$fence_pid")"
    local f0 w0 u0 f1 w1 u1
    f0=$(cpu_ticks "$fence_pid"); w0=$(cpu_ticks "$wpid"); u0=$(cpu_ticks "$up_pid")
    echo go >&"$fd"
    wait_line "$out" RESULT
    f1=$(cpu_ticks "$fence_pid"); w1=$(cpu_ticks "$wpid"); u1=$(cpu_ticks "$up_pid")
    echo done >&"$fd"
    exec {fd}>&-
    wait "$fence_pid" || true
    fence_pid=""
    local cpu_fence=0 cpu_worker=0
    if [[ "$how" != direct ]]; then
        cpu_fence=$(((f1 - f0))); cpu_worker=$(((w1 - w0)))
    fi
    sed -n 's/^RESULT //p' "$out" | python3 -c '
import json, sys
r = json.load(sys.stdin)
hz = float(sys.argv[1])
r.update(fence_cpu_s=int(sys.argv[2]) / hz, worker_cpu_s=int(sys.argv[3]) / hz,
         upstream_cpu_s=int(sys.argv[4]) / hz)
print(json.dumps(r))' "$hz" "$cpu_fence" "$cpu_worker" "$((u1 - u0))" >"$work/$name.json"
}

echo "proxy.sh: fence $("$fence" --version 2>/dev/null | head -1), $(nproc) CPUs, upstream bulk :$bulk_port rate :$rate_port, host TCP congestion control $(cat /proc/sys/net/ipv4/tcp_congestion_control 2>/dev/null || echo unknown)"

# --- 1. bulk -------------------------------------------------------------------------------------
for i in $(seq "$bulk_runs"); do
    echo "bulk run $i/$bulk_runs: direct, through the proxy, transparent ($bytes bytes each)"
    run_client "bulk-direct-$i" direct bulk --target "127.0.0.1:$bulk_port" --bytes "$bytes"
    run_client "bulk-proxy-$i" fence bulk --target "127.0.0.1:$bulk_port" --bytes "$bytes"
    run_client "bulk-transp-$i" transparent bulk --target "localhost:$bulk_port" --bytes "$bytes" \
        --transparent
done

# --- 2. new connections ----------------------------------------------------------------------
echo "tunnels: $seq_n sequential, $conc_n with $concurrency in flight (direct, then through the proxy)"
run_client rate-seq-direct direct rate --target "127.0.0.1:$rate_port" --count "$seq_n" --concurrency 1
run_client rate-seq-proxy fence rate --target "127.0.0.1:$rate_port" --count "$seq_n" --concurrency 1
run_client rate-conc-direct direct rate --target "127.0.0.1:$rate_port" --count "$conc_n" --concurrency "$concurrency"
run_client rate-conc-proxy fence rate --target "127.0.0.1:$rate_port" --count "$conc_n" --concurrency "$concurrency"
run_client rate-conc-proxyname fence rate --target "localhost:$rate_port" --count "$conc_n" --concurrency "$concurrency"
run_client rate-seq-transp transparent rate --target "localhost:$rate_port" --count "$seq_n" --concurrency 1 --transparent
run_client rate-conc-transp transparent rate --target "localhost:$rate_port" --count "$conc_n" --concurrency "$concurrency" --transparent
echo "DNS: $dns_n sequential A queries, to a loopback responder directly, then to fence inside the sandbox"
run_client dns-direct direct dns --name localhost --count "$dns_n" --dns-server "127.0.0.1:$dns_port"
run_client dns-transp transparent dns --name localhost --count "$dns_n"
# The audit log's cost: one run is within the noise of a shared machine, so several pairs.
for i in $(seq "$audit_runs"); do
    run_client "rate-audit-off-$i" fence rate --target "127.0.0.1:$rate_port" --count "$conc_n" --concurrency "$concurrency"
    run_client "rate-audit-on-$i" fence-audit rate --target "127.0.0.1:$rate_port" --count "$conc_n" --concurrency "$concurrency"
done

# --- 3. memory -----------------------------------------------------------------------------------
echo "memory: RSS of fence + fence-proxy-worker, idle and with $hold_n tunnels open"
out="$work/hold.out"; ctl="$work/hold.ctl"
mkfifo "$ctl"
"$fence" -s "$cfg" -- python3 "$client" hold --target "127.0.0.1:$rate_port" --count "$hold_n" \
    --concurrency 32 --proxy "$proxy" <"$ctl" >"$out" 2>"$out.err" &
fence_pid=$!
exec {hfd}>"$ctl"
wait_line "$out" IDLE 60
wpid="$(worker_of "$fence_pid")"
sleep 1
mem_sample() {  # label: one JSON line
    printf '{"label": "%s", "fence_rss": %s, "worker_rss": %s, "fence_hwm": %s, "worker_hwm": %s, "worker_fds": %s}\n' \
        "$1" "$(rss_kb "$fence_pid")" "$(rss_kb "$wpid")" "$(rss_kb "$fence_pid" VmHWM)" \
        "$(rss_kb "$wpid" VmHWM)" "$(ls "/proc/$wpid/fd" 2>/dev/null | wc -l)"
}
mem_sample idle >"$work/mem.jsonl"
echo open >&"$hfd"
wait_line "$out" READY 120
sleep 0.5
mem_sample open >>"$work/mem.jsonl"
echo close >&"$hfd"
wait_line "$out" CLOSED 60
sleep 1
mem_sample closed >>"$work/mem.jsonl"
worker_nofile="$(awk '/^Max open files/ {print $4}' "/proc/$wpid/limits" 2>/dev/null || echo '?')"
echo exit >&"$hfd"
exec {hfd}>&-
wait "$fence_pid" || true
fence_pid=""
sed -n 's/^READY //p' "$out" >"$work/hold.json"

# --- report --------------------------------------------------------------------------------------
python3 - "$work" "$bulk_runs" "$(nproc)" "$worker_nofile" "$audit_runs" <<'EOF'
import json, statistics, sys
work, runs, ncpu, worker_nofile = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
load = lambda n: json.load(open(f"{work}/{n}.json"))
ok = lambda met: "MET" if met else "NOT MET"

print()
print("== 1. bulk: one CONNECT tunnel vs direct (median of %d transfers each) ==" % runs)
d = [load(f"bulk-direct-{i}") for i in range(1, runs + 1)]
p = [load(f"bulk-proxy-{i}") for i in range(1, runs + 1)]
for name, rs in (("direct", d), ("proxy", p)):
    short = [r for r in rs if r["bytes"] != r["expected"]]
    print(f"  {name:<6} {statistics.median(r['MBps'] for r in rs):8.1f} MB/s   runs: "
          + ", ".join(f"{r['MBps']:.0f}" for r in rs)
          + (f"   INCOMPLETE transfers: {len(short)}" if short else ""))
    cpu = {k: statistics.median(r[k] for r in rs) for k in
           ("client_cpu_s", "upstream_cpu_s", "fence_cpu_s", "worker_cpu_s")}
    secs = statistics.median(r["seconds"] for r in rs)
    print(f"         CPU (s, median) in {secs:.2f} s: client {cpu['client_cpu_s']:.2f}  upstream "
          f"{cpu['upstream_cpu_s']:.2f}  fence {cpu['fence_cpu_s']:.2f}  worker {cpu['worker_cpu_s']:.2f}")
ratio = statistics.median(r["MBps"] for r in p) / statistics.median(r["MBps"] for r in d)
pairs = statistics.median(b["MBps"] / a["MBps"] for a, b in zip(d, p) if a["MBps"] > 0)
print(f"  ratio proxy/direct: {ratio:.2f}x   goal >= 0.8x: {ok(ratio >= 0.8)}"
      f"   (median of the {runs} pairs' own ratios: {pairs:.2f}x)")
t = [load(f"bulk-transp-{i}") for i in range(1, runs + 1)]
short = [r for r in t if r["bytes"] != r["expected"]]
print(f"  transparent {statistics.median(r['MBps'] for r in t):8.1f} MB/s   runs: "
      + ", ".join(f"{r['MBps']:.0f}" for r in t)
      + (f"   INCOMPLETE transfers: {len(short)}" if short else ""))
tr = statistics.median(r["MBps"] for r in t) / statistics.median(r["MBps"] for r in p)
tpairs = statistics.median(b["MBps"] / a["MBps"] for a, b in zip(p, t) if a["MBps"] > 0)
print(f"  ratio transparent/CONNECT: {tr:.2f}x   goal >= 0.9x: {ok(tr >= 0.9)}"
      f"   (median of the {runs} pairs' own ratios: {tpairs:.2f}x;"
      f" transparent/direct {statistics.median(r['MBps'] for r in t) / statistics.median(r['MBps'] for r in d):.2f}x)")

print()
print("== 2. new tunnels: CONNECT + one small request/response each ==")
best = 0.0
for kind in ("seq", "conc"):
    d, p = load(f"rate-{kind}-direct"), load(f"rate-{kind}-proxy")
    print(f"  {'sequential' if kind == 'seq' else 'concurrent'} ({p['count']} tunnels, "
          f"{p['concurrency']} in flight):")
    for name, r in (("direct", d), ("proxy", p)):
        errs = (", errors: " + json.dumps(r["errors"])) if r["errors"] else ""
        print(f"    {name:<6} {r['per_s']:8.0f} /s  ok {r['ok']}/{r['count']}  p50 {r['p50_ms']:.3f} ms"
              f"  p90 {r['p90_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms  max {r['max_ms']:.3f} ms{errs}")
    print(f"    added latency (proxy - direct): p50 {p['p50_ms'] - d['p50_ms']:+.3f} ms, "
          f"p99 {p['p99_ms'] - d['p99_ms']:+.3f} ms")
    print(f"    CPU (s): client {p['client_cpu_s']:.2f}  upstream {p['upstream_cpu_s']:.2f}  "
          f"fence {p['fence_cpu_s']:.2f}  worker {p['worker_cpu_s']:.2f}  in {p['seconds']:.2f} s wall"
          f"   (direct: client {d['client_cpu_s']:.2f}  upstream {d['upstream_cpu_s']:.2f})")
    if p["ok"]:
        per = (p["fence_cpu_s"] + p["worker_cpu_s"]) / p["ok"]
        print(f"    proxy CPU per tunnel (fence + worker): {per * 1e6:.0f} us"
              + (f"  -> at most ~{ncpu / per:.0f} tunnels/s if the proxy had all {ncpu} CPUs" if per else ""))
    best = max(best, p["per_s"])
print(f"  best proxy rate: {best:.0f} tunnels/s on {ncpu} CPUs   goal >= 3000/s: {ok(best >= 3000)}")
for kind in ("seq", "conc"):
    r = load(f"rate-{kind}-transp")
    errs = (", errors: " + json.dumps(r["errors"])) if r["errors"] else ""
    print(f"  transparent {'sequential' if kind == 'seq' else 'concurrent'} ({r['count']}, "
          f"{r['concurrency']} in flight): {r['per_s']:8.0f} /s  ok {r['ok']}/{r['count']}  "
          f"p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms{errs}")
tc = load("rate-conc-transp")
pn = load("rate-conc-proxyname")
print(f"  CONNECT localhost:PORT (a name the supervisor resolves, as the transparent path's synthetic"
      f" address stands for one): {pn['per_s']:.0f} /s  ok {pn['ok']}/{pn['count']}")
print(f"  transparent rate with {tc['concurrency']} in flight: {tc['per_s']:.0f} /s"
      f" (CONNECT 127.0.0.1: {load('rate-conc-proxy')['per_s']:.0f} /s, CONNECT localhost:"
      f" {pn['per_s']:.0f} /s)   goal >= 3000/s: {ok(tc['per_s'] >= 3000)}")
audit_runs = int(sys.argv[5])
on = [load(f"rate-audit-on-{i}")["per_s"] for i in range(1, audit_runs + 1)]
off = [load(f"rate-audit-off-{i}")["per_s"] for i in range(1, audit_runs + 1)]
records = sum(1 for _ in open(f"{work}/rate-audit-on-1.audit.jsonl"))
cost = 1 - statistics.median(on) / statistics.median(off)
print(f"  with --audit-log: {statistics.median(on):.0f} /s vs {statistics.median(off):.0f} /s without"
      f" (medians of {audit_runs} alternating runs: with {', '.join(f'{x:.0f}' for x in on)};"
      f" without {', '.join(f'{x:.0f}' for x in off)}) = {cost * 100:+.1f}% cost"
      f" ({records} records per run)   goal <= 10%: {ok(cost <= 0.10)}")

print()
print("== 2b. DNS answers (transparent path): sequential A queries ==")
for name, label in (("dns-direct", "loopback responder, direct"), ("dns-transp", "fence, in the sandbox")):
    r = load(name)
    errs = (", errors: " + json.dumps(r["errors"])) if r["errors"] else ""
    print(f"  {label:<27} ok {r['ok']}/{r['count']}  p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms"
          f"  max {r['max_ms']:.3f} ms  {r['per_s']:.0f} /s{errs}")
print()
print("== 3. memory: VmRSS of fence (supervisor) + fence-proxy-worker ==")
h = json.load(open(f"{work}/hold.json"))
mem = [json.loads(l) for l in open(f"{work}/mem.jsonl")]
print(f"  tunnels requested {h['requested']}, opened {h['opened']}, still open {h['alive']}"
      + (", refused/failed: " + json.dumps(h["errors"]) if h["errors"] else ""))
print(f"  worker RLIMIT_NOFILE: {worker_nofile}")
for m in mem:
    tot = (m["fence_rss"] + m["worker_rss"]) / 1024
    print(f"  {m['label']:<7} fence {m['fence_rss'] / 1024:6.1f} MiB + worker {m['worker_rss'] / 1024:6.1f} MiB"
          f" = {tot:6.1f} MiB   (VmHWM fence {m['fence_hwm'] / 1024:.1f}, worker {m['worker_hwm'] / 1024:.1f};"
          f" worker fds {m['worker_fds']})")
openm = next(m for m in mem if m["label"] == "open")
tot = (openm["fence_rss"] + openm["worker_rss"]) / 1024
note = "" if h["alive"] >= h["requested"] else f" (only {h['alive']} of {h['requested']} tunnels were open)"
print(f"  with tunnels open: {tot:.1f} MiB   goal <= 32 MiB: {ok(tot <= 32)}{note}")
EOF
