#!/usr/bin/env bash
# The naming rules of STYLE.md (.clang-tidy at the repository root) hold in every role's sources:
# clang-tidy checks each translation unit of the build and the headers it includes.
# Usage: clang_tidy.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
if ! command -v run-clang-tidy >/dev/null; then
  echo "clang_tidy.sh: run-clang-tidy not installed (scripts/install-deps.sh installs clang-tidy)" >&2
  exit 1
fi
cd "$src"
out=$(run-clang-tidy -p "$build" -quiet -j "$(nproc)" \
  "$src/(supervisor|launcher|proxy-worker|ipc|platform)/" 2>&1) || status=$?
findings=$(grep -E '(warning|error):' <<<"$out" | sort -u || true)
if [[ -n $findings || ${status:-0} -ne 0 ]]; then
  echo "$findings"
  [[ -n $findings ]] || echo "$out" | tail -20
  exit 1
fi
echo "clang-tidy: naming rules hold"
