"""Filesystem policy: write tiers, denyWrite/denyRead, metadata, private /tmp and /run, /dev, /proc.

Every escape attempt is checked twice: the in-sandbox operation fails, and the host file is
unchanged / absent afterwards.
"""

import json
import os
import re
import stat
import uuid
from pathlib import Path

import pytest

from conftest import STARTED, assert_started, fmt, ok, err

CWD_WRITABLE = {"filesystem": {"allowWrite": ["."]}}


# ---- writes ---------------------------------------------------------------------------------

def test_default_denies_writes_in_cwd(fence, work):
    cp = fence.sh(f"echo {STARTED}; touch x; mkdir d; echo data > y")
    assert_started(cp)
    assert cp.returncode != 0, fmt(cp)
    assert sorted(os.listdir(work)) == [], fmt(cp)
    assert re.search(r"read-only|permission denied", cp.stderr, re.I), fmt(cp)


def test_default_denies_writes_in_home(fence, home):
    cp = fence.sh(f"echo {STARTED}; touch '{home}/x'")
    assert_started(cp)
    assert cp.returncode != 0, fmt(cp)
    assert not (home / "x").exists()


def test_cwd_and_home_are_readable(fence, work, home):
    (work / "in-cwd.txt").write_text("cwd-content\n")
    (home / "in-home.txt").write_text("home-content\n")
    cp = fence.sh(f"cat in-cwd.txt '{home}/in-home.txt'")
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout == "cwd-content\nhome-content\n", fmt(cp)


def test_allow_write_dir(fence, work):
    out = work / "out"
    out.mkdir()
    (out / "old").write_text("old\n")
    cp = fence.sh("echo hello > out/new && mkdir out/d && echo x > out/d/f && mv out/old out/renamed "
                  "&& rm out/d/f && rmdir out/d && ln -s new out/link",
                  config={"filesystem": {"allowWrite": ["out"]}})
    assert cp.returncode == 0, fmt(cp)
    assert (out / "new").read_text() == "hello\n"
    assert (out / "renamed").read_text() == "old\n"
    assert sorted(os.listdir(out)) == ["link", "new", "renamed"]


def test_allow_write_does_not_reach_siblings_or_parent(fence, work):
    (work / "out").mkdir()
    (work / "other").mkdir()
    cp = fence.py(
        "attempt('sibling', write, 'other/f')\n"
        "attempt('parent', write, 'f')\n"
        "attempt('control', write, 'out/f')\n",
        config={"filesystem": {"allowWrite": ["out"]}})
    assert ok(cp, "control"), fmt(cp)
    assert err(cp, "sibling") and err(cp, "parent"), fmt(cp)
    assert not (work / "other" / "f").exists() and not (work / "f").exists()


def test_deny_write_beats_allow_write(fence, work):
    secret = work / "secret.txt"
    secret.write_text("original\n")
    locked = work / "locked"
    locked.mkdir()
    (locked / "inner").write_text("inner\n")
    cp = fence.py(
        "attempt('file', write, 'secret.txt', 'x', 'a')\n"
        "attempt('dir-new', write, 'locked/new')\n"
        "attempt('dir-existing', write, 'locked/inner', 'x', 'a')\n"
        "attempt('dir-mkdir', os.mkdir, 'locked/sub')\n"
        "attempt('control', write, 'free.txt')\n",
        config={"filesystem": {"allowWrite": ["."], "denyWrite": ["secret.txt", "locked"]}})
    assert ok(cp, "control"), fmt(cp)
    for name in ("file", "dir-new", "dir-existing", "dir-mkdir"):
        assert err(cp, name), f"{name} should have failed" + fmt(cp)
    assert secret.read_text() == "original\n"
    assert sorted(os.listdir(locked)) == ["inner"]
    assert (locked / "inner").read_text() == "inner\n"


