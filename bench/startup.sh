#!/usr/bin/env bash
# Startup-latency benchmark: `fence -- true` against /bin/true and against bubblewrap.
#
# Usage: FENCE_BIN_DIR=/path/to/bin bench/startup.sh [runs]
#   FENCE_BIN_DIR  directory holding fence and fence-launcher (default: <repo>/build/bin)
#   runs           hyperfine runs per command (default: 50)
#
# Builds nothing. Uses hyperfine (Debian package `hyperfine`); bwrap is optional. All three
# commands are measured in the same hyperfine run, so the ratios compare like with like.
# Goal (issue 2): fence median <= 2x bwrap median. Variants measured in the same run:
#   fence-m      fence -m -- true           (violation reports installed)
#   fence-audit  fence --audit-log F -- true (violation reports + audit records)
#   fence-bare   fence -s S -- true with {"command": {"useDefaults": false}}: no seccomp
#                listener at all (no exec check, no reports)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
bin_dir="${FENCE_BIN_DIR:-$repo/build/bin}"
runs="${1:-50}"
fence="$bin_dir/fence"

if ! command -v hyperfine >/dev/null 2>&1; then
    echo "startup.sh: hyperfine not installed (apt-get install hyperfine)" >&2
    exit 2
fi
if [[ ! -x "$fence" ]]; then
    echo "startup.sh: $fence not found or not executable (set FENCE_BIN_DIR)" >&2
    exit 2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
json="$work/startup.json"
# fence reads ~/.fence.json when present: measure the embedded default policy instead. The
# sanity checks below run with the same HOME as the measurement, so they test what is timed.
mkdir -p "$work/home"

if ! HOME="$work/home" "$fence" -- true; then
    echo "startup.sh: '$fence -- true' fails; nothing to measure" >&2
    exit 2
fi

# hyperfine -N splits each command into words itself: quote the path so a FENCE_BIN_DIR
# containing spaces or other shell metacharacters stays one word.
printf '%s\n' '{"command": {"useDefaults": false}}' >"$work/bare.json"
qf="$(printf '%q' "$fence")"
cmds=(-n true /bin/true -n fence "$qf -- true"
      -n fence-m "$qf -m -- true"
      -n fence-audit "$qf --audit-log $(printf '%q' "$work/audit.jsonl") -- true"
      -n fence-bare "$qf -s $(printf '%q' "$work/bare.json") -- true")
bwrap_cmd=(bwrap --unshare-all --ro-bind / / --proc /proc --dev /dev true)
if ! command -v bwrap >/dev/null 2>&1; then
    echo "startup.sh: note: bwrap not installed; skipping the bubblewrap baseline" >&2
elif ! HOME="$work/home" "${bwrap_cmd[@]}"; then
    # e.g. unprivileged user namespaces disabled: report fence alone instead of failing.
    echo "startup.sh: note: '${bwrap_cmd[*]}' fails here; skipping the bubblewrap baseline" >&2
else
    cmds+=(-n bwrap "${bwrap_cmd[*]}")
fi

# -N: no intermediate shell, so the shell's own startup is not part of every measurement.
HOME="$work/home" hyperfine -N --warmup 5 --runs "$runs" --export-json "$json" "${cmds[@]}"

python3 - "$json" <<'EOF'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
med = {name: r["median"] for name, r in res.items()}
print()
print("startup medians (one hyperfine run, %d runs each):" % len(res["fence"]["times"]))
for name in ("true", "fence", "fence-m", "fence-audit", "fence-bare", "bwrap"):
    if name in med:
        r = res[name]
        print(f"  {name:<6} median {med[name]*1e3:8.3f} ms   mean {r['mean']*1e3:8.3f} ms"
              f" ± {r['stddev']*1e3:6.3f} ms   min {r['min']*1e3:8.3f} ms")
print(f"  ratio fence/true : {med['fence'] / med['true']:.1f}x")
for name in ("fence-m", "fence-audit", "fence-bare"):
    print(f"  ratio {name}/fence: {med[name] / med['fence']:.2f}x")
if "bwrap" in med:
    ratio = med["fence"] / med["bwrap"]
    verdict = "OK (goal <= 2x)" if ratio <= 2.0 else "ABOVE GOAL (goal <= 2x)"
    print(f"  ratio fence/bwrap: {ratio:.2f}x  {verdict}")
else:
    print("  ratio fence/bwrap: n/a (bwrap not installed or not usable here; see the note above)")
EOF
