"""Process hardening: capabilities, NO_NEW_PRIVS, seccomp, nested namespaces, fds, environment,
pid namespace lifetime, signal forwarding, non-dumpable processes, fail-closed setup."""

import hashlib
import json
import os
import sys
import platform
import re
import select
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import (EXIT_SETUP, PY, STARTED, assert_started, fence_error_lines, fmt,
                      kill_marked, processes_with, wait_until)

X86_64 = platform.machine() == "x86_64"


def status_fields(text):
    fields = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            fields[k.strip()] = v.strip()
    return fields


def test_capabilities_nnp_seccomp(fence):
    cp = fence.run(["cat", "/proc/self/status"])
    assert cp.returncode == 0, fmt(cp)
    f = status_fields(cp.stdout)
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(f[cap], 16) == 0, f"{cap} = {f[cap]}" + fmt(cp)
    assert "NoNewPrivs:\t1" in cp.stdout, fmt(cp)
    assert f["Seccomp"] == "2", fmt(cp)


def test_uid_gid_map_to_invoking_user(fence):
    cp = fence.sh("id -u; id -g")
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout.split() == [str(os.getuid()), str(os.getgid())], fmt(cp)


def test_nested_user_namespace_denied(fence):
    # Host control: the machine allows user namespaces (otherwise this test is vacuous).
    host = subprocess.run(["unshare", "-U", "true"], capture_output=True, timeout=10)
    # The command policy's default list refuses `unshare` itself; switched off here so that
    # the kernel-level refusal (seccomp, max_user_namespaces=0) is what is tested.
    cp = fence.sh(f"echo {STARTED}; unshare -U true && echo NESTED-U-OK; unshare -r true && echo NESTED-R-OK; "
                  "unshare -Ur unshare -U true && echo NESTED-2-OK; true",
                  config={"command": {"useDefaults": False}})
    assert_started(cp)
    assert "NESTED" not in cp.stdout, fmt(cp)
    if host.returncode != 0:
        pytest.skip("host cannot create user namespaces: check is vacuous here")


def test_nested_namespaces_via_unshare_syscall(fence):
    # unshare(2) through ctypes (os.unshare needs Python >= 3.12)
    cp = fence.py(
        "def unshare(flags):\n"
        "    if libc.unshare(ctypes.c_int(flags)) != 0:\n"
        "        e = ctypes.get_errno(); raise OSError(e, os.strerror(e))\n"
        "attempt('newuser', unshare, 0x10000000)\n"            # CLONE_NEWUSER
        "attempt('newns', unshare, 0x00020000)\n"              # CLONE_NEWNS
        "attempt('newnet', unshare, 0x40000000)\n"             # CLONE_NEWNET
        "attempt('newuser-ns', unshare, 0x10000000 | 0x00020000)\n")
    for name in ("newuser", "newns", "newnet", "newuser-ns"):
        assert f"{name}: ERR" in cp.stdout or cp.returncode == 128 + 31, fmt(cp)


def test_max_user_namespaces_zero_inside(fence):
    cp = fence.run(["cat", "/proc/sys/user/max_user_namespaces"])
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout.strip() == "0", fmt(cp)


