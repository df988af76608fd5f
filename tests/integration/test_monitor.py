"""Violations without root and the runtime command policy (seccomp user notification answered by
the sandbox's init).

-m / -d / --audit-log: refused writes are reported with their path, denied syscalls with their
name, while the kernel mechanisms keep refusing exactly as without reports (same errno). With a
command policy, every exec inside is checked at run time: `git push` hidden in a script is
refused even though fence's own argv was `sh script`. With none of that asked for, no listener
is installed at all.

Every test runs as root and as an unprivileged user (run.sh)."""

import json
import os
import re
from pathlib import Path

import pytest

from conftest import CLEAN_PATH, PY, STARTED, assert_started, err, fmt, ok

# Report lines are written whole, but the command's own stderr may be written in pieces around
# them (touch writes "touch: " and the message separately): search, do not anchor at line start.
FS_LINE = re.compile(r"\[fence:fs\] ✗ (\S+) (.+?) \(([^,()]+), pid (\d+)\)\n")
SYSCALL_LINE = re.compile(r"\[fence:syscall\] ✗ (\S+) \(([^,()]+), pid (\d+)\)\n")
ANY_LINE = re.compile(r"\[fence:[a-z]+\] [^\n]*\n")

CWD_WRITABLE = {"filesystem": {"allowWrite": ["."]}}
# No command rules at all (not even fence's defaults): no exec checks.
NO_COMMAND_RULES = {"command": {"useDefaults": False}}
DENY_GIT_PUSH = {"command": {"deny": ["git push"]}, "filesystem": {"allowWrite": ["."]}}


def fence_lines(stderr: str, prefix: str) -> list[str]:
    """The fence lines starting with prefix (found anywhere in stderr, see FS_LINE)."""
    return [m.group(0).rstrip("\n") for m in ANY_LINE.finditer(stderr)
            if m.group(0).startswith(prefix)]


def fs_reports(cp) -> list[tuple[str, str, str]]:
    """(operation, path, comm) of every [fence:fs] ✗ line."""
    found = [(m.group(1), m.group(2), m.group(3)) for m in FS_LINE.finditer(cp.stderr)]
    assert len(found) == len(fence_lines(cp.stderr, "[fence:fs] ✗")), "malformed report" + fmt(cp)
    return found


def syscall_reports(cp) -> list[tuple[str, str]]:
    """(syscall, comm) of every [fence:syscall] ✗ line."""
    found = [(m.group(1), m.group(2)) for m in SYSCALL_LINE.finditer(cp.stderr)]
    assert len(found) == len(fence_lines(cp.stderr, "[fence:syscall] ✗")), "malformed" + fmt(cp)
    return found


def audit_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def without_fence_lines(text: str) -> str:
    return ANY_LINE.sub("", text)


# ------------------------------------------------------------------------ filesystem violations

def test_touch_etc_hosts_reported_with_m_only(fence):
    before = Path("/etc/hosts").read_bytes(), os.stat("/etc/hosts").st_mtime_ns
    cp = fence.run(["touch", "/etc/hosts"], flags=["-m"])
    assert cp.returncode != 0, fmt(cp)
    reports = fs_reports(cp)
    assert ("write", "/etc/hosts", "touch") in reports, fmt(cp)
    assert (Path("/etc/hosts").read_bytes(), os.stat("/etc/hosts").st_mtime_ns) == before

    plain = fence.run(["touch", "/etc/hosts"])
    assert plain.returncode == cp.returncode, fmt(plain)
    assert not fence_lines(plain.stderr, "[fence:"), fmt(plain)
    # touch saw the same refusal either way (the same message, so the same errno).
    assert without_fence_lines(cp.stderr) == plain.stderr, fmt(cp) + fmt(plain)
    assert "Read-only file system" in plain.stderr or "Permission denied" in plain.stderr


