"""Namespaces and network isolation: only `lo`, host loopback unreachable, distinct namespaces."""

import json
import os
import re
import socket
import threading
import uuid

import pytest

from conftest import assert_started, fmt


class Canary:
    """A host-loopback listener that records every connection / datagram it receives."""

    def __init__(self, kind=socket.SOCK_STREAM, family=socket.AF_INET, addr=("127.0.0.1", 0)):
        self.sock = socket.socket(family, kind)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(addr)
        if kind == socket.SOCK_STREAM:
            self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.kind = kind
        self.hits = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    @property
    def address(self):
        return self.sock.getsockname()

    def _loop(self):
        while not self._stop.is_set():
            try:
                if self.kind == socket.SOCK_STREAM:
                    conn, peer = self.sock.accept()
                    self.hits.append(peer)
                    conn.close()
                else:
                    data, peer = self.sock.recvfrom(65536)
                    self.hits.append((peer, data))
            except (socket.timeout, OSError):
                continue

    def close(self):
        self._stop.set()
        self._t.join(timeout=2)
        self.sock.close()


@pytest.fixture
def tcp_canary():
    c = Canary()
    yield c
    c.close()


@pytest.fixture
def udp_canary():
    c = Canary(kind=socket.SOCK_DGRAM)
    yield c
    c.close()


def test_only_loopback_interface(fence):
    cp = fence.run(["cat", "/proc/net/dev"])
    assert cp.returncode == 0, fmt(cp)
    ifaces = [line.split(":")[0].strip() for line in cp.stdout.splitlines()[2:] if ":" in line]
    assert ifaces == ["lo"], f"interfaces inside: {ifaces}" + fmt(cp)


def test_loopback_is_up_inside(fence):
    cp = fence.py(
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 0))\n"
        "c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "c.sendto(b'ping', s.getsockname()); s.settimeout(2)\n"
        "print('LO', s.recv(10))\n")
    assert "LO b'ping'" in cp.stdout, fmt(cp)


def test_host_loopback_tcp_unreachable(fence, tcp_canary):
    host, port = tcp_canary.address
    # Host control: the canary is reachable from outside the sandbox.
    socket.create_connection((host, port), timeout=2).close()
    assert wait_for(lambda: len(tcp_canary.hits) == 1)
    tcp_canary.hits.clear()
    cp = fence.py(
        f"attempt('tcp4', lambda: socket.create_connection(('127.0.0.1', {port}), timeout=3).close())\n"
        f"attempt('tcp4-any', lambda: socket.create_connection(('0.0.0.0', {port}), timeout=3).close())\n"
        f"attempt('tcp6-mapped', lambda: socket.create_connection(('::ffff:127.0.0.1', {port}), timeout=3).close())\n")
    assert_started(cp)
    assert ": OK" not in cp.stdout, fmt(cp)
    import time
    time.sleep(0.5)
    assert tcp_canary.hits == [], f"host canary received connections: {tcp_canary.hits}" + fmt(cp)


def test_host_loopback_udp_unreachable(fence, udp_canary):
    host, port = udp_canary.address
    cp = fence.py(
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        f"attempt('udp', s.sendto, b'leak', ('127.0.0.1', {port}))\n")
    assert_started(cp)
    import time
    time.sleep(0.5)
    assert udp_canary.hits == [], f"host canary received datagrams: {udp_canary.hits}" + fmt(cp)


def test_no_route_to_anything(fence):
    cp = fence.py(
        # The transparent path may accept the connection itself; no byte may come back.
        "attempt('tcp-public', lambda: socket.create_connection(('192.0.2.1', 80), timeout=3).recv(1) or 1/0)\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "attempt('udp-public', s.sendto, b'x', ('192.0.2.1', 9))\n"
        "print('ROUTE', open('/proc/net/route').read().strip().count('\\n'))\n")
    assert_started(cp)
    assert "tcp-public: OK" not in cp.stdout and "udp-public: OK" not in cp.stdout, fmt(cp)


