#!/usr/bin/env bash
# Startup and file-churn cost in a large repository-like tree (100,000 files, nested git
# repositories, .vscode and .env files: bench/make_tree.py), with the default policy and with
# `allowWrite: ["."]` (protected names guarded at any depth), and with the `code` template
# (`-t code`: its denyWrite "**/.env" and friends are names checked at write time, not a walk of
# the tree at start-up).
#
# Usage: FENCE_BIN_DIR=DIR [BASELINE_BIN_DIR=DIR] bench/tree.sh [runs] [files]
#   FENCE_BIN_DIR      the fence to measure (default: <repo>/build/bin)
#   BASELINE_BIN_DIR   another build of fence, measured alternately with it (e.g. the previous
#                      commit's), so both sides see the same machine
#   runs               alternating runs per command (default: 100; the churn runs 1/10 of it)
#   files              size of the generated tree (default: 100000), kept in
#                      ${FENCE_TREE_DIR:-/var/tmp/fence-bench-tree} between runs
# Prints medians and ratios (bench/compare.py). Nothing is asserted: docs/benchmarks.md
# records the figures with this command.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
bin="${FENCE_BIN_DIR:-$repo/build/bin}"
runs="${1:-100}"
files="${2:-100000}"
tree="${FENCE_TREE_DIR:-/var/tmp/fence-bench-tree}"
py=/usr/bin/python3

"$py" "$here/make_tree.py" "$tree" "$files"
work="$(mktemp -d "$tree/.bench-XXXXXX")"
trap 'rm -rf "$work"' EXIT
printf '%s\n' '{"filesystem": {"allowWrite": ["."]}}' >"$work/writable.json"
cat >"$work/churn.py" <<'PY'
import os, shutil
d = "churn"
shutil.rmtree(d, ignore_errors=True)
os.mkdir(d)
for i in range(2000):  # create, append, chmod, rename, unlink: 5 writes per file
    p = f"{d}/f{i}"
    with open(p, "w") as f: f.write("x")
    with open(p, "a") as f: f.write("y")
    os.chmod(p, 0o600)
    os.rename(p, p + ".o")
    os.unlink(p + ".o")
os.rmdir(d)
PY

builds=("$bin")
[[ -n ${BASELINE_BIN_DIR:-} ]] && builds=("$BASELINE_BIN_DIR" "$bin")
startup=()
churn=("$py $work/churn.py")
for b in "${builds[@]}"; do
  startup+=("$b/fence -- true" "$b/fence -s $work/writable.json -- true")
  churn+=("$b/fence -s $work/writable.json -- $py $work/churn.py")
done
# Templates are newer than some baselines: measured with the build under test only.
startup+=("$bin/fence -t code -- true")
echo "== startup in a tree of $files files ($tree)"
"$py" "$here/compare.py" -n "$runs" --cwd "$tree" "${startup[@]}"
echo "== 2,000 files created, appended to, chmod-ed, renamed and removed (allowWrite: [\".\"])"
"$py" "$here/compare.py" -n "$(( runs / 10 > 3 ? runs / 10 : 3 ))" --cwd "$work" "${churn[@]}"