def test_deny_write_file_cannot_be_replaced_via_parent(fence, work):
    secret = work / "secret.txt"
    secret.write_text("original\n")
    (work / "evil").write_text("evil\n")
    cp = fence.py(
        "attempt('rename-away', os.rename, 'secret.txt', 'moved')\n"
        "attempt('rename-over', os.rename, 'evil', 'secret.txt')\n"
        "attempt('unlink', os.unlink, 'secret.txt')\n"
        "if attempt('hardlink', os.link, 'secret.txt', 'hl'):\n"
        "    attempt('write-hardlink', write, 'hl', 'x', 'a')\n",
        config={"filesystem": {"allowWrite": ["."], "denyWrite": ["secret.txt"]}})
    assert_started(cp)
    for name in ("rename-away", "rename-over", "unlink"):
        assert err(cp, name), f"{name} should have failed" + fmt(cp)
    assert not ok(cp, "write-hardlink"), fmt(cp)
    assert secret.read_text() == "original\n", fmt(cp)
    assert not (work / "moved").exists()


def test_cannot_write_etc(fence, tmp_path):
    name = f"/etc/fence-itest-{uuid.uuid4().hex}"
    try:
        cp = fence.py(
            # O_APPEND without writing: harmless even if the protection were missing.
            "attempt('etc-hosts', lambda: os.close(os.open('/etc/hosts', os.O_WRONLY | os.O_APPEND)))\n"
            f"attempt('etc-create', lambda: os.close(os.open({name!r}, os.O_WRONLY | os.O_CREAT, 0o644)))\n",
            config={"filesystem": {"allowWrite": ["."]}})
        assert_started(cp)
        assert err(cp, "etc-hosts") and err(cp, "etc-create"), fmt(cp)
        assert not os.path.exists(name), fmt(cp)
    finally:
        if os.path.exists(name):
            os.unlink(name)


def test_cannot_write_outside_allow_write(fence, tmp_path, home, work):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "existing").write_text("original\n")
    cp = fence.py(
        f"attempt('outside-new', write, {str(outside / 'new')!r})\n"
        f"attempt('outside-existing', write, {str(outside / 'existing')!r}, 'x', 'a')\n"
        f"attempt('home-new', write, {str(home / 'new')!r})\n"
        "attempt('control', write, 'ok')\n",
        config={"filesystem": {"allowWrite": ["."]}})
    assert ok(cp, "control"), fmt(cp)
    assert not ok(cp, "outside-new") and not ok(cp, "outside-existing") and not ok(cp, "home-new"), fmt(cp)
    assert sorted(os.listdir(outside)) == ["existing"]
    assert (outside / "existing").read_text() == "original\n"
    assert not (home / "new").exists()


# ---- O_TRUNC and metadata on read-only files (SECURITY-RULES 5, 6) ---------------------------

READONLY_CASES = {
    # case: (config, file name) -- the file is readable but must not be modifiable
    "default-policy": ({}, "ro.txt"),
    "deny-write-in-allow-write": ({"filesystem": {"allowWrite": ["."], "denyWrite": ["ro.txt"]}},
                                  "ro.txt"),
    "allow-read-tier": ({"filesystem": {"allowRead": ["rodir"]}}, "rodir/ro.txt"),
}


@pytest.mark.parametrize("case", list(READONLY_CASES))
def test_o_trunc_on_read_only_file(fence, work, case):
    config, rel = READONLY_CASES[case]
    f = work / rel
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text("precious content\n")
    cp = fence.py(
        f"attempt('read', read, {rel!r})\n"
        f"attempt('otrunc', lambda: os.close(os.open({rel!r}, os.O_RDONLY | os.O_TRUNC)))\n",
        config=config)
    assert ok(cp, "read"), "control: the file must be readable" + fmt(cp)
    assert err(cp, "otrunc"), fmt(cp)
    assert f.read_text() == "precious content\n", "O_TRUNC emptied a read-only file" + fmt(cp)


