"""The creation guard: protected names that do not exist yet cannot be created by any route
(open/creat, mkdir, mknod, symlink, link, rename, /proc paths, symlinked directories, racing
threads), while ordinary creation keeps working. Each test would fail without the guard:
the names are missing, inside a writable working directory, so no mount covers them."""
import os

from conftest import assert_started, err, fmt, ok, snapshot

CWD_WRITABLE = {"filesystem": {"allowWrite": ["."]}}


def test_every_creating_syscall_is_refused_for_a_guarded_name(fence, work):
    before = snapshot(work)
    cp = fence.py(
        "open('src', 'w').write('payload')\n"
        "os.mkdir('srcdir')\n"
        "attempt('open', write, '.bashrc')\n"
        "attempt('open-excl', lambda: os.close(os.open('.zshrc', os.O_CREAT | os.O_EXCL | os.O_WRONLY)))\n"
        "attempt('creat', lambda: os.close(libc.creat(b'.profile', 0o644)) if libc.creat(b'.profile', 0o644) >= 0 else (_ for _ in ()).throw(OSError(ctypes.get_errno(), 'creat')))\n"
        "attempt('mkdir', os.mkdir, '.vscode')\n"
        "attempt('mkfifo', os.mkfifo, '.mcp.json')\n"
        "attempt('symlink', os.symlink, 'src', '.gitconfig')\n"
        "attempt('link', os.link, 'src', '.gitmodules')\n"
        "attempt('rename', os.rename, 'src', '.ripgreprc')\n"
        "attempt('rename-dir', os.rename, 'srcdir', '.idea')\n"
        "attempt('replace', os.replace, 'src', '.bash_profile')\n"
        "attempt('control', write, 'control')\n",
        config=CWD_WRITABLE)
    assert ok(cp, "control"), fmt(cp)
    for name in ("open", "open-excl", "creat", "mkdir", "mkfifo", "symlink", "link", "rename",
                 "rename-dir", "replace"):
        assert err(cp, name), f"{name} should have been refused" + fmt(cp)
    after = snapshot(work)
    for name in (".bashrc", ".zshrc", ".profile", ".vscode", ".mcp.json", ".gitconfig",
                 ".gitmodules", ".ripgreprc", ".idea", ".bash_profile"):
        assert name not in after, name + fmt(cp)
    assert set(after) - set(before) == {"src", "srcdir", "control"}, fmt(cp)


def test_indirect_paths_to_a_guarded_name_are_refused(fence, work, tmp_path):
    cp = fence.py(
        "os.symlink('.', 'here')\n"
        "os.symlink('.bashrc', 'dangling')\n"
        "attempt('via-symlinked-dir', write, 'here/.bashrc')\n"
        "attempt('via-dangling-link', write, 'dangling')\n"
        "attempt('via-proc-cwd', write, '/proc/self/cwd/.bashrc')\n"
        f"attempt('absolute', write, {str(work / '.bashrc')!r})\n"
        "attempt('dotdot', write, 'sub/../.bashrc') if os.mkdir('sub') is None else None\n"
        "fd = os.open('.', os.O_RDONLY | os.O_DIRECTORY)\n"
        "attempt('openat-dirfd', lambda: os.close(os.open('.bashrc', os.O_CREAT | os.O_WRONLY, dir_fd=fd)))\n"
        "tmp = os.open('.', os.O_TMPFILE | os.O_WRONLY, 0o600)\n"
        "attempt('tmpfile-linkat', os.link, f'/proc/self/fd/{tmp}', '.bashrc')\n"
        "attempt('control', write, 'here/control')\n",
        config=CWD_WRITABLE)
    assert ok(cp, "control"), fmt(cp)
    for name in ("via-symlinked-dir", "via-dangling-link", "via-proc-cwd", "absolute", "dotdot",
                 "openat-dirfd", "tmpfile-linkat"):
        assert err(cp, name), f"{name} should have been refused" + fmt(cp)
    assert not (work / ".bashrc").exists(), fmt(cp)