def test_denied_and_protected_writes_inside_allow_write_are_reported(fence, project):
    (project / "secret.txt").write_text("keep\n")
    cfg = {"filesystem": {"allowWrite": ["."], "denyWrite": ["secret.txt"]}}
    cp = fence.py(
        "attempt('deny-write', write, 'secret.txt', 'x', 'a')\n"
        "attempt('hook', write, '.git/hooks/pre-commit', 'evil', 'a')\n"
        "attempt('guarded', write, '.zshrc')\n"
        "attempt('unlink-hook', os.unlink, '.git/hooks/pre-commit')\n"
        "attempt('mv-git', os.rename, '.git', 'git-old')\n"
        "attempt('control', write, 'src/new.c', 'int x;\\n')\n"
        "attempt('read', read, 'secret.txt')\n",
        config=cfg, flags=["-m"])
    assert_started(cp)
    assert ok(cp, "control") and ok(cp, "read"), fmt(cp)
    for name in ("deny-write", "hook", "guarded", "unlink-hook", "mv-git"):
        assert err(cp, name), name + fmt(cp)
    reports = fs_reports(cp)
    comm = Path(PY).name
    w = str(project)
    assert ("write", f"{w}/secret.txt", comm) in reports, fmt(cp)
    assert ("write", f"{w}/.git/hooks/pre-commit", comm) in reports, fmt(cp)
    assert ("create", f"{w}/.zshrc", comm) in reports, fmt(cp)
    assert ("unlink", f"{w}/.git/hooks/pre-commit", comm) in reports, fmt(cp)
    assert ("rename", f"{w}/.git -> {w}/git-old", comm) in reports, fmt(cp)
    # Allowed writes and reads are not reported.
    assert not [r for r in reports if "src/new.c" in r[1] or "secret" in r[1] and r[0] != "write"], fmt(cp)
    assert (project / "secret.txt").read_text() == "keep\n"
    assert (project / "src" / "new.c").read_text() == "int x;\n"