def test_abstract_unix_socket_unreachable(fence):
    name = f"\0fence-itest-{uuid.uuid4().hex}"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(name)
    srv.listen(1)
    srv.settimeout(1)
    try:
        cp = fence.py("s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
                      f"attempt('abstract', s.connect, {name!r})\n")
        assert_started(cp)
        assert "abstract: OK" not in cp.stdout, fmt(cp)
        try:
            conn, _ = srv.accept()
            conn.close()
            pytest.fail("host abstract socket received a connection from the sandbox" + fmt(cp))
        except socket.timeout:
            pass
    finally:
        srv.close()


def test_host_unix_socket_in_cwd_unreachable(fence, work):
    """SECURITY-RULES 4: host unix sockets are unreachable unless listed (socket(AF_UNIX) denied)."""
    path = str(work / "host.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    srv.settimeout(1)
    try:
        cp = fence.py("s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
                      "attempt('unix', s.connect, 'host.sock')\n")
        got = None
        try:
            conn, _ = srv.accept()
            conn.close()
            got = True
        except socket.timeout:
            got = False
        assert_started(cp)
        assert not got, "host unix socket in the working directory received a connection" + fmt(cp)
    finally:
        srv.close()


NAMESPACES = ["net", "uts", "ipc", "pid", "mnt", "user", "cgroup"]


def test_namespaces_are_distinct(fence):
    cp = fence.py("print('NS', json.dumps({n: os.readlink('/proc/self/ns/' + n) for n in "
                  + repr(NAMESPACES) + "}))")
    assert cp.returncode == 0, fmt(cp)
    inside = json.loads(re.search(r"^NS (.*)$", cp.stdout, re.M).group(1))
    for n in NAMESPACES:
        outside = os.readlink(f"/proc/self/ns/{n}")
        if n == "cgroup":
            continue  # optional per DESIGN ("and cgroup")
        assert inside[n] != outside, f"{n} namespace is shared with the host" + fmt(cp)


def test_sysv_ipc_is_private(fence):
    if not os.path.exists("/proc/sysvipc/shm"):
        pytest.skip("no /proc/sysvipc")
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    shmid = libc.shmget(0, 4096, 0o600 | 0o1000)  # IPC_PRIVATE, IPC_CREAT
    assert shmid >= 0, "host control: cannot create a SysV shm segment"
    try:
        cp = fence.run(["cat", "/proc/sysvipc/shm"])
        assert cp.returncode == 0, fmt(cp)
        ids = [l.split()[1] for l in cp.stdout.splitlines()[1:] if l.strip()]
        assert str(shmid) not in ids, "host SysV shm segment visible inside" + fmt(cp)
        assert ids == [], fmt(cp)
    finally:
        libc.shmctl(shmid, 0, None)  # IPC_RMID


def wait_for(pred, timeout=3.0):
    import time
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def test_sysfs_shows_only_the_sandbox_network(fence):
    # The host's /sys would list its interfaces (names, MAC addresses, traffic counters).
    cp = fence.py("print(sorted(os.listdir('/sys/class/net')))\n"
                  "attempt('write', write, '/sys/class/net/lo/mtu', '1500')\n")
    assert_started(cp)
    assert "['lo']" in cp.stdout, fmt(cp)
    assert "write: ERR" in cp.stdout, fmt(cp)


def test_fence_inside_fence_runs_nested_and_says_so(fence):
    """The inner run cannot create namespaces: it runs as a further restriction of the outer
    sandbox (test_nested.py) and says in one line what stays the outer sandbox's, instead of
    advising a host sysctl that would not help."""
    bin_dir = str(fence.bin.parent)
    cp = fence.sh(f"{fence.bin} -- echo inner-ran; echo rc=$?",
                  config={"filesystem": {"allowRead": [bin_dir]}})
    assert cp.returncode == 0 and "inner-ran" in cp.stdout and "rc=0" in cp.stdout, fmt(cp)
    lines = [line for line in cp.stderr.splitlines() if "inside another fence sandbox" in line]
    assert len(lines) == 1 and "network" in lines[0] and "sysctl" not in cp.stderr, fmt(cp)