# WARNING: these probes are meant to run INSIDE the sandbox only. Never run them directly on the
# host as root (mount/pivot_root/keyctl would act on the real system).
SECCOMP_PROBES = {
    # name: (code that performs the syscall with arguments that would succeed unfiltered,
    #        allowed errnos; None = any failure)
    "io_uring_setup": ("buf = ctypes.create_string_buffer(120)\n"
                       "r = sysc('x', 425, ctypes.c_uint(1), buf)\n", {"EPERM"}),
    "clone3": ("r = sysc('x', 435, ctypes.c_void_p(0), ctypes.c_size_t(0))\n", {"ENOSYS"}),
    "ptrace_traceme": ("r = sysc('x', 101, 0, 0, 0, 0)\n", None),
    "add_key": ("r = sysc('x', 248, b'user', b'fence-itest', b'data', ctypes.c_size_t(4), "
                "ctypes.c_int(-2))\n", None),
    "keyctl": ("r = sysc('x', 250, 0, ctypes.c_int(-2), 1)\n", None),
    "request_key": ("r = sysc('x', 249, b'user', b'fence-itest', ctypes.c_void_p(0), 0)\n", None),
    "userfaultfd": ("r = sysc('x', 323, 1 | os.O_CLOEXEC)\n", None),
    "process_vm_readv": (
        "class iovec(ctypes.Structure):\n"
        "    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]\n"
        "src = ctypes.create_string_buffer(b'abcdefgh'); dst = ctypes.create_string_buffer(8)\n"
        "l = iovec(ctypes.cast(dst, ctypes.c_void_p), 8); rm = iovec(ctypes.cast(src, ctypes.c_void_p), 8)\n"
        "r = sysc('x', 310, os.getpid(), ctypes.byref(l), 1, ctypes.byref(rm), 1, 0)\n", None),
    "personality": ("r = sysc('x', 135, 0x0400000)\n"      # READ_IMPLIES_EXEC
                    "r2 = libc.syscall(135, ctypes.c_ulong(0xffffffff))\n"
                    "print('persona', hex(r2))\n", None),
    "fsopen": ("r = sysc('x', 430, b'tmpfs', 0)\n", None),
    "open_tree": ("r = sysc('x', 428, -100, b'/', 1)\n", None),
    # The target is a fresh directory in the sandbox's private /tmp.
    "mount": ("os.makedirs('/tmp/fence-itest-mnt', exist_ok=True)\n"
              "r = sysc('x', 165, b'none', b'/tmp/fence-itest-mnt', b'tmpfs', 0, ctypes.c_void_p(0))\n",
              None),
    "pivot_root": ("r = sysc('x', 155, b'/', b'/')\n", None),
    "bpf": ("attr = ctypes.create_string_buffer(128)\n"
            "r = sysc('x', 321, 0, attr, 128)\n", None),   # BPF_MAP_CREATE with zero attr
    "perf_event_open": ("attr = ctypes.create_string_buffer(128)\n"
                        "ctypes.memmove(attr, (1).to_bytes(4, 'little') + (128).to_bytes(4, 'little'), 8)\n"
                        "r = sysc('x', 298, attr, 0, -1, -1, 0)\n", None),  # sw cpu-clock, self
    "x32_getpid": ("r = sysc('x', 0x40000000 + 39)\n", None),
}


@pytest.mark.skipif(not X86_64, reason="syscall numbers are x86_64")
@pytest.mark.parametrize("probe", list(SECCOMP_PROBES))
def test_dangerous_syscall_blocked(fence, probe):
    code, errnos = SECCOMP_PROBES[probe]
    cp = fence.py(code)
    killed = cp.returncode == 128 + 31  # SIGSYS
    if killed:
        assert errnos is None, f"expected errno {errnos}, process was killed instead" + fmt(cp)
        return
    assert "x: RET" not in cp.stdout, f"{probe} succeeded inside the sandbox" + fmt(cp)
    m = re.search(r"x: ERR (\w+)", cp.stdout)
    assert m, fmt(cp)
    if errnos is not None:
        assert m.group(1) in errnos, f"{probe}: errno {m.group(1)}, expected {errnos}" + fmt(cp)
    if probe == "personality":
        p = re.search(r"persona (0x[0-9a-f]+)", cp.stdout)
        assert p and int(p.group(1), 16) & 0x0400000 == 0, fmt(cp)


def test_threads_and_subprocesses_still_work(fence):
    # clone3 -> ENOSYS must make libc fall back to clone; fork/exec/threads keep working.
    cp = fence.py(
        "import threading, subprocess\n"
        "out = []\n"
        "ts = [threading.Thread(target=lambda i=i: out.append(i)) for i in range(8)]\n"
        "[t.start() for t in ts]; [t.join() for t in ts]\n"
        "print('threads', sorted(out) == list(range(8)))\n"
        "print('sub', subprocess.run(['sh', '-c', 'echo child'], capture_output=True, text=True).stdout.strip())\n"
        "a, b = socket.socketpair(); a.send(b'sp'); print('socketpair', b.recv(2))\n")
    assert cp.returncode == 0, fmt(cp)
    assert "threads True" in cp.stdout and "sub child" in cp.stdout, fmt(cp)
    assert "socketpair b'sp'" in cp.stdout, fmt(cp)