def test_filesystem_results_identical_with_and_without_reports(fence, work):
    """Every notified operation, allowed or refused, gives the program the same result with -m
    (performed by init) as without (the kernel alone)."""
    (work / "ro").mkdir()
    code = r'''
import fcntl
def res(name, fn, *a):
    try:
        r = fn(*a)
        print(name, "OK", r if isinstance(r, (str, bool)) else "", flush=True)
    except OSError as e:
        print(name, "ERR", errno.errorcode.get(e.errno, e.errno), flush=True)
def opener(path, flags, mode=0o644):
    def go():
        fd = os.open(path, flags, mode)
        try:
            return stat.S_IFMT(os.fstat(fd).st_mode) == stat.S_IFREG
        finally:
            os.close(fd)
    return go
res("create", opener("f", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640))
res("mode", lambda: oct(os.stat("f").st_mode & 0o777))
res("excl-again", opener("f", os.O_WRONLY | os.O_CREAT | os.O_EXCL))
res("append", lambda: write("f", "data\n", "a"))
res("rdwr", opener("f", os.O_RDWR))
res("trunc", opener("f", os.O_RDONLY | os.O_TRUNC))
res("size", lambda: str(os.stat("f").st_size))
res("missing", opener("nodir/x", os.O_WRONLY | os.O_CREAT))
res("notdir", opener("f/x", os.O_WRONLY | os.O_CREAT))
res("isdir", opener("ro", os.O_WRONLY))
res("symlink", os.symlink, "f", "l")
res("nofollow", opener("l", os.O_WRONLY | os.O_NOFOLLOW))
res("follow", opener("l", os.O_WRONLY))
res("dangling", os.symlink, "target-missing", "d")
res("create-through-dangling", opener("d", os.O_WRONLY | os.O_CREAT))
res("excl-on-link", opener("d", os.O_WRONLY | os.O_CREAT | os.O_EXCL))
res("mkdir", os.mkdir, "sub")
res("mkdir-exists", os.mkdir, "sub")
res("rmdir-nonempty", lambda: (open("sub/x", "w").close(), os.rmdir("sub"))[1])
res("unlink-dir", os.unlink, "sub")
res("rmdir-file", os.rmdir, "f")
res("rename", os.rename, "f", "g")
res("rename-missing", os.rename, "f", "h")
res("link", os.link, "g", "hard")
res("link-exists", os.link, "g", "hard")
res("truncate", os.truncate, "g", 2)
res("size2", lambda: str(os.stat("g").st_size))
res("truncate-dir", os.truncate, "sub", 0)
res("truncate-missing", os.truncate, "nope", 0)
res("mkfifo", os.mkfifo, "p")
res("unlinkat", lambda: os.unlink("x", dir_fd=os.open("sub", os.O_RDONLY)))
res("dev-null", opener("/dev/null", os.O_WRONLY))
res("stdout", lambda: write("/dev/stdout", "via-dev-stdout\n", "a"))
res("proc-fd", lambda: write(f"/proc/self/fd/1", "via-proc-fd\n", "a"))
res("etc", opener("/etc/fence-monitor-test", os.O_WRONLY | os.O_CREAT))
res("etc-passwd", opener("/etc/passwd", os.O_WRONLY))
res("etc-unlink", os.unlink, "/etc/passwd")
res("usr-mkdir", os.mkdir, "/usr/fence-monitor-test")
res("usr-rename", os.rename, "/etc/passwd", "/etc/passwd2")
res("etc-truncate", os.truncate, "/etc/passwd", 0)
res("proc-write", opener("/proc/self/oom_score_adj", os.O_WRONLY))
res("init-mem", opener("/proc/1/mem", os.O_RDONLY | os.O_CREAT))
res("init-fd", opener("/proc/1/fd/0", os.O_WRONLY))
res("tmp", opener("/tmp/x", os.O_WRONLY | os.O_CREAT))
res("cleanup", lambda: [os.unlink(n) for n in ("g", "hard", "l", "d", "p", "/tmp/x")] and "done")
'''
    plain = fence.py(code, config=CWD_WRITABLE)
    assert_started(plain)
    for f in work.iterdir():
        if f.is_dir() and f.name != "ro":
            for g in f.iterdir():
                g.unlink()
            f.rmdir()
        elif not f.is_dir():
            f.unlink()
    monitored = fence.py(code, config=CWD_WRITABLE, flags=["-m"])
    assert_started(monitored)
    assert monitored.stdout == plain.stdout, fmt(plain) + fmt(monitored)
    assert monitored.returncode == plain.returncode == 0, fmt(monitored)
    # Sanity: the script exercised both outcomes.
    assert "create OK" in plain.stdout and "etc ERR" in plain.stdout, fmt(plain)
    assert "via-dev-stdout" in plain.stdout and "via-proc-fd" in plain.stdout, fmt(plain)
    # Only the refusals by the policy are reported, all of them with paths.
    ops = {(op, path) for op, path, _ in fs_reports(monitored)}
    assert ("create", "/etc/fence-monitor-test") in ops, fmt(monitored)
    assert ("write", "/etc/passwd") in ops and ("unlink", "/etc/passwd") in ops, fmt(monitored)
    assert ("mkdir", "/usr/fence-monitor-test") in ops, fmt(monitored)
    assert ("truncate", "/etc/passwd") in ops, fmt(monitored)
    assert not [p for _, p in ops if p.startswith(str(work))], fmt(monitored)


def test_fifo_writer_waits_for_its_reader_under_reports(fence, work):
    """A write-only open of a FIFO blocks until a reader comes; init must not block with it."""
    cp = fence.sh(
        f"echo {STARTED}; mkfifo p; (sleep 0.3; cat p) & echo through-fifo > p; wait; "
        "echo done",
        config=CWD_WRITABLE, flags=["-m"], timeout=30)
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout.split() == [STARTED, "through-fifo", "done"], fmt(cp)


# --------------------------------------------------------------------------- syscall violations

UNSHARE_AND_PTRACE = r'''
CLONE_NEWUSER = 0x10000000
for name, nr, args in (("unshare", 272, (CLONE_NEWUSER,)), ("ptrace", 101, (0, 0, 0, 0)),
                       ("mount", 165, (0, 0, 0, 0, 0))):
    sysc(name, nr, *args)
sysc("getppid", 110)
'''


def test_denied_syscall_reported_with_unchanged_errno(fence):
    monitored = fence.py(UNSHARE_AND_PTRACE, flags=["-m"])
    plain = fence.py(UNSHARE_AND_PTRACE)
    assert_started(monitored)
    assert_started(plain)
    for name in ("unshare", "ptrace", "mount"):
        assert f"{name}: ERR EPERM" in plain.stdout, fmt(plain)
    # The program sees exactly the same results.
    assert monitored.stdout == plain.stdout, fmt(plain) + fmt(monitored)
    reports = syscall_reports(monitored)
    comm = Path(PY).name
    for name in ("unshare", "ptrace", "mount"):
        assert (name, comm) in reports, fmt(monitored)
    assert not [r for r in reports if r[0] == "getppid"], fmt(monitored)
    assert not fence_lines(plain.stderr, "[fence:"), fmt(plain)