@pytest.mark.parametrize("case", list(READONLY_CASES))
def test_metadata_of_read_only_file(fence, work, case):
    config, rel = READONLY_CASES[case]
    f = work / rel
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text("precious content\n")
    f.chmod(0o644)
    os.utime(f, (1_000_000_000, 1_000_000_000))
    try:
        os.setxattr(f, "user.fence_itest_probe", b"1")
        os.removexattr(f, "user.fence_itest_probe")
        xattr_supported = True
    except OSError:
        xattr_supported = False
    before = f.stat()
    cp = fence.py(
        f"p = {rel!r}\n"
        "attempt('chmod', os.chmod, p, 0o777)\n"
        "attempt('utime', os.utime, p, (2_000_000_000, 2_000_000_000))\n"
        "attempt('utime-now', os.utime, p, None)\n"
        "attempt('setxattr', os.setxattr, p, 'user.fence_itest', b'evil')\n"
        "attempt('truncate', os.truncate, p, 0)\n"
        "attempt('append', write, p, 'x', 'a')\n",
        config=config)
    for name in ("chmod", "utime", "utime-now", "truncate", "append"):
        assert err(cp, name), f"{name} should have failed" + fmt(cp)
    if xattr_supported:
        assert err(cp, "setxattr"), fmt(cp)
        assert "user.fence_itest" not in os.listxattr(f)
    after = f.stat()
    assert stat.S_IMODE(after.st_mode) == 0o644, fmt(cp)
    assert after.st_mtime_ns == before.st_mtime_ns, fmt(cp)
    assert f.read_text() == "precious content\n"


# ---- private /tmp, /run ----------------------------------------------------------------------

def test_tmp_inside_is_private(fence):
    name = f"/tmp/fence-itest-inside-{uuid.uuid4().hex}"
    try:
        cp = fence.sh(f"echo inside > {name} && cat {name}")
        assert cp.returncode == 0, "the private /tmp must be writable" + fmt(cp)
        assert cp.stdout == "inside\n", fmt(cp)
        assert not os.path.exists(name), "a file written to /tmp inside appeared on the host"
    finally:
        if os.path.exists(name):
            os.unlink(name)


def test_host_tmp_not_visible_inside(fence):
    name = f"/tmp/fence-itest-host-{uuid.uuid4().hex}"
    Path(name).write_text("host-only\n")
    try:
        cp = fence.sh(f"echo {STARTED}; cat {name}")
        assert_started(cp)
        assert cp.returncode != 0, fmt(cp)
        assert "host-only" not in cp.stdout, fmt(cp)
    finally:
        os.unlink(name)


def test_tmp_in_allow_write_means_host_tmp(fence):
    host_name = f"/tmp/fence-itest-host-{uuid.uuid4().hex}"
    inside_name = f"/tmp/fence-itest-inside-{uuid.uuid4().hex}"
    Path(host_name).write_text("host-visible\n")
    try:
        cp = fence.sh(f"cat {host_name} && echo from-inside > {inside_name}",
                      config={"filesystem": {"allowWrite": ["/tmp"]}})
        assert cp.returncode == 0, fmt(cp)
        assert cp.stdout == "host-visible\n", fmt(cp)
        assert Path(inside_name).read_text() == "from-inside\n"
    finally:
        for n in (host_name, inside_name):
            if os.path.exists(n):
                os.unlink(n)


def test_tmp_path_outside_cwd_not_visible(fence, tmp_path):
    if not str(tmp_path).startswith("/tmp/"):
        pytest.skip("tmp_path is not under /tmp")
    other = tmp_path / "not-shared"
    other.mkdir()
    (other / "f").write_text("hidden\n")
    cp = fence.sh(f"echo {STARTED}; cat '{other}/f'")
    assert_started(cp)
    assert "hidden" not in cp.stdout, fmt(cp)
    assert cp.returncode != 0, fmt(cp)


def test_run_is_private(fence):
    host_entries = set(os.listdir("/run"))
    marker = None
    if os.access("/run", os.W_OK):
        marker = f"fence-itest-{uuid.uuid4().hex}"
        Path("/run", marker).write_text("x")
        host_entries.add(marker)
    try:
        cp = fence.py("print('ENTRIES', json.dumps(sorted(os.listdir('/run'))))\n"
                      "print('USER', json.dumps(os.listdir('/run/user')))\n"
                      "print('OWN', json.dumps(os.listdir(f'/run/user/{os.getuid()}')))")
        assert cp.returncode == 0, fmt(cp)
        line = [l for l in cp.stdout.splitlines() if l.startswith("ENTRIES ")][0]
        inside = set(json.loads(line[len("ENTRIES "):]))
        # fence's own: /run/user holding only this user's private, empty runtime directory.
        assert f"USER [\"{os.getuid()}\"]" in cp.stdout and "OWN []" in cp.stdout, fmt(cp)
        leaked = (inside - {"user"}) & host_entries
        assert not leaked, f"host /run entries visible inside: {sorted(leaked)}" + fmt(cp)
    finally:
        if marker:
            os.unlink(Path("/run", marker))


