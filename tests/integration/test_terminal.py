"""Terminals: fence under a real pty is usable (prompt, Ctrl-C, job control, window size) while
terminal injection (TIOCSTI, also with high bits set; TIOCLINUX) is blocked."""

import fcntl
import os
import pty
import re
import select
import shutil
import stat
import struct
import subprocess
import termios
import time

import pytest

from conftest import PRELUDE, PY, processes_with, wait_until


def set_winsize(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class PtySession:
    def __init__(self, argv, env, cwd, rows=24, cols=80):
        self.master, slave = pty.openpty()
        self.slave_name = os.ttyname(slave)
        set_winsize(slave, rows, cols)

        def make_ctty():
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd,
                                     env=env, start_new_session=True, preexec_fn=make_ctty)
        os.close(slave)
        self.buf = b""   # not yet consumed by expect()
        self.log = b""   # everything read

    def _pump(self, timeout):
        r, _, _ = select.select([self.master], [], [], timeout)
        if not r:
            return False
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the other side is gone
            return None
        if not chunk:
            return None
        self.buf += chunk
        self.log += chunk
        return True

    def expect(self, pattern, timeout=15):
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m
            left = deadline - time.monotonic()
            if left <= 0 or self._pump(min(left, 0.2)) is None:
                m = rx.search(self.buf)
                if m:
                    return m
                raise AssertionError(f"pattern {pattern!r} not seen; output so far: {self.log!r}")

    def send(self, data):
        os.write(self.master, data.encode() if isinstance(data, str) else data)

    def drain(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self._pump(0.05) is None:
                break

    def wait(self, timeout=15):
        end = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < end:
            self._pump(0.1)
        return self.proc.wait(timeout=max(0.1, end - time.monotonic()))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


@pytest.fixture
def pty_fence(fence):
    sessions = []

    def start(args, config=None, rows=24, cols=80, flags=()):
        env = fence.env({"TERM": "xterm", "PS1": "PROMPT$ "})
        argv = fence.argv(["--", *args], config, flags)
        s = PtySession(argv, env, str(fence.work), rows, cols)
        sessions.append(s)
        return s

    yield start
    for s in sessions:
        s.close()


def shell_argv():
    bash = shutil.which("bash")
    return [bash, "--norc", "--noprofile", "-i"] if bash else ["/bin/sh", "-i"]


def test_stdin_is_a_tty(pty_fence):
    s = pty_fence(["sh", "-c", "tty; test -t 0 && test -t 1 && echo both-ttys"])
    s.expect(r"both-ttys")
    assert s.wait() == 0


def test_dev_stdout_stderr_and_tty_work_on_a_terminal(pty_fence, work):
    """`echo x > /dev/stderr` (and /dev/stdout, /proc/self/fd/N, /dev/tty) reach the terminal,
    also when a writable tree sends write-intent opens through init, without -m reports."""
    script = ("echo A > /dev/stderr && echo B > /dev/stdout && echo C > /proc/self/fd/1 && "
              "echo D > /dev/tty && echo E >> /dev/stderr && echo done-$?")
    for config in (None, {"filesystem": {"allowWrite": ["."]}}):
        s = pty_fence(["bash", "-c", script], config=config, flags=["-m"])
        s.expect(r"done-0")
        assert s.wait() == 0
        out = s.log.decode(errors="replace")
        for line in "ABCDE":
            assert re.search(rf"^{line}\r?$", out, re.M), out
        assert "[fence:fs]" not in out and "Permission denied" not in out, out


def test_stdio_files_can_be_reopened_with_their_own_access_only(fence, work, tmp_path):
    """A file given as stdout can be reopened for writing by path, not for reading; one given
    as stdin for reading, not for writing."""
    out = tmp_path / "out.txt"
    src = tmp_path / "in.txt"
    src.write_text("input\n")
    with open(out, "a") as o, open(src) as i:
        cp = subprocess.run(
            fence.argv(["--", "bash", "-c",
                        "echo one > /dev/stdout; echo two >> /dev/stdout; cat /dev/stdin; "
                        "cat /dev/stdout 2>/dev/null || echo no-read >&2; "
                        "echo x 2>/dev/null >> /dev/stdin || echo no-write >&2"]),
            stdin=i, stdout=o, stderr=subprocess.PIPE, text=True, env=fence.env(), cwd=work,
            timeout=30)
    assert out.read_text() == "one\ntwo\ninput\n", cp.stderr
    assert "no-read" in cp.stderr and "no-write" in cp.stderr, cp.stderr
    assert src.read_text() == "input\n"


def test_tty_and_ttyname_name_the_terminal_and_no_other(pty_fence):
    """tty(1) and ttyname(3) work inside (password prompts, gpg's pinentry need them), while
    the host's other terminals stay out of sight."""
    other_master, other_slave = pty.openpty()
    other = os.ttyname(other_slave)
    try:
        s = pty_fence(["sh", "-c", "tty; python3 -c 'import os; print(\"name\", os.ttyname(2))'; "
                                   "ls /dev/pts; echo listed"])
        s.expect(r"listed")
        assert s.wait() == 0
        out = s.log.decode(errors="replace").replace("\r", "")
        lines = out.splitlines()
        assert lines[0] == s.slave_name, out
        assert f"name {s.slave_name}" in lines, out
        assert lines[lines.index("listed") - 1] == s.slave_name.rsplit("/", 1)[1], out
        assert other.rsplit("/", 1)[1] not in lines[2:lines.index("listed")], out
        # With allowPty the sandbox has its own pty instance instead (new ptys for tmux).
        s = pty_fence(["sh", "-c", "test -c /dev/pts/ptmx && echo own-instance"],
                      config={"allowPty": True})
        s.expect(r"own-instance")
        assert s.wait() == 0
    finally:
        os.close(other_master)
        os.close(other_slave)


def test_terminal_of_the_session_unreachable_when_no_stdio_is_it(fence, tmp_path):
    """`fence cmd </dev/null >log` run from a terminal: the command gets no /dev/tty, so it
    cannot read the user's keystrokes or write to the screen."""
    master, slave = pty.openpty()

    def make_ctty():
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    out = tmp_path / "out.txt"
    try:
        with open(out, "w") as o:
            proc = subprocess.Popen(
                fence.argv(["--", PY, "-c", PRELUDE + "\nattempt('tty', lambda: open('/dev/tty', 'rb').read(1))"]),
                stdin=subprocess.DEVNULL, stdout=o, stderr=subprocess.STDOUT, env=fence.env(),
                cwd=fence.work, preexec_fn=make_ctty, pass_fds=(slave,))
            os.write(master, b"typed-secret\n")
            assert proc.wait(timeout=30) == 0
        assert "tty: ERR ENOENT" in out.read_text(), out.read_text()
    finally:
        os.close(master)
        os.close(slave)


def test_the_terminal_cannot_be_chmodded_by_its_name(pty_fence):
    s = pty_fence(["sh", "-c", "tty; chmod 666 $(tty) 2>/dev/null || echo refused"])
    s.expect(r"refused")
    assert s.wait() == 0
    assert s.slave_name in s.log.decode(errors="replace"), s.log
    assert stat.S_IMODE(os.stat(s.slave_name).st_mode) != 0o666


def test_window_size_is_passed(pty_fence):
    s = pty_fence(["stty", "size"], rows=37, cols=101)
    s.expect(r"37 101")
    assert s.wait() == 0


def test_interactive_shell(pty_fence):
    s = pty_fence(shell_argv())
    s.send("echo hi-$((1+2))\n")
    s.expect(r"hi-3")
    s.send("exit 5\n")
    assert s.wait() == 5
    out = s.log.decode(errors="replace")
    assert "no job control" not in out and "cannot set terminal process group" not in out, out


def test_interactive_shell_has_job_control(pty_fence):
    if not shutil.which("bash"):
        pytest.skip("bash not installed")
    s = pty_fence(shell_argv())
    s.send("echo start-$((4+4))\n")
    s.expect(r"start-8")
    s.send("sleep 100 &\n")
    s.send("jobs\n")
    s.expect(r"Running\s+sleep 100")
    s.send("kill %1; wait; echo jc-$((3+4))\n")
    s.expect(r"jc-7")
    # Ctrl-Z stops the foreground job
    s.send("sleep 101\n")
    # ^Z only stops a job that is running: wait for it instead of guessing a delay.
    assert wait_until(lambda: processes_with("sleep 101"), 10), "sleep 101 never started"
    time.sleep(0.1)
    s.send(b"\x1a")
    s.expect(r"Stopped\s+sleep 101")
    # fg brings it back under the terminal; ^C then ends it (killing a stopped job instead
    # races with bash's own bookkeeping of job states).
    s.send("fg\n")
    s.expect(r"sleep 101")
    time.sleep(0.2)
    s.send(b"\x03")
    s.send("echo z-$((1+1))\n")
    s.expect(r"z-2")
    s.send("exit 0\n")
    try:
        assert s.wait() == 0
    except subprocess.TimeoutExpired:
        raise AssertionError(f"shell did not exit; output: {s.log!r}")
    assert b"no job control" not in s.log and b"cannot set terminal process group" not in s.log


def test_ctrl_c_interrupts_foreground_job(pty_fence):
    s = pty_fence(shell_argv())
    s.send("echo ready-$((1+1))\n")
    s.expect(r"ready-2")
    s.send("sleep 100\n")
    assert wait_until(lambda: processes_with("sleep 100"), 10), "sleep 100 never started"
    time.sleep(0.1)
    s.send(b"\x03")
    s.send("echo after-$((2*3))\n")
    s.expect(r"after-6", timeout=10)
    s.send("exit 0\n")
    assert s.wait() == 0


def test_window_resize_is_propagated(pty_fence):
    s = pty_fence(shell_argv(), rows=24, cols=80)
    s.send("stty size\n")
    s.expect(r"24 80")
    set_winsize(s.master, 50, 132)
    time.sleep(0.5)
    s.send("stty size\n")
    s.expect(r"50 132")
    s.send("exit 0\n")
    assert s.wait() == 0


TIOCSTI_PROBE = r'''
import tty, termios, select, fcntl
TIOCSTI = 0x5412
TIOCLINUX = 0x541C
tty.setraw(0)
libc.ioctl.restype = ctypes.c_int
def io(name, req, arg):
    ctypes.set_errno(0)
    r = libc.ioctl(0, ctypes.c_ulong(req), arg)
    e = ctypes.get_errno()
    sys.stdout.write(f"{name}: {'OK' if r == 0 else 'ERR ' + _en(e)}\r\n")
    sys.stdout.flush()
io('tiocsti', TIOCSTI, ctypes.c_char_p(b'X'))
io('tiocsti-high', TIOCSTI | (1 << 32), ctypes.c_char_p(b'Y'))
io('tiocsti-high2', TIOCSTI | (0xdead << 32), ctypes.c_char_p(b'Z'))
sub = ctypes.create_string_buffer(b'\x06\x00')   # TIOCL_GETFGCONSOLE-ish subcode
io('tioclinux', TIOCLINUX, sub)
r, _, _ = select.select([0], [], [], 0.7)
data = os.read(0, 100) if r else b''
sys.stdout.write(f"INJECTED={data!r}\r\n")
sys.stdout.flush()
'''


def test_tiocsti_and_tioclinux_blocked(pty_fence):
    s = pty_fence([PY, "-c", PRELUDE + TIOCSTI_PROBE])
    m = s.expect(r"INJECTED=(b'[^']*')")
    s.wait()
    text = s.log.decode(errors="replace")
    for name in ("tiocsti", "tiocsti-high", "tiocsti-high2", "tioclinux"):
        assert f"{name}: OK" not in text, f"{name} succeeded inside the sandbox: {text!r}"
    assert m.group(1) == b"b''", f"terminal input was injected: {text!r}"