def test_reports_never_reach_stdout(fence):
    cp = fence.py(UNSHARE_AND_PTRACE + "attempt('etc', write, '/etc/hosts')\n", flags=["-m"])
    assert_started(cp)
    assert "[fence:" not in cp.stdout, fmt(cp)
    assert syscall_reports(cp) and fs_reports(cp), fmt(cp)


def test_audit_log_has_violation_records(fence, tmp_path):
    audit = tmp_path / "audit.jsonl"
    cp = fence.py(UNSHARE_AND_PTRACE + "attempt('etc', write, '/etc/hosts')\n",
                  flags=["--audit-log", str(audit)])
    assert_started(cp)
    # Without -m/-d nothing is printed; the records go to the file.
    assert not fence_lines(cp.stderr, "[fence:"), fmt(cp)
    violations = [r for r in audit_records(audit) if r.get("event") == "violation"]
    comm = Path(PY).name
    fs = [r for r in violations if r.get("kind") == "filesystem"]
    sys_ = [r for r in violations if r.get("kind") == "syscall"]
    assert any(r.get("operation") == "write" and r.get("path") == "/etc/hosts" for r in fs), violations
    assert {"unshare", "ptrace", "mount"} <= {r.get("operation") for r in sys_}, violations
    for r in violations:
        assert isinstance(r.get("sandbox_pid"), int) and r["sandbox_pid"] > 1, r
        assert r.get("comm") == comm, r
        assert r.get("errno") in (1, 13, 30), r  # EPERM, EACCES, EROFS
    for r in sys_:
        assert "path" not in r, r


# ----------------------------------------------------------------------- runtime command policy

def fake_git(work: Path) -> Path:
    """A `git` first in PATH that leaves a marker when it runs."""
    bin_dir = work / "bin"
    bin_dir.mkdir()
    git = bin_dir / "git"
    git.write_text(f'#!/bin/sh\necho "$@" >> {work}/git-ran\necho fake-git "$@"\n')
    git.chmod(0o755)
    return bin_dir


def test_runtime_denied_command_in_shell_text_is_refused(fence, work):
    cp = fence.run(["sh", "-c", "x=push; git $x"], config=DENY_GIT_PUSH)
    # Refused before start (the policy reads `git $x` as possibly `git push`, exit 120) or at
    # run time (execve fails with EPERM): either way git never runs.
    assert cp.returncode != 0, fmt(cp)
    if cp.returncode != 120:
        assert "Operation not permitted" in cp.stderr, fmt(cp)
    assert "fatal" not in cp.stderr, fmt(cp)


def test_runtime_denied_command_in_script_file_is_refused(fence, work, tmp_path):
    bin_dir = fake_git(work)
    script = work / "deploy.sh"
    script.write_text("#!/bin/sh\ngit push origin main\necho after=$?\ngit status\n")
    script.chmod(0o755)
    audit = tmp_path / "audit.jsonl"
    env = {"PATH": f"{bin_dir}:{CLEAN_PATH}"}
    cp = fence.run(["sh", "deploy.sh"], config=DENY_GIT_PUSH, env=env,
                   flags=["-m", "--audit-log", str(audit)])
    assert cp.returncode == 0, fmt(cp)
    assert "Operation not permitted" in cp.stderr, fmt(cp)
    assert re.search(r"after=12[67]", cp.stdout), fmt(cp)
    # git push never ran; git status did (the policy is per command, not per program).
    assert (work / "git-ran").read_text().splitlines() == ["status"], fmt(cp)
    assert "fake-git status" in cp.stdout, fmt(cp)
    blocked = fence_lines(cp.stderr, "[fence:cmd] ✗")
    assert blocked and all("git push origin main" in l and 'rule "git push"' in l
                           for l in blocked), fmt(cp)
    records = [r for r in audit_records(audit) if r.get("event") == "command"]
    denied = [r for r in records if r.get("verdict") == "deny"]
    assert denied, records
    for r in denied:
        assert r.get("rule") == "git push", r
        assert r.get("argv") == ["git", "push", "origin", "main"], r
        assert r.get("source") == "exec", r
        assert r.get("comm") == "deploy.sh" or r.get("comm") == "sh", r
    assert any(r.get("verdict") == "allow" and r.get("argv") == ["git", "status"] for r in records), records
    # The script as the command itself: its own exec is fence's, its git push is not.
    cp = fence.run(["./deploy.sh"], config=DENY_GIT_PUSH, env=env)
    assert cp.returncode == 0 and "Operation not permitted" in cp.stderr, fmt(cp)
    assert (work / "git-ran").read_text().splitlines() == ["status", "status"], fmt(cp)