def test_run_writes_do_not_reach_host(fence):
    name = f"fence-itest-{uuid.uuid4().hex}"
    try:
        cp = fence.sh(f"echo {STARTED}; echo x > /run/{name}")
        assert_started(cp)
        assert not os.path.exists(f"/run/{name}")
    finally:
        if os.path.exists(f"/run/{name}"):
            os.unlink(f"/run/{name}")


# ---- /dev and /proc -------------------------------------------------------------------------

def test_dev_is_minimal(fence):
    cp = fence.py(
        "print('DEV', ' '.join(sorted(os.listdir('/dev'))))\n"
        "attempt('null', write, '/dev/null', 'x')\n"
        "attempt('urandom', lambda: len(open('/dev/urandom','rb').read(16)))\n"
        "import pty\n"
        "attempt('openpty', pty.openpty)\n", config={"allowPty": True})
    assert cp.returncode == 0, fmt(cp)
    line = [l for l in cp.stdout.splitlines() if l.startswith("DEV ")][0]
    inside = set(line.split()[1:])
    # /dev/tty only when a stdio is the session's terminal (test_terminal.py covers both cases).
    for needed in ("null", "zero", "full", "random", "urandom", "pts", "ptmx"):
        assert needed in inside, f"/dev/{needed} missing inside" + fmt(cp)
    assert ok(cp, "null") and ok(cp, "urandom") and ok(cp, "openpty"), fmt(cp)
    host_block = {e for e in os.listdir("/dev")
                  if stat.S_ISBLK(os.lstat(f"/dev/{e}").st_mode)}
    for forbidden in {"mem", "kmsg", "port", "kvm", "fuse"} | host_block:
        assert forbidden not in inside, f"/dev/{forbidden} visible inside" + fmt(cp)


def test_devpts_is_private(fence):
    # A pty opened on the host must not appear in the sandbox's /dev/pts.
    import pty
    m, s = pty.openpty()
    try:
        host_pts = os.path.basename(os.ttyname(s))
        cp = fence.py("print('PTS', ' '.join(sorted(os.listdir('/dev/pts'))))")
        assert cp.returncode == 0, fmt(cp)
        line = [l for l in cp.stdout.splitlines() if l.startswith("PTS ")][0]
        assert host_pts not in line.split()[1:], fmt(cp)
    finally:
        os.close(m)
        os.close(s)


def test_proc_is_fresh(fence):
    cp = fence.py("print('PIDS', len([p for p in os.listdir('/proc') if p.isdigit()]))")
    assert cp.returncode == 0, fmt(cp)
    n = int([l for l in cp.stdout.splitlines() if l.startswith("PIDS ")][0].split()[1])
    assert n <= 5, f"{n} processes visible in /proc inside" + fmt(cp)


# ---- denyRead (SECURITY-RULES 9) ---------------------------------------------------------------

@pytest.mark.parametrize("extra", [{}, {"allowWrite": ["."]}], ids=["read-only", "cwd-writable"])
def test_deny_read_file(fence, work, extra):
    secret = work / "secret.txt"
    secret.write_text("TOPSECRET-FILE\n")
    (work / "public.txt").write_text("public\n")
    abs_secret = str(secret)
    code = (
        "attempt('read', read, 'secret.txt')\n"
        f"attempt('read-abs', read, {abs_secret!r})\n"
        f"attempt('proc-root', read, '/proc/self/root' + {abs_secret!r})\n"
        f"attempt('proc-1-root', read, '/proc/1/root' + {abs_secret!r})\n"
        "attempt('dotdot', read, '../' + os.path.basename(os.getcwd()) + '/secret.txt')\n"
        "attempt('control', read, 'public.txt')\n"
    )
    if extra:
        code += (
            "if attempt('symlink', os.symlink, 'secret.txt', 'via-link'):\n"
            "    attempt('read-link', read, 'via-link')\n"
            "if attempt('hardlink', os.link, 'secret.txt', 'via-hardlink'):\n"
            "    attempt('read-hardlink', read, 'via-hardlink')\n"
            "attempt('overwrite', write, 'secret.txt', 'x', 'a')\n"
        )
    cp = fence.py(code, config={"filesystem": {"denyRead": ["secret.txt"], **extra}})
    assert ok(cp, "control"), fmt(cp)
    assert "TOPSECRET-FILE" not in cp.stdout, "denyRead file content leaked" + fmt(cp)
    assert secret.read_text() == "TOPSECRET-FILE\n", "denyRead file was modified" + fmt(cp)


