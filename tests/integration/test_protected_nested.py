"""Protected names at any depth of a writable tree (SECURITY-RULES 7): a repository with
submodules, nested projects, vendored checkouts. `sub/.bashrc`, `a/b/.zshrc`,
`a/.git/hooks/pre-commit`, `sub/.git/config`, nested `.vscode`/`.idea` and `.claude/commands`
can be neither written nor created, whether they exist or not, and renaming a parent does not
get around it. Ordinary work in those trees (git included) goes on.

Every test here fails without name protection: these paths are below the working directory,
where no mount covers them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import assert_started, err, fmt, ok, snapshot

CWD_WRITABLE = {"filesystem": {"allowWrite": ["."]}}
GIT_CONFIG_WRITABLE = {"filesystem": {"allowWrite": ["."], "allowGitConfig": True}}

DEEP = "/".join(f"d{i}" for i in range(12))

EXISTING = ["sub/.bashrc", "a/b/.zshrc", "a/.git/hooks/pre-commit", "sub/.git/config",
            "x/.vscode/settings.json", "x/y/.idea/workspace.xml", "p/.claude/commands/deploy.md",
            f"{DEEP}/.profile", "m/.git/modules/lib/hooks/post-checkout",
            "m/.git/modules/lib/config", "w/.gitmodules", "v/.mcp.json", "g/.git/commondir"]


@pytest.fixture
def tree(work: Path) -> Path:
    for rel in EXISTING:
        p = work / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"original {rel}\n")
    (work / "a/.git/hooks/pre-commit").chmod(0o644)  # a dormant hook: not executable
    (work / "sub/.git/HEAD").write_text("ref: refs/heads/main\n")
    (work / "wt").mkdir()
    (work / "wt/.git").write_text("gitdir: ../a/.git\n")  # a worktree's .git file
    (work / "stage/hooks").mkdir(parents=True)
    (work / "stage/hooks/pre-commit").write_text("#!/bin/sh\necho evil\n")
    (work / "stage/commands").mkdir()
    (work / "stage/commands/evil.md").write_text("evil\n")
    (work / "stage/config").write_text("[core]\n\tfsmonitor = evil\n")
    (work / "plain.txt").write_text("plain\n")
    return work


ATTACKS = r'''
import glob
def trunc(p):
    os.close(os.open(p, os.O_WRONLY | os.O_TRUNC))
def rdwr(p):
    fd = os.open(p, os.O_RDWR); os.write(fd, b"evil"); os.close(fd)
def replace_with(p):
    write("plain.tmp", "evil\n"); os.replace("plain.tmp", p)
for p in EXISTING + ["wt/.git"]:
    attempt("append " + p, write, p, "evil\n", "a")
    attempt("trunc " + p, trunc, p)
    attempt("rdwr " + p, rdwr, p)
    attempt("unlink " + p, os.unlink, p)
    attempt("rename-away " + p, os.rename, p, "stolen")
    attempt("replace " + p, replace_with, p)
    attempt("link-out " + p, os.link, p, "second-name")
    attempt("chmod " + p, os.chmod, p, 0o777)
    attempt("fchmod " + p, lambda: os.fchmod(os.open(p, os.O_RDONLY), 0o777))
    attempt("truncate " + p, os.truncate, p, 0)
attempt("control-write", write, "plain.txt", "more\n", "a")
'''


def test_existing_nested_protected_files_cannot_be_changed(fence, tree):
    before = snapshot(tree)
    cp = fence.py(f"EXISTING = {EXISTING!r}\n" + ATTACKS, config=CWD_WRITABLE)
    assert_started(cp)
    assert ok(cp, "control-write"), fmt(cp)
    for rel in EXISTING + ["wt/.git"]:
        for op in ("append", "trunc", "rdwr", "unlink", "rename-away", "replace", "link-out",
                   "chmod", "fchmod", "truncate"):
            assert err(cp, f"{op} {rel}"), f"{op} {rel} should have failed" + fmt(cp)
    after = snapshot(tree)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert changed == {"plain.txt", "plain.tmp"}, changed  # plain.tmp: replace_with's own
    assert not (tree / "a/.git/hooks/pre-commit").stat().st_mode & 0o111


def test_missing_nested_protected_names_cannot_be_created(fence, tree):
    before = snapshot(tree)
    cp = fence.py(r'''
os.makedirs("n/deep/er", exist_ok=True)
os.makedirs("n/.git", exist_ok=True)        # a directory named .git is fine
os.makedirs("n/.claude", exist_ok=True)     # so is .claude itself
for p in ["n/.bashrc", "n/deep/er/.zshrc", "n/.git/config", "n/.git/hooks/pre-commit",
          "n/.claude/commands", "n/.vscode", "n/deep/.idea", "n/.git/modules/x/hooks",
          "n/.git/modules/x/config", "n/.gitmodules"]:
    attempt("create " + p, write, p, "evil\n")
    attempt("mkdir " + p, os.mkdir, p)
    attempt("symlink " + p, os.symlink, "../stage", p)
    attempt("link " + p, os.link, "plain.txt", p)
    attempt("mkfifo " + p, os.mkfifo, p)
    attempt("rename-onto " + p, os.rename, "plain.txt", p)
# A .git FILE (or symlink) would point git at a git directory chosen by the command.
attempt("gitfile", write, "n/deep/.git", "gitdir: ../../stage\n")
attempt("gitlink", os.symlink, "../../stage", "n/deep/.git")
# A directory or symlink moved or linked where a protected name could lie beneath.
attempt("mv-dir-to-git", os.rename, "stage", "n/deep/.git")
attempt("mv-dir-to-claude", os.rename, "stage", "n/deep/.claude")
attempt("mv-dir-to-modules", os.rename, "stage", "n/.git/modules/y")
attempt("symlink-claude", os.symlink, "../../stage", "n/deep/.claude")
attempt("symlink-modules", os.symlink, "../../stage", "n/.git/modules")
attempt("control-mkdir", os.mkdir, "n/deep/er/fine")
attempt("control-create", write, "n/deep/er/fine/file.txt")
attempt("control-gitdir-file", write, "n/.git/HEAD", "ref: refs/heads/main\n")
''', config=CWD_WRITABLE)
    assert_started(cp)
    for name in ("control-mkdir", "control-create", "control-gitdir-file"):
        assert ok(cp, name), fmt(cp)
    for p in ["n/.bashrc", "n/deep/er/.zshrc", "n/.git/config", "n/.git/hooks/pre-commit",
              "n/.claude/commands", "n/.vscode", "n/deep/.idea", "n/.git/modules/x/hooks",
              "n/.git/modules/x/config", "n/.gitmodules"]:
        for op in ("create", "mkdir", "symlink", "link", "mkfifo", "rename-onto"):
            assert err(cp, f"{op} {p}"), f"{op} {p} should have failed" + fmt(cp)
        assert not os.path.lexists(tree / p), p
    for name in ("gitfile", "gitlink", "mv-dir-to-git", "mv-dir-to-claude", "mv-dir-to-modules",
                 "symlink-claude", "symlink-modules"):
        assert err(cp, name), f"{name} should have failed" + fmt(cp)
    assert not os.path.lexists(tree / "n/deep/.git") and not os.path.lexists(tree / "n/deep/.claude")
    assert (tree / "stage/hooks/pre-commit").exists()
    assert snapshot(tree / "a") == {k[2:]: v for k, v in before.items() if k.startswith("a/")}


def test_renaming_a_parent_does_not_unprotect(fence, tree):
    cp = fence.py(r'''
attempt("mv-parent", os.rename, "a", "a2")
attempt("write-after", write, "a2/.git/hooks/pre-commit", "evil\n", "a")
attempt("mv-sub", os.rename, "sub", "elsewhere")
attempt("bashrc-after", write, "elsewhere/.bashrc", "evil\n", "a")
attempt("mv-git-dir-away", os.rename, "a2/.git", "a2/notgit")
attempt("mv-hooks-dir", os.rename, "a2/.git/hooks", "a2/hooks")
attempt("mv-dir-into-git", os.rename, "stage/hooks", "a2/.git/hooks")
attempt("mv-config-into-git", os.rename, "stage/config", "sub/.git/config")
''', config=CWD_WRITABLE)
    assert ok(cp, "mv-parent") and ok(cp, "mv-sub"), fmt(cp)
    for name in ("write-after", "bashrc-after", "mv-git-dir-away", "mv-hooks-dir",
                 "mv-dir-into-git", "mv-config-into-git"):
        assert err(cp, name), f"{name} should have failed" + fmt(cp)
    assert (tree / "a2/.git/hooks/pre-commit").read_text() == "original a/.git/hooks/pre-commit\n"
    assert (tree / "elsewhere/.bashrc").read_text() == "original sub/.bashrc\n"


def test_refusals_are_reported(fence, tree):
    cp = fence.py("attempt('w', write, 'a/.git/hooks/pre-commit', 'x', 'a')\n"
                  "attempt('c', write, 'n2/.bashrc') if os.makedirs('n2') is None else None\n",
                  config=CWD_WRITABLE, flags=["-m"])
    assert err(cp, "w") and err(cp, "c"), fmt(cp)
    assert f"[fence:fs] ✗ write {tree}/a/.git/hooks/pre-commit" in cp.stderr, fmt(cp)
    assert f"[fence:fs] ✗ create {tree}/n2/.bashrc" in cp.stderr, fmt(cp)


def git(*args, cwd):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=30)


@pytest.fixture
def nested_repo(tree: Path) -> Path:
    repo = tree / "vendor/lib"
    repo.mkdir(parents=True)
    assert git("init", "-q", "-b", "main", cwd=repo).returncode == 0
    (repo / "a.txt").write_text("a\n")
    assert git("add", "a.txt", cwd=repo).returncode == 0
    assert git("commit", "-q", "-m", "one", cwd=repo).returncode == 0
    return repo


def test_git_keeps_working_in_a_nested_repository(fence, nested_repo):
    hooks = snapshot(nested_repo / ".git/hooks")
    config = (nested_repo / ".git/config").read_text()
    cp = fence.sh("cd vendor/lib && echo b > b.txt && git add b.txt && "
                  "git -c user.name=t -c user.email=t@t commit -q -m two && "
                  "git branch feature && git tag v1 && git log --oneline | wc -l && "
                  "git gc -q && git status --short | wc -l; "
                  "git config core.fsmonitor evil; echo config=$?", config=CWD_WRITABLE)
    assert cp.stdout.splitlines()[:2] == ["2", "0"], fmt(cp)
    assert "config=255" in cp.stdout or "config=4" in cp.stdout, fmt(cp)  # refused by git
    assert snapshot(nested_repo / ".git/hooks") == hooks
    assert (nested_repo / ".git/config").read_text() == config


def test_git_init_and_clone_inside_need_allow_git_config(fence, tree, nested_repo):
    # Without allowGitConfig a new repository's config cannot be written: refused, not half made.
    cp = fence.sh("git init -q fresh; echo init=$?", config=CWD_WRITABLE)
    assert "init=0" not in cp.stdout, fmt(cp)
    assert not (tree / "fresh/.git/config").exists()
    # With it, git init and git clone work; the new hooks directory holds only git's samples.
    cp = fence.sh("git init -q fresh2 && git clone -q vendor/lib cloned && "
                  "cd cloned && git log --oneline | wc -l", config=GIT_CONFIG_WRITABLE)
    assert cp.returncode == 0 and cp.stdout.strip() == "1", fmt(cp)
    for repo in ("fresh2", "cloned"):
        hooks = [p.name for p in (tree / repo / ".git/hooks").iterdir()]
        assert all(h.endswith(".sample") for h in hooks), hooks
    # ...and a sample cannot be turned into a hook.
    cp = fence.py("attempt('activate', os.rename, 'cloned/.git/hooks/pre-commit.sample', "
                  "'cloned/.git/hooks/pre-commit')\n"
                  "attempt('edit-sample', write, 'cloned/.git/hooks/pre-commit.sample', 'x', 'a')\n"
                  "attempt('new-hook', write, 'cloned/.git/hooks/post-merge')\n",
                  config=GIT_CONFIG_WRITABLE)
    for name in ("activate", "edit-sample", "new-hook"):
        assert err(cp, name), fmt(cp)


def test_ordinary_work_in_a_deep_tree_is_unaffected(fence, tree):
    cp = fence.sh(f"mkdir -p {DEEP}/new/in && cd {DEEP}/new && echo x > f && mv f g && "
                  "ln g h && ln -s g s && chmod 600 g && : > g && rm h s && cd .. && "
                  "tar -cf /tmp/t.tar new && mv new old && rm -r old && "
                  "mkdir -p ex && tar -C ex -xf /tmp/t.tar && ls ex/new && echo done",
                  config=CWD_WRITABLE)
    assert cp.returncode == 0 and cp.stdout.split() == ["g", "in", "done"], fmt(cp)
    # An archive that carries a protected name: that one file is refused, the rest extracted.
    cp = fence.sh(f"cd {DEEP}/.. && tar -cf /tmp/t.tar d11 && mkdir -p ex && "
                  "tar -C ex -xf /tmp/t.tar; echo tar=$?; ls -A ex/d11", config=CWD_WRITABLE)
    assert "tar=2" in cp.stdout and ".profile" not in cp.stdout.split(), fmt(cp)
    assert "d11/.profile: Cannot open: Permission denied" in cp.stderr, fmt(cp)


def test_racing_thread_cannot_move_a_directory_where_hooks_would_apply(fence, tree):
    """A file may be renamed into .git/modules (git does, for its lock files), but a thread
    that swaps a directory with a hooks/ subdirectory in at the source name meanwhile must
    never get that directory moved there."""
    cp = fence.py(r'''
import threading, time
os.makedirs("r/.git/modules", exist_ok=True)
os.makedirs("evil/hooks", exist_ok=True)
write("evil/hooks/post-checkout", "#!/bin/sh\necho evil\n")
stop = time.monotonic() + 2
def swapper():
    while time.monotonic() < stop:
        try:
            write("src", "lock\n")
            os.unlink("src")
            os.rename("evil", "src")      # a directory at the source name...
            os.rename("src", "evil")      # ...and back
        except OSError:
            pass
t = threading.Thread(target=swapper)
t.start()
moved = 0
while time.monotonic() < stop:
    try:
        os.rename("src", "r/.git/modules/m")
        moved += 1
        if os.path.isdir("r/.git/modules/m"):
            print("DIRECTORY-MOVED", flush=True)
            break
        os.unlink("r/.git/modules/m")
    except OSError:
        pass
t.join()
print("moved", moved, flush=True)
''', config=CWD_WRITABLE, timeout=60)
    assert_started(cp)
    assert "DIRECTORY-MOVED" not in cp.stdout, fmt(cp)
    assert not (tree / "r/.git/modules/m/hooks").exists()
    assert int(cp.stdout.split("moved")[-1]) > 0, "no file was ever moved: the race never ran" + fmt(cp)


def test_names_below_a_path_too_long_to_tell_are_refused(fence, tree):
    """A directory deeper than PATH_MAX: its path cannot be read back, so nothing below it
    may be written where a protected name could be; and nothing prepared there can be moved
    up into place."""
    before = snapshot(tree / "a")
    cp = fence.py(r'''
top = os.getcwd()
os.makedirs("deep")
os.chdir("deep")
depth = 0
while len(top) + 6 + 201 * depth <= 4200:  # (getcwd itself fails that deep)
    try:
        os.mkdir("d" * 200)   # refused once this directory's own path is too long to tell
    except OSError:
        break
    os.chdir("d" * 200)
    depth += 1
print("depth", depth, flush=True)
attempt("deep-git", os.makedirs, "p/.git/hooks")
attempt("deep-config", write, "p/.git/config", "[core]\n\tfsmonitor = evil\n")
attempt("deep-bashrc", write, ".bashrc", "evil\n")
attempt("deep-plain", write, "plain.txt")
attempt("make-q", os.makedirs, "q")
t = os.open(top, os.O_PATH)
attempt("move-up", os.rename, "q", f"/proc/self/fd/{t}/evil")
''', config=CWD_WRITABLE)
    assert_started(cp)
    assert cp.returncode == 0, fmt(cp)
    for name in ("deep-git", "deep-config", "deep-bashrc", "deep-plain", "make-q", "move-up"):
        assert err(cp, name), f"{name} should have failed" + fmt(cp)
    assert not (tree / "evil").exists()
    assert snapshot(tree / "a") == before


def test_linked_worktree_commondir_and_nested_roots(fence, tree):
    (tree / "a/.git/worktrees/wt").mkdir(parents=True)
    (tree / "a/.git/worktrees/wt/commondir").write_text("../..\n")
    cfg = {"filesystem": {"allowWrite": [".", "sub/.git"]}}
    cp = fence.py(r'''
attempt("commondir", write, "a/.git/worktrees/wt/commondir", "/tmp/evil\n")
attempt("new-commondir", write, "a/.git/worktrees/wt2/commondir", "/tmp/evil\n") \
    if os.makedirs("a/.git/worktrees/wt2") is None else None
attempt("nested-root-hook", write, "sub/.git/hooks/pre-commit", "#!/bin/sh\n")
attempt("nested-root-config", write, "sub/.git/config", "[core]\n", "a")
attempt("nested-root-index", write, "sub/.git/index", "x")
''', config=cfg)
    for name in ("commondir", "new-commondir", "nested-root-hook", "nested-root-config"):
        assert err(cp, name), f"{name} should have failed" + fmt(cp)
    assert ok(cp, "nested-root-index"), fmt(cp)
    assert (tree / "a/.git/worktrees/wt/commondir").read_text() == "../..\n"


def test_unix_socket_bind_cannot_make_a_protected_name(fence, tree, home):
    cfg = {"filesystem": {"allowWrite": [".", str(home)]}}
    cp = fence.py(r'''
import socket
def bind(path, make=lambda: socket.socketpair()[0]):
    s = make(); s.bind(path); return "bound"
for p in [".bashrc", "n/.git", "n/.git/hooks/x", "a/.git/config"]:
    os.makedirs("n", exist_ok=True)
    attempt("bind " + p, bind, p)
attempt("bind-guarded", bind, os.environ["HOME"] + "/.fence.json")
attempt("bind-plain", bind, "n/plain.sock")
attempt("bind-abstract", bind, "\0fence-test-abstract")
''', config=cfg)
    for p in [".bashrc", "n/.git", "n/.git/hooks/x", "a/.git/config"]:
        assert err(cp, f"bind {p}"), p + fmt(cp)
    assert err(cp, "bind-guarded"), fmt(cp)
    assert ok(cp, "bind-plain") and ok(cp, "bind-abstract"), fmt(cp)
    assert not os.path.lexists(tree / ".bashrc") and not os.path.lexists(home / ".fence.json")
    assert not os.path.lexists(tree / "n/.git")


def test_acl_xattr_cannot_change_a_protected_mode(fence, tree):
    hook = tree / "a/.git/hooks/pre-commit"
    mode = hook.stat().st_mode
    cp = fence.py(r'''
import struct
acl = struct.pack("<I", 2) + struct.pack("<HHI", 1, 7, 0xffffffff) + \
      struct.pack("<HHI", 4, 5, 0xffffffff) + struct.pack("<HHI", 0x20, 5, 0xffffffff)
p = "a/.git/hooks/pre-commit"
attempt("acl", os.setxattr, p, "system.posix_acl_access", acl)
attempt("acl-fd", lambda: os.setxattr(os.open(p, os.O_RDONLY), "system.posix_acl_access", acl))
attempt("user-xattr", os.setxattr, p, "user.x", b"1")
attempt("remove", os.removexattr, p, "user.x")
''', config=CWD_WRITABLE)
    for name in ("acl", "acl-fd", "user-xattr", "remove"):
        assert err(cp, name), f"{name} should have failed" + fmt(cp)
    assert hook.stat().st_mode == mode


def test_bare_repository_cannot_be_planted(fence, tree):
    """git takes a directory with HEAD, objects/ and refs/ for a repository: one planted in
    a subdirectory would run its config the next time git runs there."""
    cp = fence.py(r'''
os.makedirs("src1/objects/info"); os.makedirs("src1/refs/heads")
write("src1/HEAD", "ref: refs/heads/main\n")
attempt("config-after-head", write, "src1/config", "[core]\n\tpager = evil\n")
attempt("hooks-after-head", os.mkdir, "src1/hooks")
os.makedirs("src2/objects"); os.makedirs("src2/refs")
write("src2/config", "[core]\n\tfsmonitor = evil\n")
attempt("head-after-config", write, "src2/HEAD", "ref: refs/heads/main\n")
write("head.tmp", "ref: refs/heads/main\n")
attempt("head-renamed-in", os.rename, "head.tmp", "src2/HEAD")
os.makedirs("src3/hooks")
write("src3/hooks/post-checkout", "#!/bin/sh\n")
attempt("head-after-hooks", write, "src3/HEAD", "ref: refs/heads/main\n")
attempt("plain-file-named-config", write, "src4/config", "x") if os.makedirs("src4") is None else None
''', config=CWD_WRITABLE)
    for name in ("config-after-head", "hooks-after-head", "head-after-config", "head-renamed-in",
                 "head-after-hooks"):
        assert err(cp, name), f"{name} should have failed" + fmt(cp)
    assert ok(cp, "plain-file-named-config"), fmt(cp)
    assert not (tree / "src1/config").exists() and not (tree / "src2/HEAD").exists()
    # With allowGitConfig, repositories (bare ones included) may be made.
    cp = fence.sh("git init -q --bare b.git && git clone -q --bare vendor b2.git 2>/dev/null; "
                  "test -f b.git/config && echo made", config=GIT_CONFIG_WRITABLE)
    assert "made" in cp.stdout, fmt(cp)