def test_runtime_policy_sees_through_a_spoofed_argv0(fence, work):
    bin_dir = fake_git(work)
    # bash's `exec -a NAME` sets argv[0]: git then runs `push` although argv reads `ls push`.
    (work / "spoof.sh").write_text("exec -a ls git push\n")
    cp = fence.run(["bash", "spoof.sh"], config=DENY_GIT_PUSH,
                   env={"PATH": f"{bin_dir}:{CLEAN_PATH}"})
    assert not (work / "git-ran").exists(), fmt(cp)


def test_allowed_commands_still_run_under_a_command_policy(fence, work):
    cp = fence.run(["sh", "-c", "git --version && env git --version && sh -c 'git --version'"],
                   config=DENY_GIT_PUSH, flags=["-m"])
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout.count("git version") == 3, fmt(cp)
    assert not fence_lines(cp.stderr, "[fence:cmd] ✗"), fmt(cp)


def test_many_execs_pending_at_once(fence, work):
    (work / "push.sh").write_text("git push 2>/dev/null; echo push=$?\n")
    cp = fence.sh(
        "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do (git --version >/dev/null && echo ok) & done; "
        "wait; sh push.sh",
        config=DENY_GIT_PUSH, timeout=60)
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout.split().count("ok") == 12, fmt(cp)
    assert re.search(r"push=12[67]", cp.stdout), fmt(cp)


def test_command_own_exec_is_not_asked_about(fence, work):
    cp = fence.run(["true"], config=DENY_GIT_PUSH, flags=["-d"])
    assert cp.returncode == 0, fmt(cp)
    assert not [l for l in fence_lines(cp.stderr, "[fence:cmd] ✓") if " exec " in l], fmt(cp)
    plan = "\n".join(fence_lines(cp.stderr, "[fence:"))
    assert "[fence:cmd] runtime command policy" in plan, fmt(cp)
    assert "notify: execve, execveat" in plan, fmt(cp)
    # A later exec is asked about (and, under -d, shown).
    cp = fence.sh("true; /bin/true", config=DENY_GIT_PUSH, flags=["-d"])
    assert cp.returncode == 0, fmt(cp)
    assert [l for l in fence_lines(cp.stderr, "[fence:cmd] ✓") if "/bin/true" in l], fmt(cp)


# ------------------------------------------------------------------- no listener unless needed

# seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, allow-all): the kernel
# allows one listener per filter chain, so this fails with EBUSY exactly when fence installed one.
PROBE_LISTENER = r'''
class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]
class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(SockFilter))]
allow = SockFilter(0x06, 0, 0, 0x7fff0000)
prog = SockFprog(1, ctypes.pointer(allow))
r = sysc("listener", 317, 1, 8, ctypes.byref(prog))
with open("/proc/self/status") as f:
    print([l.strip() for l in f if l.startswith("Seccomp")], flush=True)
'''


# allowAllUnixSockets: unix connects unmediated, so nothing else needs the listener.
NOTHING_NOTIFIED = {**NO_COMMAND_RULES, "network": {"allowAllUnixSockets": True}}


