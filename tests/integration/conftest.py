"""Shared fixtures for the fence integration suite.

The suite runs the real binaries. It is run twice by CI: once as root and once as an
unprivileged user, so nothing here assumes uid 0 and every file a test needs lives under a
fresh ``tmp_path``.

Binaries: ``$FENCE_BIN_DIR/fence`` and ``$FENCE_BIN_DIR/fence-launcher`` (default:
``<repo>/build/bin``).
"""

from __future__ import annotations

import itertools
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("FENCE_BIN_DIR") or (REPO / "build" / "bin")).resolve()

# fence's own exit codes (contract).
EXIT_SETUP = 121
EXIT_CONFIG = 122
EXIT_NOEXEC = 126
EXIT_NOTFOUND = 127

DEFAULT_TIMEOUT = 30

# The interpreter used *inside* the sandbox: a system path that every user can read.
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Code put in front of every in-sandbox Python snippet run with Fence.py().
STARTED = "FENCE-ITEST-STARTED"

PRELUDE = r'''
import os, sys, json, errno, ctypes, ctypes.util, stat, socket, time
print("FENCE-ITEST-STARTED", flush=True)
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def _en(e):
    return errno.errorcode.get(e, str(e))
def attempt(name, fn, *a, **k):
    """Run fn; print 'name: OK ...' or 'name: ERR <ERRNO> ...'. Returns True on success."""
    try:
        r = fn(*a, **k)
    except OSError as e:
        print(f"{name}: ERR {_en(e.errno)} {e.strerror}", flush=True)
        return False
    print(f"{name}: OK {r!r}", flush=True)
    return True
def write(p, data="pwned\n", mode="w"):
    with open(p, mode) as f:
        f.write(data)
    return "written"
def read(p):
    with open(p) as f:
        return f.read()
def sysc(name, nr, *args):
    """Raw syscall; prints 'name: RET <value>' or 'name: ERR <ERRNO>'."""
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *args)
    if r == -1:
        print(f"{name}: ERR {_en(ctypes.get_errno())}", flush=True)
    else:
        print(f"{name}: RET {r}", flush=True)
    return r
'''


def ok(cp, name) -> bool:
    """The in-sandbox attempt `name` succeeded."""
    return f"{name}: OK" in cp.stdout


def err(cp, name) -> bool:
    """The in-sandbox attempt `name` failed with an OSError."""
    return f"{name}: ERR" in cp.stdout


def fmt(cp) -> str:
    """Human-readable dump of a CompletedProcess for assertion messages."""
    args = [a if len(a) < 200 else a[:60] + "...<%d chars>" % len(a) for a in map(str, cp.args)]
    return (f"\n--- exit status: {cp.returncode}\n--- argv: {args!r}\n"
            f"--- stdout:\n{cp.stdout}\n--- stderr:\n{cp.stderr}\n---")


def assert_started(cp) -> None:
    """The sandboxed command really ran (so a failed escape is not just a failed start)."""
    assert STARTED in cp.stdout, "the sandboxed command did not start" + fmt(cp)


def fence_error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("fence: ")]


def snapshot(root: Path) -> dict[str, tuple]:
    """Recursive listing (hidden files included) with type and content of regular files."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            st = p.lstat()
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = ("dir", oct(st.st_mode))
            elif p.is_file():
                out[rel] = ("file", oct(st.st_mode), p.read_bytes(), st.st_mtime_ns)
            else:
                out[rel] = ("other", oct(st.st_mode))
    return out


def processes_with(marker: str) -> list[int]:
    """PIDs of host processes whose command line contains marker."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline and int(entry) != os.getpid():
            found.append(int(entry))
    return found