@pytest.mark.parametrize("extra", [{}, {"allowWrite": ["."]}], ids=["read-only", "cwd-writable"])
def test_deny_read_directory(fence, work, extra):
    private = work / "private"
    (private / "nested").mkdir(parents=True)
    (private / "key").write_text("TOPSECRET-DIR\n")
    (private / "nested" / "key2").write_text("TOPSECRET-NESTED\n")
    abs_private = str(private)
    cp = fence.py(
        "attempt('list', os.listdir, 'private')\n"
        "attempt('read', read, 'private/key')\n"
        "attempt('read-nested', read, 'private/nested/key2')\n"
        f"attempt('proc-root', read, '/proc/self/root' + {abs_private!r} + '/key')\n"
        "attempt('create', write, 'private/new')\n"
        "attempt('mkdir', os.mkdir, 'private/newdir')\n",
        config={"filesystem": {"denyRead": ["private"], **extra}})
    assert_started(cp)
    assert "TOPSECRET" not in cp.stdout, "denyRead directory content leaked" + fmt(cp)
    if ok(cp, "list"):
        assert "list: OK []" in cp.stdout, "denyRead directory listing leaked" + fmt(cp)
    assert not ok(cp, "create") and not ok(cp, "mkdir"), "denyRead dir must be read-only" + fmt(cp)
    assert sorted(os.listdir(private)) == ["key", "nested"]


@pytest.mark.parametrize("reexpose", ["allowWrite", "allowRead", "allowExecute"])
def test_deny_read_not_reexposed_by_later_rule(fence, work, reexpose):
    sub = work / "private" / "sub"
    sub.mkdir(parents=True)
    (sub / "key").write_text("TOPSECRET-SUB\n")
    cp = fence.py(
        "attempt('read-sub', read, 'private/sub/key')\n"
        "attempt('list-sub', os.listdir, 'private/sub')\n"
        "attempt('write-sub', write, 'private/sub/new')\n",
        config={"filesystem": {"denyRead": ["private"], reexpose: ["private/sub"]}})
    # fence may also refuse the contradictory config (exit 122); either way nothing leaks.
    if cp.returncode != 122:
        assert_started(cp)
    assert "TOPSECRET-SUB" not in cp.stdout, fmt(cp)
    assert not ok(cp, "list-sub"), fmt(cp)
    assert not (sub / "new").exists(), fmt(cp)


def test_deny_read_in_home(fence, home):
    ssh = home / ".ssh"
    ssh.mkdir()
    (ssh / "id_ed25519").write_text("TOPSECRET-SSH\n")
    cp = fence.sh(f"echo {STARTED}; cat ~/.ssh/id_ed25519; ls -a ~/.ssh",
                  config={"filesystem": {"denyRead": ["~/.ssh"]}})
    assert_started(cp)
    assert "TOPSECRET-SSH" not in cp.stdout and "id_ed25519" not in cp.stdout, fmt(cp)


# ---- allowRead / allowExecute tiers ----------------------------------------------------------

def test_allow_read_outside_dir(fence, tmp_path):
    ext = tmp_path / "ext"
    ext.mkdir()
    (ext / "data.txt").write_text("external-data\n")
    cp = fence.py(
        f"attempt('read', read, {str(ext / 'data.txt')!r})\n"
        f"attempt('list', os.listdir, {str(ext)!r})\n"
        f"attempt('write', write, {str(ext / 'new')!r})\n"
        f"attempt('append', write, {str(ext / 'data.txt')!r}, 'x', 'a')\n",
        config={"filesystem": {"allowRead": [str(ext)]}})
    assert ok(cp, "read") and ok(cp, "list"), fmt(cp)
    assert "external-data" in cp.stdout
    assert err(cp, "write") and err(cp, "append"), fmt(cp)
    assert sorted(os.listdir(ext)) == ["data.txt"]
    assert (ext / "data.txt").read_text() == "external-data\n"