@pytest.mark.parametrize("case,config,flags,expect_listener", [
    ("nothing asked for", NOTHING_NOTIFIED, [], False),
    ("unix connects mediated (the default)", NO_COMMAND_RULES, [], True),
    ("monitor", NOTHING_NOTIFIED, ["-m"], True),
    ("debug", NOTHING_NOTIFIED, ["-d"], True),
    ("audit", NOTHING_NOTIFIED, ["--audit-log", "AUDIT"], True),
    ("default command rules", {"network": {"allowAllUnixSockets": True}}, [], True),
    ("missing protected names", {**NOTHING_NOTIFIED, **CWD_WRITABLE}, [], True),
])
def test_listener_installed_only_when_needed(fence, tmp_path, case, config, flags,
                                             expect_listener):
    flags = [str(tmp_path / "audit.jsonl") if f == "AUDIT" else f for f in flags]
    cp = fence.py(PROBE_LISTENER, config=config, flags=flags)
    assert_started(cp)
    assert "Seccomp_filters" in cp.stdout or "Seccomp:" in cp.stdout, fmt(cp)
    if expect_listener:
        assert "listener: ERR EBUSY" in cp.stdout, case + fmt(cp)
    else:
        assert re.search(r"listener: RET \d+", cp.stdout), case + fmt(cp)


def test_plan_describes_what_is_notified(fence):
    cp = fence.run(["true"], config=NO_COMMAND_RULES, flags=["-d"])
    assert cp.returncode == 0, fmt(cp)
    plan = fence_lines(cp.stderr, "[fence:seccomp]")
    text = "\n".join(plan)
    assert "violations reported" in text, fmt(cp)
    assert "[EPERM, reported]" in text and "O_WRONLY" in text, fmt(cp)
    assert "notify: execve" not in text, fmt(cp)
    assert not fence_lines(cp.stderr, "[fence:cmd] runtime command policy"), fmt(cp)


@pytest.mark.parametrize("line", [
    "x=push; git $x", "git -C . push", "env git push", "nice -n 5 git push",
    "timeout 5 git push", "echo push | xargs git", "bash --norc -c 'git push'",
    "echo $(git push)", "echo `git push`", "(git push)", "X=1 git push", "command git push",
    "sh -c \"sh -c 'git push'\"",
])
def test_runtime_refuses_the_bypass_spellings_inside_a_script(fence, work, line):
    """Preflight sees only `sh script.sh`; every git exec the script makes is checked."""
    bin_dir = fake_git(work)
    (work / "script.sh").write_text(line + "\necho script-ended\n")
    cp = fence.run(["sh", "script.sh"], config=DENY_GIT_PUSH,
                   env={"PATH": f"{bin_dir}:{CLEAN_PATH}"})
    assert "script-ended" in cp.stdout, fmt(cp)
    assert not (work / "git-ran").exists(), fmt(cp)
    assert "Operation not permitted" in cp.stderr, fmt(cp)


NON_DUMPABLE = r'''
import subprocess
libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0, as ssh, ssh-agent and gpg-agent do
'''


def test_non_dumpable_processes_are_checked_like_any_other(fence, work):
    # Init reads a notified process's memory; a non-dumpable one's /proc/PID/mem belongs to a
    # root that an unprivileged user's namespace does not map (the unprivileged run of this
    # test is the one that matters). Its execs, writes and refusals must work as for others.
    bin_dir = fake_git(work)
    cp = fence.py(NON_DUMPABLE + r'''
attempt('exec', lambda: subprocess.run(["/bin/echo", "ran"], capture_output=True, text=True).stdout.strip())
attempt('write', write, "out.txt")
attempt('refused-write', write, "/etc/hosts")
attempt('push', lambda: subprocess.run(["git", "push"], capture_output=True).returncode)
''', config={**DENY_GIT_PUSH, "filesystem": {"allowWrite": ["."]}}, flags=["-m"],
                  env={"PATH": f"{bin_dir}:{CLEAN_PATH}"})
    assert_started(cp)
    assert "exec: OK 'ran'" in cp.stdout, fmt(cp)
    assert "write: OK 'written'" in cp.stdout, fmt(cp)
    assert (work / "out.txt").read_text() == "pwned\n"
    assert "refused-write: ERR EROFS" in cp.stdout or "refused-write: ERR EACCES" in cp.stdout, fmt(cp)
    assert "push: ERR EPERM" in cp.stdout, fmt(cp)
    assert not (work / "git-ran").exists(), fmt(cp)
    assert "[fence:fs] ✗ write /etc/hosts" in cp.stderr, fmt(cp)
    assert fence_lines(cp.stderr, "[fence:cmd] ✗"), fmt(cp)


# ------------------------------------------------------------------------ --fence-log-file