@pytest.mark.skipif(not X86_64, reason="int 0x80 is x86")
def test_int80_i386_syscall_blocked(fence, work):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler")
    src = work / "int80.c"
    src.write_text(
        "#include <stdio.h>\n"
        "int main(void) {\n"
        "  long r;\n"
        "  __asm__ volatile(\"int $0x80\" : \"=a\"(r) : \"a\"(20L) : \"memory\");  /* i386 getpid */\n"
        "  printf(\"int80 returned %ld\\n\", r);\n"
        "  return 0;\n"
        "}\n")
    exe = work / "int80"
    subprocess.run([cc, "-O0", "-o", str(exe), str(src)], check=True, timeout=60)
    host = subprocess.run([str(exe)], capture_output=True, text=True, timeout=10)
    cp = fence.run([str(exe)])
    # Either SIGSYS (exit 159) or a refused call (negative return); never a real getpid.
    m = re.search(r"int80 returned (-?\d+)", cp.stdout)
    assert cp.returncode == 128 + 31 or (m and int(m.group(1)) < 0), fmt(cp)
    assert not (m and int(m.group(1)) > 0), "int 0x80 getpid succeeded inside" + fmt(cp)
    if "returned" not in host.stdout or int(host.stdout.split()[-1]) <= 0:
        pytest.skip("host kernel has no IA32 emulation: check is vacuous here")


def test_stray_fds_are_closed(fence, tmp_path):
    leak = open(tmp_path / "leaked-file", "w")
    r, w = os.pipe()
    os.set_inheritable(leak.fileno(), True)
    high = os.dup2(leak.fileno(), 77, inheritable=True)
    sock_a, sock_b = __import__("socket").socketpair()
    try:
        cp = fence.py(
            "fds = []\n"
            "for fd in range(3, 4096):\n"
            "    try:\n"
            "        os.fstat(fd); fds.append(fd)\n"
            "    except OSError:\n"
            "        pass\n"
            "print('FDS', fds)\n"
            "print('LINKS', [os.readlink(f'/proc/self/fd/{fd}') for fd in fds])\n"
            "print('LIST', sorted(int(x) for x in os.listdir('/proc/self/fd')))\n",
            pass_fds=(leak.fileno(), r, w, high, sock_a.fileno()))
        assert cp.returncode == 0, fmt(cp)
        assert "FDS []" in cp.stdout, "inherited fds leaked into the sandbox" + fmt(cp)
        listed = json.loads(re.search(r"LIST (\[.*\])", cp.stdout).group(1))
        # 0 1 2 plus the directory fd that listdir itself opened
        assert listed[:3] == [0, 1, 2] and len(listed) <= 4, fmt(cp)
    finally:
        leak.close()
        for fd in (r, w, high):
            os.close(fd)
        sock_a.close()
        sock_b.close()