@pytest.mark.xfail(strict=True, reason="KNOWN GAP: under the private /tmp (writable for the sandbox, so Landlock grants listing there) an allowExecute path inherits /tmp's rights; Landlock rights add up along the path")
def test_allow_execute_tier(fence, tmp_path):
    # Landlock rights are a union: under a default-readable system path (/var, /usr, ...) the
    # read tier would apply too, so this needs a directory only allowExecute grants: /tmp.
    if not str(tmp_path).startswith("/tmp/"):
        pytest.skip("tmp_path is not under /tmp (the private /tmp is the only place no read tier covers)")
    tools = tmp_path / "tools"
    tools.mkdir()
    tool = tools / "mytool"
    tool.write_text("#!/bin/sh\necho tool-ran-$1\n")
    tool.chmod(0o755)
    cp = fence.py(
        "import subprocess\n"
        f"attempt('exec', lambda: subprocess.run([{str(tool)!r}, 'x'], capture_output=True, text=True).stdout)\n"
        f"attempt('list', os.listdir, {str(tools)!r})\n"
        f"attempt('write', write, {str(tools / 'new')!r})\n",
        config={"filesystem": {"allowExecute": [str(tools)]}})
    assert "tool-ran-x" in cp.stdout, "allowExecute must allow executing" + fmt(cp)
    assert err(cp, "list"), "allowExecute must not allow listing the directory" + fmt(cp)
    assert err(cp, "write"), fmt(cp)
    assert sorted(os.listdir(tools)) == ["mytool"]



# --------------------------------------------------------------------- environment repair

def test_xdg_runtime_dir_that_is_unusable_inside_is_replaced(fence, work):
    uid = os.getuid()
    script = ('echo "rt=$XDG_RUNTIME_DIR"; stat -c "%a %u" "$XDG_RUNTIME_DIR"; '
              'python3 -c "import socket,os; s=socket.socket(socket.AF_UNIX); '
              's.bind(os.environ[\'XDG_RUNTIME_DIR\'] + \'/agent.sock\'); print(\'bound\')"')
    cp = fence.sh(script, env={"XDG_RUNTIME_DIR": "/tmp/runtime-ci"}, flags=["-d"])
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout.splitlines() == [f"rt=/run/user/{uid}", f"700 {uid}", "bound"], fmt(cp)
    assert (f"[fence:env] XDG_RUNTIME_DIR=/tmp/runtime-ci is not usable inside; set to "
            f"/run/user/{uid}") in cp.stderr, fmt(cp)
    # A usable one is kept: the private one itself, or a directory inside a writable root.
    (work / "rt").mkdir()
    for value, config in ((f"/run/user/{uid}", None), (str(work / "rt"), CWD_WRITABLE)):
        cp = fence.sh('echo "rt=$XDG_RUNTIME_DIR"', env={"XDG_RUNTIME_DIR": value},
                      config=config, flags=["-d"])
        assert cp.stdout == f"rt={value}\n" and "XDG_RUNTIME_DIR=" not in cp.stderr, fmt(cp)


def test_tmpdir_kept_when_writable_inside_else_tmp(fence, work):
    (work / "scratch").mkdir()
    script = 'echo "tmp=$TMPDIR"; f=$(mktemp) && echo "made ${f%/*}"'
    cp = fence.sh(script, env={"TMPDIR": str(work / "scratch")}, config=CWD_WRITABLE)
    assert cp.stdout.splitlines() == [f"tmp={work / 'scratch'}", f"made {work / 'scratch'}"], \
        fmt(cp)
    for value, config in ((str(work / "scratch"), None), ("/nonexistent", CWD_WRITABLE),
                          ("/tmp/ci-tmp", None)):
        cp = fence.sh(script, env={"TMPDIR": value}, config=config, flags=["-d"])
        assert cp.stdout.splitlines() == ["tmp=/tmp", "made /tmp"], (value, fmt(cp))
        assert f"[fence:env] TMPDIR={value} is not usable inside; set to /tmp" in cp.stderr, \
            fmt(cp)
    cp = fence.sh('echo "tmp=${TMPDIR-unset}"', env={"TMPDIR": None})
    assert cp.stdout == "tmp=unset\n", fmt(cp)
