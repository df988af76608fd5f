"""Runs several commands alternately and prints the median wall time of each.

Alternating (A, B, C, A, B, C, ...) instead of one command after the other keeps a slow
phase of a shared machine from landing on one side only. Used to compare two builds of fence
and bubblewrap in one run (docs/benchmarks.md).

Usage: python3 bench/compare.py [-n RUNS] [--cwd DIR] "CMD 1" "CMD 2" ...
Each command is split on whitespace (no shell) and runs in DIR (default: the current
directory). HOME is set to an empty temporary directory, so no ~/.fence.json applies.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("-n", "--runs", type=int, default=200)
    p.add_argument("--cwd", default=None)
    p.add_argument("commands", nargs="+")
    args = p.parse_args()
    commands = [c.split() for c in args.commands]
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, HOME=home)
        for c in commands:  # warm-up, and a failing command stops the comparison
            subprocess.run(c, env=env, check=True, stdout=subprocess.DEVNULL, cwd=args.cwd)
        times = [[] for _ in commands]
        for _ in range(args.runs):
            for k, c in enumerate(commands):
                start = time.perf_counter()
                subprocess.run(c, env=env, check=True, stdout=subprocess.DEVNULL, cwd=args.cwd)
                times[k].append(time.perf_counter() - start)
    base = statistics.median(times[0])
    for c, t in zip(args.commands, times):
        q = statistics.quantiles(t, n=4)
        med = statistics.median(t)
        print(f"{c[:60]:60}  median {med * 1e3:6.2f} ms  p25 {q[0] * 1e3:6.2f}  "
              f"p75 {q[2] * 1e3:6.2f}  vs first {med / base:4.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