def test_environment_is_sanitized(fence):
    dangerous = {
        "LD_PRELOAD": "/nonexistent/fence-itest-preload.so",
        "LD_LIBRARY_PATH": "/nonexistent/lib",
        "LD_AUDIT": "/nonexistent/fence-itest-audit.so",
        "LD_BIND_NOW": "1",
        "LD_FENCE_ITEST_ANY": "1",
        "DYLD_INSERT_LIBRARIES": "/nonexistent/x.dylib",
        "DYLD_LIBRARY_PATH": "/nonexistent",
        "GCONV_PATH": "/nonexistent/gconv",
        "HOSTALIASES": "/nonexistent/hostaliases",
        "RES_OPTIONS": "ndots:7",
        "LOCALDOMAIN": "fence-itest.invalid",
        "LOCPATH": "/nonexistent/locale",
        "NLSPATH": "/nonexistent/nls",
        "MALLOC_TRACE": "/nonexistent/mtrace",
        "RESOLV_HOST_CONF": "/nonexistent/host.conf",
        "NIS_PATH": "/nonexistent/nis",
        "GETCONF_DIR": "/nonexistent/getconf",
    }
    kept = {"FOO": "bar", "FENCE_ITEST_SPACES": "a b  c", "FENCE_ITEST_EMPTY": ""}
    cp = fence.py("print('ENV', json.dumps(dict(os.environ)))", env={**dangerous, **kept})
    assert cp.returncode == 0, fmt(cp)
    env = json.loads(re.search(r"^ENV (.*)$", cp.stdout, re.M).group(1))
    leaked = sorted(k for k in dangerous if k in env)
    assert not leaked, f"dangerous variables reached the command: {leaked}" + fmt(cp)
    for k, v in kept.items():
        assert env.get(k) == v, f"{k} not kept" + fmt(cp)
    assert env.get("FENCE_SANDBOX") == "1", fmt(cp)
    assert env.get("PATH"), fmt(cp)
    assert env.get("HOME") == str(fence.home), fmt(cp)


# ---- pid namespace and lifetime -----------------------------------------------------------------

def test_command_runs_under_an_init(fence):
    cp = fence.sh("echo $$; cat /proc/1/cmdline | tr '\\0' ' '")
    assert cp.returncode == 0, fmt(cp)
    pid = int(cp.stdout.split()[0])
    assert pid <= 3, f"command pid {pid} in the sandbox" + fmt(cp)
    assert pid != 1, "the command must not be PID 1 itself (the launcher is init)" + fmt(cp)


def test_cannot_see_host_processes(fence):
    cp = fence.run(["ps", "-e", "-o", "pid=,comm="]) if shutil.which("ps") else None
    if cp is None:
        pytest.skip("no ps")
    assert cp.returncode == 0, fmt(cp)
    assert len(cp.stdout.splitlines()) <= 4, fmt(cp)


def _read_line(stream, timeout):
    deadline = time.monotonic() + timeout
    buf = b""
    fd = stream.fileno()
    while time.monotonic() < deadline and b"\n" not in buf:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buf += chunk
    return buf.decode(errors="replace")