def test_nested_guarded_name_parent_may_be_made_but_not_the_name(fence, work):
    cp = fence.py(
        "attempt('parent', os.mkdir, '.claude')\n"
        "attempt('name', os.mkdir, '.claude/commands')\n"
        "attempt('other', os.mkdir, '.claude/other')\n"
        "os.makedirs('stage/commands')\n"
        "attempt('swap-parent', os.rename, 'stage', '.git') if not os.path.exists('.git') else None\n",
        config=CWD_WRITABLE)
    assert ok(cp, "parent") and ok(cp, "other"), fmt(cp)
    assert err(cp, "name"), fmt(cp)
    assert not (work / ".claude" / "commands").exists()


def test_racing_thread_cannot_swap_the_path_after_the_check(fence, work):
    # One thread flips a shared buffer between a harmless name and ".bashrc" while another
    # calls open(O_CREAT) on it in a loop: a check-then-continue design loses this race.
    cp = fence.py(
        "import threading\n"
        "buf = ctypes.create_string_buffer(b'.bashrc\\0', 16)\n"
        "stop = False\n"
        "def flip():\n"
        "    while not stop:\n"
        "        ctypes.memmove(buf, b'xbashrc\\0', 8)\n"
        "        ctypes.memmove(buf, b'.bashrc\\0', 8)\n"
        "t = threading.Thread(target=flip); t.start()\n"
        "made = 0\n"
        "deadline = time.time() + 3\n"
        "while time.time() < deadline:\n"
        "    fd = libc.open(buf, os.O_CREAT | os.O_WRONLY, 0o644)\n"
        "    if fd >= 0:\n"
        "        os.close(fd); made += 1\n"
        "stop = True; t.join()\n"
        "print('created', made, os.path.exists('.bashrc'))\n",
        config=CWD_WRITABLE, timeout=60)
    assert_started(cp)
    assert "created" in cp.stdout, fmt(cp)
    assert not (work / ".bashrc").exists(), "the race created .bashrc" + fmt(cp)
    assert (work / "xbashrc").exists(), "the harmless name was never created: race not exercised" + fmt(cp)


def test_ordinary_creation_still_works(fence, work):
    cp = fence.sh(
        "set -e\n"
        "echo a > file && echo b >> file && cat file\n"
        "mkdir -p deep/er/est && touch deep/er/est/x\n"
        "ln -s file sym && ln file hard && mv hard moved\n"
        "mkfifo fifo && rm fifo\n"
        "echo to-stdout > /dev/stdout\n"
        "echo to-stderr > /dev/stderr\n"
        "python3 -c 'import tempfile; tempfile.mkstemp(dir=\".\"); print(\"mkstemp ok\")'\n"
        "umask 077 && touch private && stat -c %a private\n",
        config=CWD_WRITABLE)
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout.splitlines() == ["a", "b", "to-stdout", "mkstemp ok", "600"], fmt(cp)
    assert "to-stderr" in cp.stderr
    assert (work / "moved").read_text() == "a\nb\n"
    assert os.readlink(work / "sym") == "file"


def test_creation_outside_writable_paths_is_still_refused_by_the_kernel(fence, work):
    cp = fence.py(
        "attempt('etc', write, '/etc/fence-guard-probe')\n"
        "attempt('dev', write, '/dev/fence-guard-probe')\n"
        "attempt('control', write, 'control')\n",
        config=CWD_WRITABLE)
    assert ok(cp, "control"), fmt(cp)
    assert err(cp, "etc") and err(cp, "dev"), fmt(cp)
    assert not os.path.exists("/etc/fence-guard-probe")


def test_exclusive_create_of_an_existing_name_is_eexist(fence, work):
    """init performs opens with O_CREAT itself: O_CREAT|O_EXCL on a name that exists must fail
    with EEXIST as the kernel's own open would (lock files, mkstemp and `set -C` rely on it),
    for a file and for a directory."""
    (work / "taken").write_text("first\n")
    (work / "dir").mkdir()
    cp = fence.py(
        "def excl(p): os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_TRUNC, 0o600))\n"
        "attempt('file', excl, 'taken')\n"
        "attempt('dir', excl, 'dir')\n"
        "attempt('new', excl, 'new')\n"
        "attempt('again', excl, 'new')\n",
        config=CWD_WRITABLE)
    assert_started(cp)
    for name in ("file", "dir", "again"):
        assert f"{name}: ERR EEXIST" in cp.stdout, fmt(cp)
    assert ok(cp, "new"), fmt(cp)
    assert (work / "taken").read_text() == "first\n"