def test_log_file_takes_the_lines_and_stderr_stays_clean(fence, tmp_path):
    log = tmp_path / "fence.log"
    cp = fence.sh("touch /etc/hosts 2>/dev/null; echo out; echo err >&2",
                  flags=["-m", "--fence-log-file", str(log)])
    assert cp.returncode == 0 and cp.stdout == "out\n", fmt(cp)
    assert cp.stderr == "err\n", fmt(cp)
    text = log.read_text()
    assert re.search(r"^\[fence:fs\] ✗ \S+ /etc/hosts \(touch, pid \d+\)$", text, re.M), text
    assert (log.stat().st_mode & 0o777) == 0o600
    # The variable does the same, and a second run appends.
    cp = fence.sh("touch /etc/passwd 2>/dev/null; true", flags=["-d"],
                  env={"FENCE_LOG_FILE": str(log)})
    assert cp.returncode == 0 and "[fence:" not in cp.stderr, fmt(cp)
    text = log.read_text()
    assert "/etc/hosts" in text and "/etc/passwd" in text and "[fence:cmd]" in text, text


def test_runs_inside_append_to_the_same_log_file(fence, work):
    """FENCE_LOG_FILE names the file inside, where it is writable (fence runs inside append),
    also in the private /tmp; nothing else next to it becomes writable."""
    for log in (work / "inner.log", Path("/tmp") / f"fence-log-{os.getpid()}.log"):
        try:
            cp = fence.sh('echo "$FENCE_LOG_FILE"; echo "nested line" >> "$FENCE_LOG_FILE"; '
                          'touch beside 2>/dev/null || echo "beside refused"',
                          flags=["-m", "--fence-log-file", str(log)])
            assert cp.returncode == 0, fmt(cp)
            assert cp.stdout.splitlines() == [str(log), "beside refused"], fmt(cp)
            assert "nested line\n" in log.read_text()
            assert not (work / "beside").exists()
        finally:
            log.unlink(missing_ok=True)


def test_log_file_at_a_protected_path_stays_read_only_inside(fence, work):
    """Asking fence to log into a protected file does not open it to the command."""
    (work / ".bashrc").write_text("# rc\n")
    cp = fence.sh('echo "bad" >> .bashrc 2>/dev/null || echo refused',
                  flags=["-m", "--fence-log-file", str(work / ".bashrc")],
                  config={"filesystem": {"allowWrite": ["."]}})
    assert cp.returncode == 0 and cp.stdout == "refused\n", fmt(cp)
    assert "bad" not in (work / ".bashrc").read_text()


def test_log_file_through_a_planted_symlink_is_refused(fence, work, tmp_path):
    target = tmp_path / "victim"
    target.write_text("keep\n")
    (work / "fence.log").symlink_to(target)
    cp = fence.sh("touch /etc/hosts; echo ran", flags=["-m", "--fence-log-file", "fence.log"])
    assert cp.returncode == 122 and "ran" not in cp.stdout, fmt(cp)
    assert "cannot open log file" in cp.stderr, fmt(cp)
    assert target.read_text() == "keep\n"
    # Inherited by a run (FENCE_LOG_FILE), the same file is not used either: the lines go to
    # stderr with one warning, and the run happens.
    cp = fence.sh("touch /etc/hosts 2>/dev/null; echo ran", flags=["-m"],
                  env={"FENCE_LOG_FILE": str(work / "fence.log")})
    assert cp.returncode == 0 and cp.stdout == "ran\n", fmt(cp)
    assert "fence: FENCE_LOG_FILE: cannot open log file" in cp.stderr, fmt(cp)
    assert "[fence:fs] ✗" in cp.stderr and target.read_text() == "keep\n", fmt(cp)


def test_log_file_name_with_pattern_characters_opens_nothing_else(fence, work):
    """allowWrite entries are patterns; the log file is one file: a name with * or ? does not
    make its matches writable."""
    (work / "README").write_text("keep\n")
    cp = fence.sh("echo pwned >> README 2>/dev/null || echo refused",
                  flags=["-m", "--fence-log-file", str(work / "*")])
    assert cp.returncode == 0 and cp.stdout == "refused\n", fmt(cp)
    assert (work / "README").read_text() == "keep\n"