def test_sandbox_dies_with_fence(fence):
    marker = f"31337.{uuid.uuid4().int % 10**9}"
    script = (f"sleep {marker} & "
              f"(setsid sleep {marker} > /dev/null 2>&1 &) ; "
              f"nohup sh -c 'trap \"\" HUP TERM INT; sleep {marker}' > /dev/null 2>&1 & "
              "echo started; wait")
    p = fence.popen(["sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = _read_line(p.stdout, 15)
        assert "started" in line, f"sandbox did not start: {line!r} {p.stderr.read() if p.poll() is not None else ''}"
        assert wait_until(lambda: len([q for q in processes_with(f"sleep {marker}")]) >= 3, 5), \
            "could not see the sandboxed sleeps from the host"
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=10)
        survived = not wait_until(lambda: not processes_with(marker), 5)
        assert not survived, f"sandbox processes survived fence: {processes_with(marker)}"
    finally:
        kill_marked(marker)
        if p.poll() is None:
            p.kill()
            p.wait()


def test_no_orphans_after_command_exits(fence):
    marker = f"31338.{uuid.uuid4().int % 10**9}"
    start = time.monotonic()
    try:
        cp = fence.sh(f"(setsid sleep {marker} > /dev/null 2>&1 &); sleep {marker} > /dev/null 2>&1 & "
                      "echo main-done", timeout=30)
        elapsed = time.monotonic() - start
        assert cp.returncode == 0 and "main-done" in cp.stdout, fmt(cp)
        assert elapsed < 20, "fence waited for background children"
        assert wait_until(lambda: not processes_with(marker), 5), \
            f"orphans survived the run: {processes_with(marker)}"
    finally:
        kill_marked(marker)


# Runs each fence command line as a child of a subreaper (a container's init that reaps, or
# one that does not: either way what fence leaves behind becomes this process's child), and
# prints each exit status and how many processes fence left to it.
SUBREAPER = r'''
import ctypes, glob, json, os, subprocess, sys
assert ctypes.CDLL(None).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
def children():
    out = []
    for f in glob.glob(f"/proc/{os.getpid()}/task/*/children"):
        out += [int(p) for p in open(f).read().split()]
    return out
results = []
for argv in json.loads(sys.argv[1]):
    code = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, timeout=60).returncode
    left = children()
    names = []
    for pid in left:
        try:
            names.append(open(f"/proc/{pid}/comm").read().strip())
        except OSError:
            names.append("?")
        os.waitpid(pid, 0)
    results.append([code, names])
print(json.dumps(results))
'''


def test_fence_reaps_every_process_it_started(fence, tmp_path, work):
    """fence exits only after every process it started has been reaped: under a subreaper
    (a container whose init does not reap) no launcher, init or worker is left behind, and
    the exit status is unchanged."""
    cfg = fence.write_config({"filesystem": {"allowWrite": ["."]},
                              "network": {"allowedDomains": ["example.com"]},
                              "command": {"deny": ["git push"]}})
    bad = fence.write_config("{")
    cases = [
        (["true"], [], 0),
        (["sh", "-c", "exit 7"], [], 7),
        (["sh", "-c", "sleep 30 & kill -9 $$"], [], 137),
        (["sh", "-c", "touch x; exit 3"], ["-m"], 3),
        (["no-such-command-anywhere"], [], 127),
        (["git", "push"], [], 120),
        (["true"], ["-s", str(bad)], 122),
        (["true"], ["-p", "1"], 121 if os.getuid() != 0 else 0),
    ]
    argvs, expected = [], []
    for args, flags, code in cases:
        argvs.append([str(fence.bin), *(flags if "-s" in flags else ["-s", str(cfg), *flags]),
                      "--", *args])
        expected.append(code)
    for _ in range(10):
        argvs.append([str(fence.bin), "-s", str(cfg), "--", "true"])
        expected.append(0)
    cp = subprocess.run([sys.executable, "-c", SUBREAPER, json.dumps(argvs)], cwd=work,
                        env=fence.env(), capture_output=True, text=True, timeout=300)
    assert cp.returncode == 0, fmt(cp)
    results = json.loads(cp.stdout)
    assert [r[0] for r in results] == expected, results
    left = [(argv, r[1]) for argv, r in zip(argvs, results) if r[1]]
    assert not left, f"processes left to the subreaper: {left}"


def test_fence_does_not_wait_for_children_it_inherited(fence):
    # A shell that execs fence leaves its background job as fence's child: not fence's to reap.
    argv = " ".join(fence.argv(["--", "true"], config={}))
    start = time.monotonic()
    cp = subprocess.run(["sh", "-c", f"sleep 20 >/dev/null 2>&1 & exec {argv}"], env=fence.env(),
                        cwd=fence.work, capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, fmt(cp)
    assert time.monotonic() - start < 10, "fence waited for a child it did not start"


def children_of(pid: int) -> list[int]:
    out = []
    for f in Path(f"/proc/{pid}/task").glob("*/children"):
        out += [int(p) for p in f.read_text().split()]
    return out


def test_helpers_hold_no_handle_on_fence_streams(fence, tmp_path):
    """The proxy worker (which parses hostile bytes) and the launcher get /dev/null as their
    standard streams; only the command gets fence's, here files such as a CI log."""
    if os.geteuid() != 0:
        pytest.skip("fence's helpers are non-dumpable: only root can list their descriptors")
    out, errf = tmp_path / "out.log", tmp_path / "err.log"
    with open(out, "w") as o, open(errf, "w") as e:
        p = fence.popen(["sh", "-c", "echo ready; sleep 30"], stdout=o, stderr=e)
    try:
        assert wait_until(lambda: "ready" in out.read_text(), 15), errf.read_text()
        helpers = children_of(p.pid)
        inits = [c for h in helpers for c in children_of(h)]
        assert len(helpers) == 2 and len(inits) == 1, (helpers, inits)  # launcher, worker; init
        command = children_of(inits[0])
        for pid in helpers + inits:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            for fd in (0, 1, 2):
                assert os.readlink(f"/proc/{pid}/fd/{fd}") == "/dev/null", (comm, fd)
            held = [os.readlink(f) for f in Path(f"/proc/{pid}/fd").iterdir()]
            assert str(out) not in held and str(errf) not in held, (comm, held)
        # The command does have them.
        assert os.readlink(f"/proc/{command[0]}/fd/1") == str(out)
        assert os.readlink(f"/proc/{command[0]}/fd/2") == str(errf)
    finally:
        p.kill()
        p.wait()


def test_worker_lines_reach_the_user_through_fence(fence):
    cp = fence.run(["true"], config={}, flags=["-d"])
    assert cp.returncode == 0, fmt(cp)
    assert "[fence:proxy] sandbox: seccomp: allowlist installed" in cp.stderr, fmt(cp)


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 42), (signal.SIGINT, 43),
                                      (signal.SIGHUP, 44), (signal.SIGQUIT, 45)],
                         ids=["TERM", "INT", "HUP", "QUIT"])
