"""Generates a large repository-like tree for the startup benchmarks: FILES files (default
100,000) in deep directories, with nested git repositories (hooks, config), editor and agent
directories and `.env` files scattered through it.

Usage: python3 bench/make_tree.py DIR [FILES]
Idempotent: a DIR that already holds a tree of that size is left as it is."""
import os
import sys


def main() -> int:
    root = sys.argv[1]
    files = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    marker = os.path.join(root, ".fence-bench-tree")
    if os.path.exists(marker) and open(marker).read().strip() == str(files):
        return 0
    os.makedirs(root, exist_ok=True)
    made = 0
    top = 0
    while made < files:
        for sub in range(10):
            d = os.path.join(root, f"pkg{top:04d}", "src", f"mod{sub}", "deep", "er")
            os.makedirs(d, exist_ok=True)
            for k in range(50):
                with open(os.path.join(d, f"file{k:03d}.c"), "w") as f:
                    f.write("int x;\n")
            made += 50
        p = os.path.join(root, f"pkg{top:04d}")
        if top % 5 == 0:  # a nested repository (a vendored dependency, a submodule)
            os.makedirs(os.path.join(p, ".git", "hooks"), exist_ok=True)
            with open(os.path.join(p, ".git", "config"), "w") as f:
                f.write("[core]\n\trepositoryformatversion = 0\n")
            with open(os.path.join(p, ".git", "hooks", "pre-commit.sample"), "w") as f:
                f.write("#!/bin/sh\n")
        if top % 7 == 0:
            os.makedirs(os.path.join(p, ".vscode"), exist_ok=True)
            with open(os.path.join(p, ".vscode", "settings.json"), "w") as f:
                f.write("{}\n")
        if top % 3 == 0:
            with open(os.path.join(p, "src", ".env"), "w") as f:
                f.write("TOKEN=x\n")
        top += 1
    with open(marker, "w") as f:
        f.write(f"{files}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