def kill_marked(marker: str) -> None:
    """Cleanup helper: kill leftovers so a failing test does not leak processes."""
    for pid in processes_with(marker):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def wait_until(pred, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()


class Fence:
    """Runs the fence binary with a clean environment (HOME = a temp dir)."""

    def __init__(self, bin_path: Path, tmp_path: Path, work: Path, home: Path):
        self.bin = bin_path
        self.tmp = tmp_path
        self.work = work
        self.home = home
        self._n = itertools.count()

    def base_env(self, home: Path | None = None) -> dict[str, str]:
        name = pwd.getpwuid(os.getuid()).pw_name
        return {
            "PATH": CLEAN_PATH,
            "HOME": str(home or self.home),
            "LANG": "C.UTF-8",
            "USER": name,
            "LOGNAME": name,
            "TERM": "dumb",
        }

    def write_config(self, config, where: Path | None = None) -> Path:
        """config: dict (dumped as JSON) or str (written verbatim) or bytes."""
        path = where or (self.tmp / f"settings-{next(self._n)}.json")
        if isinstance(config, bytes):
            path.write_bytes(config)
        elif isinstance(config, str):
            path.write_text(config)
        else:
            path.write_text(json.dumps(config, indent=2))
        return path

    def argv(self, args, config=None, flags=(), bin_path: Path | None = None) -> list[str]:
        argv = [str(bin_path or self.bin)]
        if config is not None:
            cfg = config if isinstance(config, Path) else self.write_config(config)
            argv += ["-s", str(cfg)]
        argv += list(flags)
        argv += [str(a) for a in args]
        return argv

    def env(self, env=None, home: Path | None = None) -> dict[str, str]:
        e = self.base_env(home)
        for k, v in (env or {}).items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
        return e

    def run(self, args, cwd=None, config=None, env=None, input=None, timeout=DEFAULT_TIMEOUT,
            flags=(), home: Path | None = None, pass_fds=(), bin_path: Path | None = None,
            raw_args: bool = False):
        """Run ``fence [-s cfg] [flags] [--] args``.

        Unless raw_args, ``--`` is put before args. Returns a CompletedProcess (text).
        """
        if raw_args:
            argv = self.argv(args, config, flags, bin_path)
        else:
            argv = self.argv(["--", *args], config, flags, bin_path)
        return subprocess.run(
            argv, cwd=str(cwd or self.work), env=self.env(env, home), input=input,
            capture_output=True, text=True, timeout=timeout, pass_fds=pass_fds,
            errors="replace")

    def sh(self, script: str, **kw):
        return self.run(["/bin/sh", "-c", script], **kw)

    def py(self, code: str, **kw):
        return self.run([PY, "-c", PRELUDE + "\n" + code], **kw)

    def popen(self, args, cwd=None, config=None, env=None, flags=(), home=None, **popen_kw):
        argv = self.argv(["--", *args], config, flags)
        return subprocess.Popen(argv, cwd=str(cwd or self.work), env=self.env(env, home),
                                **popen_kw)


@pytest.fixture(scope="session")
def fence_bin() -> Path:
    fence = BIN_DIR / "fence"
    launcher = BIN_DIR / "fence-launcher"
    missing = [str(p) for p in (fence, launcher) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(f"fence binaries missing or not executable: {missing} "
                    f"(set FENCE_BIN_DIR or build into {REPO / 'build'})", pytrace=False)
    return fence


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """The working directory of the sandboxed command (a fresh, empty directory)."""
    d = tmp_path / "work"
    d.mkdir()
    return d


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The HOME given to fence (a fresh, empty directory)."""
    d = tmp_path / "home"
    d.mkdir()
    return d


@pytest.fixture
def fence(fence_bin: Path, tmp_path: Path, work: Path, home: Path) -> Fence:
    return Fence(fence_bin, tmp_path, work, home)


@pytest.fixture
def run_fence(fence: Fence):
    """run_fence(args, cwd=None, config=None, env=None, input=None, timeout=30, **kw)."""
    return fence.run


@pytest.fixture
def project(work: Path) -> Path:
    """A git-like project in the working directory."""
    (work / ".git" / "hooks").mkdir(parents=True)
    (work / ".git" / "hooks" / "pre-commit").write_text("#!/bin/sh\nexit 0\n")
    (work / ".git" / "hooks" / "pre-commit").chmod(0o755)
    (work / ".git" / "config").write_text("[core]\n\trepositoryformatversion = 0\n")
    (work / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (work / ".bashrc").write_text("# project bashrc\n")
    (work / "src").mkdir()
    (work / "src" / "main.c").write_text("int main(void) { return 0; }\n")
    return work


@pytest.fixture
def own_binaries(tmp_path: Path, fence_bin: Path) -> Path:
    """A private copy of fence and fence-launcher, owned by the test user."""
    d = tmp_path / "bin"
    d.mkdir()
    for name in ("fence", "fence-launcher", "fence-proxy-worker"):
        src = fence_bin.parent / name
        if src.exists():
            shutil.copy2(src, d / name)
    return d


# ------------------------------------------------------------------------------ network fixture
# run.sh (as root) brings up net_fixture.sh and runs pytest inside its "host" network
# namespace with FENCE_NET_STATE set to the fixture's state file (KEY=VALUE lines).

NET_STATE = os.environ.get("FENCE_NET_STATE")


def _read_state(path: str) -> dict[str, str]:
    state = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if "=" in line:
                key, value = line.split("=", 1)
                state[key] = value
    return state


class Net:
    """The network fixture as seen by the tests (see net_fixture.sh for what it runs)."""

    def __init__(self, state: dict[str, str]):
        self.state = state
        self.host_ns = state["HOST_NS"]
        self.dir = Path(state["DIR"])
        self.host_addr = state["HOST_ADDR"]            # our own address (198.51.100.1)
        self.host_addr6 = state["HOST_ADDR6"]
        self.upstream = state["UPSTREAM_ADDR"]         # 198.51.100.10: :80 :8080 :443 :53/udp
        self.upstream2 = state["UPSTREAM_ADDR2"]       # 198.51.100.11: :80 :443
        self.upstream6 = state["UPSTREAM_ADDR6"]       # 2001:db8::10: :80 :443
        self.http_port = int(state["HTTP_PORT"])
        self.http_alt_port = int(state["HTTP_ALT_PORT"])
        self.https_port = int(state["HTTPS_PORT"])
        self.canary_ports = [int(p) for p in state["CANARY_PORTS"].split(",")]
        self.canary_log = Path(state["CANARY_LOG"])
        self.access_log = Path(state["ACCESS_LOG"])
        self.dns_log = Path(state["DNS_LOG"])
        self.cert = Path(state["CERT"])
        self.hello = state["HELLO"] + "\n"             # content of /hello.txt
        self.big_size = int(state["BIG_SIZE"])
        self.big_sha256 = state["BIG_SHA256"]

    @staticmethod
    def _records(path: Path) -> list[dict]:
        try:
            text = path.read_text(errors="replace")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def canary_hits(self) -> list[dict]:
        """Connections/datagrams received by the host-namespace canaries (must stay empty)."""
        return self._records(self.canary_log)

    def access_entries(self) -> list[dict]:
        """Requests the upstream HTTP(S) servers answered: local, peer, line, host, code."""
        return self._records(self.access_log)

    def dns_queries(self) -> list[dict]:
        """Datagrams received by the upstream resolver (data: the raw bytes as latin-1)."""
        return self._records(self.dns_log)

    def cert_in(self, directory: Path) -> Path:
        """A copy of the upstream's certificate where the sandbox can read it."""
        dest = directory / "upstream-cert.pem"
        shutil.copyfile(self.cert, dest)
        dest.chmod(0o644)
        return dest

    @staticmethod
    def config(allowed=(), denied=(), filesystem=None, **network) -> dict:
        """A fence settings dict: network.allowedDomains/deniedDomains plus any other
        network keys given (httpProxyPort=..., socksProxyPort=...), and filesystem."""
        net = {"allowedDomains": list(allowed), "deniedDomains": list(denied)}
        net.update(network)
        cfg = {"network": net}
        if filesystem is not None:
            cfg["filesystem"] = filesystem
        return cfg


@pytest.fixture(scope="session")
def net_session() -> Net:
    if not NET_STATE:
        pytest.skip("network fixture not available: FENCE_NET_STATE is not set (run the suite "
                    "as root through tests/integration/run.sh, which creates the network "
                    "namespaces with net_fixture.sh)")
    if not os.path.exists(NET_STATE):
        pytest.fail(f"FENCE_NET_STATE={NET_STATE} does not exist", pytrace=False)
    return Net(_read_state(NET_STATE))


@pytest.fixture
def net(net_session: Net) -> Net:
    """The network fixture; fails the test if a canary received anything during it."""
    before = len(net_session.canary_hits())
    yield net_session
    hits = net_session.canary_hits()[before:]
    assert not hits, f"a canary in the host namespace was reached: {hits}"