def test_signal_is_forwarded(fence, sig, code):
    name = signal.Signals(sig).name[3:]
    script = (f"trap 'echo got-{name}; exit {code}' {name}; echo ready; "
              "while :; do sleep 0.1; done")
    p = fence.popen(["sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = _read_line(p.stdout, 15)
        assert "ready" in line, f"no ready line: {line!r}"
        p.send_signal(sig)
        out, errout = p.communicate(timeout=10)
        assert p.returncode == code, f"exit {p.returncode}, stdout={out!r} stderr={errout!r}"
        assert f"got-{name}" in out.decode()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_sigterm_without_trap_gives_143(fence):
    p = fence.popen(["sh", "-c", "echo ready; exec sleep 60"], stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE)
    try:
        assert "ready" in _read_line(p.stdout, 15)
        time.sleep(0.2)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)
        assert p.returncode == 143, f"exit {p.returncode}"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


# ---- non-dumpable, own binaries ----------------------------------------------------------------

def test_init_is_not_inspectable_from_inside(fence):
    cp = fence.py(
        "attempt('environ', read, '/proc/1/environ')\n"
        "attempt('mem', lambda: open('/proc/1/mem', 'rb').close())\n"
        "attempt('exe', os.readlink, '/proc/1/exe')\n"
        "attempt('cwd', os.readlink, '/proc/1/cwd')\n"
        "attempt('fd0', os.readlink, '/proc/1/fd/0')\n"
        "attempt('self-environ', lambda: len(open('/proc/self/environ','rb').read()))\n")
    assert "self-environ: OK" in cp.stdout, "control" + fmt(cp)
    for name in ("environ", "mem", "exe", "cwd", "fd0"):
        assert f"{name}: ERR" in cp.stdout, f"/proc/1/{name} of the init is accessible" + fmt(cp)


def test_fence_is_not_dumpable_from_host(fence):
    if os.getuid() == 0:
        pytest.skip("root bypasses the dumpable check; meaningful only unprivileged")
    p = fence.popen(["sh", "-c", "echo ready; sleep 30"], stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE)
    try:
        assert "ready" in _read_line(p.stdout, 15)
        try:
            open(f"/proc/{p.pid}/environ", "rb").read()
            readable = True
        except PermissionError:
            readable = False
        assert not readable, "the fence supervisor is dumpable (its /proc/pid/environ is readable)"
    finally:
        p.kill()
        p.wait()


def test_fence_binaries_not_writable_from_inside(fence, own_binaries):
    files = {n: own_binaries / n for n in ("fence", "fence-launcher")}
    digests = {n: hashlib.sha256(p.read_bytes()).hexdigest() for n, p in files.items()}
    stats = {n: p.stat() for n, p in files.items()}
    code = ""
    for n, p in files.items():
        code += (f"st = os.stat({str(p)!r})\n"
                 f"attempt('utime {n}', os.utime, {str(p)!r}, ns=(st.st_atime_ns, st.st_mtime_ns))\n"
                 f"attempt('chmod {n}', os.chmod, {str(p)!r}, st.st_mode & 0o7777)\n"
                 f"open({str(own_binaries / 'evil')!r}, 'w').write('x')\n"
                 f"attempt('replace {n}', os.rename, {str(own_binaries / 'evil')!r}, {str(p)!r})\n")
    code += f"attempt('control', write, {str(own_binaries / 'control')!r})\n"
    cp = fence.py(code, config={"filesystem": {"allowWrite": [str(own_binaries)]}},
                  bin_path=files["fence"])
    assert "control: OK" in cp.stdout, "control: the directory must be writable" + fmt(cp)
    for n in files:
        for op in ("utime", "chmod", "replace"):
            assert f"{op} {n}: ERR" in cp.stdout, f"{op} {n} should have failed" + fmt(cp)
        assert hashlib.sha256(files[n].read_bytes()).hexdigest() == digests[n]
        assert files[n].stat().st_mtime_ns == stats[n].st_mtime_ns


# ---- fail closed (SECURITY-RULES 20) -----------------------------------------------------------

def test_fail_closed_without_user_namespaces(fence, work):
    # Inside a user namespace whose max_user_namespaces is 0, fence cannot create its own.
    probe = subprocess.run(
        ["unshare", "-Ur", "sh", "-c", "echo 0 > /proc/sys/user/max_user_namespaces"],
        capture_output=True, text=True, timeout=10)
    if probe.returncode != 0:
        pytest.skip(f"cannot build the no-userns environment: {probe.stderr.strip()}")
    argv = fence.argv(["--", "sh", "-c", "echo FENCE-RAN; touch ran-marker"])
    # Several times: the launcher fails and exits while fence is still sending to it, and the
    # reason must arrive whichever comes first.
    for _ in range(10):
        cp = subprocess.run(
            ["unshare", "-Ur", "sh", "-c",
             'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"', "sh", *argv],
            cwd=work, env=fence.env(), capture_output=True, text=True, timeout=30)
        assert cp.returncode == EXIT_SETUP, fmt(cp)
        assert "FENCE-RAN" not in cp.stdout and not (work / "ran-marker").exists(), fmt(cp)
        lines = fence_error_lines(cp.stderr)
        assert lines and re.search(r"user.?namespace", " ".join(lines), re.I), fmt(cp)


@pytest.mark.parametrize("worker_script, why", [
    ("#!/bin/sh\nexit 3\n", "exits at once"),
    ("#!/bin/sh\nexec sleep 30\n", "never answers its Hello"),
])
def test_command_never_runs_without_a_proxy_worker(fence, fence_bin, tmp_path, work,
                                                   worker_script, why):
    # The launcher builds the sandbox while the worker starts; the command itself must wait
    # for fence's StartCommand, which comes only once the worker has answered.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("fence", "fence-launcher"):
        shutil.copy2(fence_bin.parent / name, bin_dir / name)
    worker = bin_dir / "fence-proxy-worker"
    worker.write_text(worker_script)
    worker.chmod(0o755)
    started = time.monotonic()
    # One exec, no shell: a later exec would wait for fence's command policy and hide a
    # command that started too early.
    cp = fence.run(["touch", f"{work}/ran"], bin_path=bin_dir / "fence", timeout=20,
                   config={"filesystem": {"allowWrite": ["."]}})
    assert cp.returncode == EXIT_SETUP, fmt(cp)
    assert "proxy worker" in cp.stderr, fmt(cp)
    assert not (work / "ran").exists(), why
    assert time.monotonic() - started < 10, "the Hello wait is bounded (5 s)"
    # Nothing of the attempt is left running (the fake worker included).
    leftover = subprocess.run(["pgrep", "-f", str(bin_dir)], capture_output=True, text=True)
    assert leftover.stdout.strip() == "", leftover.stdout
