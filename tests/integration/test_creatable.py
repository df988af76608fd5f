"""allowWrite entries that do not exist yet (issue: a fresh machine has no ~/.npm, an agent's
first run no ~/.claude): the command may create exactly that path (a directory, or a regular
file) and the missing directories on its way, then write beneath it; nothing else around it
becomes writable, fence itself creates nothing, and protected names inside stay protected.

Every test that expects a creation to succeed fails without the feature: the nearest existing
directory is on a read-only mount inside the sandbox (mkdir gives EROFS)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import assert_started, err, fmt, ok

NPM = {"filesystem": {"allowWrite": ["~/.npm"]}}


def entries(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_missing_directory_entry_can_be_created_and_written(fence, home):
    cp = fence.sh("mkdir ~/.npm && mkdir -p ~/.npm/_cacache/index && echo hi > ~/.npm/f && "
                  "mv ~/.npm/f ~/.npm/g && cat ~/.npm/g && rm ~/.npm/g && echo kept > ~/.npm/k",
                  config=NPM, flags=["-m"])
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout == "hi\n"
    assert (home / ".npm/k").read_text() == "kept\n"
    assert (home / ".npm/_cacache/index").is_dir()
    assert entries(home) == {".npm", ".npm/_cacache", ".npm/_cacache/index", ".npm/k"}
    assert f"{home}/.npm does not exist yet; the command may create it" in cp.stderr, fmt(cp)
    assert "✗" not in cp.stderr, fmt(cp)


def test_fence_itself_creates_nothing(fence, home):
    cp = fence.run(["true"], config=NPM, flags=["-d"])
    assert cp.returncode == 0, fmt(cp)
    assert entries(home) == set()
    assert f"[fence:fs] allowWrite {home}/.npm: missing; the command may create it" in cp.stderr


ATTACKS_AROUND = r'''
import stat
H = os.environ["HOME"]
def mkfifo(p): os.mkfifo(p)
def symlink(t, p): os.symlink(t, p)
def rename(a, b): os.rename(a, b)
# Before the entry exists: nothing but the entry itself, as a directory or a regular file.
attempt("sibling file", write, H + "/other")
attempt("sibling dir", os.mkdir, H + "/.npm2")
attempt("prefix dir", os.mkdir, H + "/.np")
attempt("symlink at the entry", symlink, "/etc", H + "/.npm")
attempt("fifo at the entry", mkfifo, H + "/.npm")
attempt("hard link at the entry", os.link, "/etc/hostname", H + "/.npm")
write("/tmp/moved", "x")
attempt("rename onto the entry", rename, "/tmp/moved", H + "/.npm")
attempt("make the entry", os.mkdir, H + "/.npm")
# Once it exists: still nothing beside it, and it cannot be moved or removed.
attempt("sibling file after", write, H + "/other2")
attempt("rename the entry", rename, H + "/.npm", H + "/.npm-old")
attempt("remove the entry", os.rmdir, H + "/.npm")
attempt("write beneath", write, H + "/.npm/ok")
'''


def test_only_the_entry_becomes_writable(fence, home):
    cp = fence.py(ATTACKS_AROUND, config=NPM)
    assert_started(cp)
    for name in ["sibling file", "sibling dir", "prefix dir", "symlink at the entry",
                 "fifo at the entry", "hard link at the entry", "rename onto the entry",
                 "sibling file after", "rename the entry", "remove the entry"]:
        assert err(cp, name), fmt(cp)
    assert ok(cp, "make the entry"), fmt(cp)
    assert ok(cp, "write beneath"), fmt(cp)
    assert entries(home) == {".npm", ".npm/ok"}
    assert (home / ".npm").is_dir() and not (home / ".npm").is_symlink()


def test_missing_parents_are_made_on_the_way_and_stay_read_only(fence, home):
    config = {"filesystem": {"allowWrite": ["~/.config/tool/cache"]}}
    script = ("mkdir -p ~/.config/tool/cache/x && touch ~/.config/tool/cache/x/f && echo made; "
              "touch ~/.config/a || echo refused-a; mkdir ~/.config/b || echo refused-b; "
              "touch ~/.config/tool/c || echo refused-c; "
              "mv ~/.config/tool ~/.config/t2 || echo refused-mv; "
              "rmdir ~/.config/tool || echo refused-rmdir")
    cp = fence.sh(script, config=config)
    assert cp.returncode == 0, fmt(cp)
    for word in ["made", "refused-a", "refused-b", "refused-c", "refused-mv", "refused-rmdir"]:
        assert word in cp.stdout.split(), fmt(cp)
    assert entries(home) == {".config", ".config/tool", ".config/tool/cache",
                             ".config/tool/cache/x", ".config/tool/cache/x/f"}


def test_missing_file_entry_can_be_created(fence, home):
    config = {"filesystem": {"allowWrite": ["~/.tool.json"]}}
    cp = fence.py('H = os.environ["HOME"]\n'
                  'attempt("create", write, H + "/.tool.json", "{}\\n")\n'
                  'attempt("append", write, H + "/.tool.json", "more\\n", "a")\n'
                  'attempt("neighbour", write, H + "/.tool.json.tmp", "x")\n'
                  'attempt("directory beneath", os.mkdir, H + "/.tool.json/x")\n',
                  config=config)
    assert_started(cp)
    assert ok(cp, "create") and ok(cp, "append"), fmt(cp)
    assert err(cp, "neighbour") and err(cp, "directory beneath"), fmt(cp)
    assert (home / ".tool.json").read_text() == "{}\nmore\n"
    assert entries(home) == {".tool.json"}


def test_exclusive_create_of_a_file_entry(fence, home):
    """O_CREAT|O_EXCL on the entry: made once, the second attempt gets EEXIST."""
    config = {"filesystem": {"allowWrite": ["~/.lock"]}}
    cp = fence.py('H = os.environ["HOME"]\n'
                  'def excl(p): os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))\n'
                  'attempt("first", excl, H + "/.lock")\n'
                  'attempt("second", excl, H + "/.lock")\n', config=config)
    assert_started(cp)
    assert ok(cp, "first") and "second: ERR EEXIST" in cp.stdout, fmt(cp)
    assert (home / ".lock").stat().st_mode & 0o777 == 0o600


def test_protected_names_inside_a_created_entry(fence, home):
    config = {"filesystem": {"allowWrite": ["~/proj"]}}
    cp = fence.py('H = os.environ["HOME"] + "/proj"\n'
                  'attempt("make", os.mkdir, H)\n'
                  'attempt("plain", write, H + "/main.c")\n'
                  'attempt("bashrc", write, H + "/.bashrc")\n'
                  'attempt("vscode", os.mkdir, H + "/.vscode")\n'
                  'os.makedirs(H + "/sub/.git/hooks", exist_ok=True)\n'
                  'attempt("hook", write, H + "/sub/.git/hooks/pre-commit")\n', config=config)
    assert_started(cp)
    assert ok(cp, "make") and ok(cp, "plain"), fmt(cp)
    for name in ["bashrc", "vscode", "hook"]:
        assert err(cp, name), fmt(cp)
    assert not (home / "proj/.bashrc").exists()
    assert not (home / "proj/.vscode").exists()
    assert not (home / "proj/sub/.git/hooks/pre-commit").exists()
    assert (home / "proj/sub/.git/hooks").is_dir()


def test_created_entry_is_an_ordinary_writable_tree_next_run(fence, home):
    assert fence.sh("mkdir ~/.npm", config=NPM).returncode == 0
    cp = fence.sh("echo again > ~/.npm/f && cat ~/.npm/f", config=NPM, flags=["-m"])
    assert cp.returncode == 0 and cp.stdout == "again\n", fmt(cp)
    assert "does not exist yet" not in cp.stderr


def test_entry_inside_a_read_only_or_hidden_path_is_not_creatable(fence, home):
    (home / ".ssh").mkdir()
    config = {"filesystem": {"allowWrite": ["~/.ssh/new", "~/.cfg/new"],
                             "denyRead": ["~/.ssh"], "denyWrite": ["~/.cfg"]}}
    cp = fence.sh("mkdir ~/.ssh/new || echo refused-ssh; mkdir -p ~/.cfg/new || echo refused-cfg",
                  config=config, flags=["-m"])
    assert cp.returncode == 0, fmt(cp)
    assert "refused-ssh" in cp.stdout and "refused-cfg" in cp.stdout, fmt(cp)
    assert entries(home) == {".ssh"}
    assert f"{home}/.cfg/new does not exist yet; ignored (inside a read-only or hidden path)" \
        in cp.stderr, fmt(cp)


def test_entry_whose_nearest_directory_is_private_inside_is_skipped(fence, tmp_path):
    """The entry lies in the sandbox's private /tmp (no readable path of the policy binds the
    host's there): creating it would not reach the host, so it is said and nothing is held;
    a mkdir inside lands in the private /tmp only."""
    later = tmp_path / "later"
    config = {"filesystem": {"allowWrite": [str(later)]}}
    cp = fence.sh(f"mkdir -p {later} && echo inside > {later}/f && cat {later}/f",
                  config=config, flags=["-d"])
    assert cp.returncode == 0 and cp.stdout == "inside\n", fmt(cp)
    assert f"filesystem.allowWrite: {later} does not exist; it lies in the sandbox's own /tmp " \
        "(not the host's): ignored" in cp.stderr, fmt(cp)
    assert not later.exists()


def test_umask_and_mode_of_made_entries(fence, home):
    cp = fence.sh("umask 077 && mkdir -p ~/.config/tool && stat -c %a ~/.config ~/.config/tool",
                  config={"filesystem": {"allowWrite": ["~/.config/tool"]}})
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout.split() == ["700", "700"]
    assert os.stat(home / ".config").st_mode & 0o777 == 0o700


def test_racing_threads_make_the_entry_once(fence, home):
    """Many threads mkdir the entry at once: exactly one wins, the rest get EEXIST, and every
    thread can then write beneath it."""
    code = r'''
import threading
H = os.environ["HOME"] + "/.npm"
results = []
def worker(i):
    try:
        os.mkdir(H); results.append("made")
    except OSError as e:
        results.append(errno.errorcode[e.errno])
    write(f"{H}/f{i}", "x")
ts = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
[t.start() for t in ts]; [t.join() for t in ts]
print(sorted(results))
'''
    cp = fence.py(code, config=NPM)
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout.splitlines()[-1] == str(sorted(["made"] + ["EEXIST"] * 15)), fmt(cp)
    assert len(list((home / ".npm").iterdir())) == 16


def test_made_entries_are_never_group_or_world_writable(fence, home):
    """The command chooses the mode of what it makes, but not so that another local user could
    plant files in the host's ~/.config or ~/.local (nor lock the user out of them)."""
    config = {"filesystem": {"allowWrite": ["~/.config/tool", "~/.local/x", "~/.f"]}}
    cp = fence.py('import os\n'
                  'os.umask(0)\n'
                  'H = os.environ["HOME"]\n'
                  'os.mkdir(H + "/.config", 0o777)\n'
                  'os.mkdir(H + "/.config/tool", 0o7777)\n'
                  'os.mkdir(H + "/.local", 0)\n'
                  'os.mkdir(H + "/.local/x", 0)\n'
                  'os.close(os.open(H + "/.f", os.O_CREAT | os.O_WRONLY, 0o6777))\n', config=config)
    assert cp.returncode == 0, fmt(cp)
    modes = {p: (home / p).stat().st_mode & 0o7777
             for p in (".config", ".config/tool", ".local", ".local/x", ".f")}
    assert modes == {".config": 0o755, ".config/tool": 0o755, ".local": 0o755,
                     ".local/x": 0o700, ".f": 0o644}, modes


def test_something_in_the_way_skips_the_entry_not_the_run(fence, home):
    """A host path fence cannot walk (a directory it cannot enter) makes the entry read-only
    for this run, said with -d; the command still runs."""
    if os.getuid() == 0:
        pytest.skip("needs a directory this user cannot enter (/root): unprivileged run only")
    config = {"filesystem": {"allowWrite": ["/root/fence-nonexistent/x"]}}
    cp = fence.run(["true"], config=config, flags=["-d"])
    assert cp.returncode == 0, fmt(cp)
    # /root cannot be walked by this user: said, and the run goes on.
    assert "allowWrite /root/fence-nonexistent/x:" in cp.stderr and "skipped" in cp.stderr, \
        fmt(cp)
