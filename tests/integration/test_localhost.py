"""Localhost and inbound: allowLocalBinding, -p [ADDR:]PORT, allowLocalOutbound (proxy route),
allowLocalOutboundPorts (transparent route), allowUnixSockets / allowAllUnixSockets, allowPty.

Everything here stays on loopback: servers the tests start on the host's 127.0.0.1 (in the
namespace pytest runs in) and servers the sandboxed command starts on the sandbox's own lo.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import PY, assert_started, err, fmt, kill_marked, ok, wait_until

EXIT_SETUP = 121
EXIT_CONFIG = 122


# "The command did not run" is checked by a file it would have written: the working directory
# must be writable for that check to mean anything.
WRITABLE_CWD = {"filesystem": {"allowWrite": ["."]}}


def free_port() -> int:
    # Bound on every IPv4 address: a port that some connection of this namespace uses as its
    # local port on another address (198.51.100.1) would make a later 0.0.0.0 bind fail.
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 5.0) -> bytes:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as r:
        return r.read()


class CountingServer:
    """A listening socket served by a thread: each connection gets one reply computed from the
    first bytes it sends; every accepted connection is counted."""

    def __init__(self, sock: socket.socket, reply):
        self.sock = sock
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.reply = reply
        self.accepted = 0
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            with conn:
                conn.settimeout(5)
                try:
                    answer = self.reply(conn.recv(100))
                    if answer:
                        conn.sendall(answer)
                except OSError:
                    pass

    def close(self):
        self.stop = True
        self.thread.join(timeout=2)
        self.sock.close()


class TcpService(CountingServer):
    """A tiny Redis-like service on the host's loopback: answers PING with +PONG."""

    def __init__(self, host: str = "127.0.0.1"):
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.bind((host, 0))
        self.port = sock.getsockname()[1]
        super().__init__(sock, lambda data: b"+PONG\r\n" if data.startswith(b"PING") else b"")

    @property
    def connections(self) -> int:
        return self.accepted


def made_and_closed(cls):
    """A fixture body: yields a factory for cls, then closes everything it made."""
    made = []

    def make(*args, **kw):
        made.append(cls(*args, **kw))
        return made[-1]

    yield make
    for m in made:
        m.close()


@pytest.fixture
def service():
    yield from made_and_closed(TcpService)


PING = r'''
def ping(port, host="127.0.0.1"):
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(b"PING\r\n")
    data = s.recv(100)
    s.close()
    return data.decode().strip()
'''

CONNECT_PING = r'''
def proxied_ping(port, host="127.0.0.1", proxy=3128):
    s = socket.create_connection(("127.0.0.1", proxy), timeout=5)
    s.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            break
        head += chunk
    status = head.split(b" ", 2)[1].decode() if head else "none"
    if status != "200":
        return "status " + status
    s.sendall(b"PING\r\n")
    data = s.recv(100).decode().strip()
    s.close()
    return data
'''

SOCKS_PING = r'''
def socks_ping(port, host):
    import ipaddress
    s = socket.create_connection(("127.0.0.1", 1080), timeout=5)
    s.sendall(b"\x05\x01\x00")
    if s.recv(2) != b"\x05\x00":
        return "no greeting"
    try:
        a = ipaddress.ip_address(host)
        addr = (b"\x01" if a.version == 4 else b"\x04") + a.packed
    except ValueError:
        addr = b"\x03" + bytes([len(host)]) + host.encode()
    s.sendall(b"\x05\x01\x00" + addr + port.to_bytes(2, "big"))
    reply = s.recv(4)
    s.close()
    return "ok" if reply[1:2] == b"\x00" else f"refused {reply[1]}"
'''

# ------------------------------------------------------------------------------ allowLocalBinding

BIND = r'''
def bind(port):
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    s.listen(1)
    return "bound"
'''


def test_bind_and_connect_on_the_sandbox_loopback_by_default(fence):
    """Servers inside work without configuration: any port, port 0 included, and a client
    inside reaches them (the namespace's lo is the sandbox's own)."""
    code = BIND + PING + r'''
import threading
def serve(srv):
    c, _ = srv.accept(); c.recv(100); c.sendall(b"+PONG\r\n"); c.close()
for name, port in (("low", 8000), ("high", 40123), ("zero", 0)):
    srv = socket.socket(); srv.bind(("127.0.0.1", port)); srv.listen(1)
    threading.Thread(target=serve, args=(srv,), daemon=True).start()
    attempt(name, ping, srv.getsockname()[1])
six = socket.socket(socket.AF_INET6); six.bind(("::1", 0)); six.listen(1)
threading.Thread(target=serve, args=(six,), daemon=True).start()
def ping6(port):
    c = socket.create_connection(("::1", port), timeout=5); c.sendall(b"PING\r\n")
    return c.recv(100).decode().strip()
attempt("six", ping6, six.getsockname()[1])
'''
    cp = fence.py(code, config={})
    for name in ("low", "high", "zero", "six"):
        assert f"{name}: OK '+PONG'" in cp.stdout, fmt(cp)


def test_allow_local_binding_false_still_lets_servers_inside_work(fence):
    """allowLocalBinding is only the default of allowLocalOutbound (as upstream); binding on the
    sandbox's own loopback never needed it."""
    cp = fence.py(BIND + "attempt('bind', bind, 8000)\nattempt('bind0', bind, 0)",
                  config={"network": {"allowLocalBinding": False}})
    assert ok(cp, "bind") and ok(cp, "bind0"), fmt(cp)


def test_proxy_ports_cannot_be_taken_over(fence):
    """The proxy listeners (and transparent ones) exist before the command: their ports cannot
    be bound again on any IPv4 spelling, and the proxies keep answering."""
    port = free_port()
    code = BIND + r'''
def bind_any(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("0.0.0.0", port)); s.listen(1)
    return "bound"
''' + "".join(f"attempt('{n}', bind, {p})\nattempt('{n}-any', bind_any, {p})\n"
                  for n, p in (("http", 3128), ("socks", 1080), ("local", port)))
    cp = fence.py(code, config={"network": {"allowLocalOutboundPorts": [port]}})
    for name in ("http", "socks", "local"):
        assert f"{name}: ERR EADDRINUSE" in cp.stdout, fmt(cp)
        assert f"{name}-any: ERR EADDRINUSE" in cp.stdout, fmt(cp)


def test_server_inside_talks_to_itself_with_binding(fence):
    code = BIND + PING + r'''
srv = socket.socket(); srv.bind(("127.0.0.1", 7001)); srv.listen(1)
import threading
def serve():
    c, _ = srv.accept(); c.recv(100); c.sendall(b"+PONG\r\n"); c.close()
threading.Thread(target=serve, daemon=True).start()
attempt('self', ping, 7001)
'''
    cp = fence.py(code, config={"network": {"allowLocalBinding": True}})
    assert "self: OK '+PONG'" in cp.stdout, fmt(cp)


# ------------------------------------------------------------------------------ -p inbound

def start_server(fence, port, tmp_path, flags=(), config=None, marker="srv"):
    """fence [flags] -- python3 -m http.server PORT in a directory with hello.txt."""
    site = fence.work / f"site-{port}"  # the working directory is visible inside
    site.mkdir()
    (site / "hello.txt").write_text(f"hello from the sandbox {marker}\n")
    proc = fence.popen([PY, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                        "--directory", str(site)],
                       config=config if config is not None else {}, flags=list(flags),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # fence binds its host listeners before the sandbox starts; wait for that, not for the
    # server inside.
    for flag in flags:
        if flag.rsplit(":", 1)[-1].isdigit() and int(flag.rsplit(":", 1)[-1]) == port:
            assert wait_until(lambda: _bound(port), 10), "fence did not listen on the host"
    return proc


def _bound(port: int) -> bool:
    """A listener on port exists in this namespace (from /proc/net/tcp, no connection made)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                    return True
    return False


def stop(proc):
    proc.terminate()
    try:
        out, errs = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, errs = proc.communicate()
    return out, errs


def test_port_exposes_a_server_started_inside(fence, tmp_path):
    port = free_port()
    proc = start_server(fence, port, tmp_path, flags=["-p", str(port)])
    try:
        # Asked at once: the server inside starts after fence's listener exists, so the
        # first connection is carried in once it listens (retried meanwhile).
        body = http_get(f"http://127.0.0.1:{port}/hello.txt", timeout=10)
        assert body == b"hello from the sandbox srv\n"
        # And again, on a fresh connection.
        assert http_get(f"http://127.0.0.1:{port}/hello.txt") == body
    finally:
        out, errs = stop(proc)
    assert "Traceback" not in errs, errs


def test_same_server_unreachable_without_port(fence, tmp_path):
    port = free_port()
    proc = start_server(fence, port, tmp_path, config={"network": {"allowLocalBinding": True}})
    try:
        time.sleep(1.5)
        assert proc.poll() is None, "the server inside did not start"
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        stop(proc)


def test_port_listens_on_loopback_by_default(fence, tmp_path):
    port = free_port()
    proc = start_server(fence, port, tmp_path, flags=["-p", str(port)])
    try:
        assert http_get(f"http://127.0.0.1:{port}/hello.txt", timeout=10)
        # 127.0.0.2 is loopback too, but fence listens on 127.0.0.1 only.
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.2", port), timeout=2).close()
    finally:
        stop(proc)


def test_port_with_any_address_only_when_asked(fence, tmp_path):
    port = free_port()
    proc = start_server(fence, port, tmp_path, flags=["-p", f"0.0.0.0:{port}"])
    try:
        assert http_get(f"http://127.0.0.2:{port}/hello.txt", timeout=10) == \
            b"hello from the sandbox srv\n"
    finally:
        stop(proc)


def test_port_in_use_is_an_error_before_the_command_runs(fence, work):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        cp = fence.sh(f"touch {work}/ran", flags=["-p", str(port)], config=WRITABLE_CWD)
    assert cp.returncode == EXIT_SETUP, fmt(cp)
    assert f"127.0.0.1:{port}" in cp.stderr and "Address already in use" in cp.stderr, fmt(cp)
    assert not (work / "ran").exists()


@pytest.mark.parametrize("bad", ["0", "65536", "http", "1.2.3:80", "[::1]80", "localhost:80"])
def test_bad_port_flag_is_a_usage_error(fence, work, bad):
    cp = fence.sh(f"touch {work}/ran", flags=["-p", bad], config=WRITABLE_CWD)
    assert cp.returncode == EXIT_CONFIG, fmt(cp)
    assert "-p" in cp.stderr
    assert not (work / "ran").exists()


def test_port_with_nothing_listening_is_refused_cleanly(fence):
    port = free_port()
    proc = fence.popen(["sleep", "30"], config={}, flags=["-p", str(port), "-m"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: _bound(port), 10)
        started = time.monotonic()
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.settimeout(10)
        assert s.recv(10) == b""  # closed without data once the retries are exhausted
        s.close()
        assert time.monotonic() - started < 9
    finally:
        out, errs = stop(proc)
    assert "[fence:inbound] ✗" in errs and "inside the sandbox" in errs, errs


def test_inbound_connections_are_audited(fence, tmp_path):
    port = free_port()
    log = tmp_path / "audit.jsonl"
    proc = start_server(fence, port, tmp_path, flags=["-p", str(port), "--audit-log", str(log)])
    try:
        assert http_get(f"http://127.0.0.1:{port}/hello.txt", timeout=10)
        # The record is written when the relay has ended (with its byte counts); a relay still
        # open when the run ends would be recorded without them.
        assert wait_until(lambda: '"protocol":"inbound"' in log.read_text(), 10)
    finally:
        stop(proc)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    inbound = [r for r in records if r.get("event") == "network" and r.get("protocol") == "inbound"]
    assert inbound, records
    assert inbound[0]["verdict"] == "allow" and inbound[0]["port"] == port
    assert inbound[0]["bytes_down"] > 0 and inbound[0]["rule"] == f"-p 127.0.0.1:{port}"


def test_dev_server_example(fence, tmp_path, service):
    """fence's docs: allow binding and expose just the needed port, no localhost outbound,
    no external domains: the dev server answers on the host; it cannot reach the host's
    Redis nor anything outside."""
    redis = service()
    port = free_port()
    cfg = {"network": {"allowedDomains": [], "allowLocalBinding": True,
                       "allowLocalOutbound": False}}
    site = fence.work / "site"
    site.mkdir()
    (site / "index.html").write_text("dev server\n")
    script = fence.work / "dev.py"
    script.write_text(PING + CONNECT_PING + f'''
import socket, http.server, functools, threading
for name, fn in (("redis-direct", lambda: ping({redis.port})),
                 ("redis-proxy", lambda: proxied_ping({redis.port})),
                 ("external", lambda: proxied_ping(443, "example.com"))):
    try:
        print(name, fn(), flush=True)
    except OSError as e:
        print(name, "error", e.errno, flush=True)
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory={str(site)!r})
http.server.ThreadingHTTPServer(("127.0.0.1", {port}), handler).serve_forever()
''')
    proc = fence.popen([PY, str(script)], config=cfg, flags=["-p", str(port)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: _bound(port), 10)
        assert http_get(f"http://127.0.0.1:{port}/index.html", timeout=10) == b"dev server\n"
    finally:
        out, errs = stop(proc)
    assert "redis-direct error" in out, out + errs
    assert "redis-proxy status 403" in out, out + errs
    assert "external status 403" in out, out + errs
    assert redis.connections == 0


# ------------------------------------------------------------------------------ local outbound

def try_both_routes(fence, redis, config):
    """From inside: a direct connect to the host service's port, and the proxy route to it by
    address and by name."""
    return fence.py(PING + CONNECT_PING + f'''
attempt('direct', ping, {redis.port})
print('proxy', proxied_ping({redis.port}))
print('proxy-localhost', proxied_ping({redis.port}, "localhost"))
''', config=config)


def test_host_loopback_unreachable_by_default(fence, service):
    redis = service()
    cp = try_both_routes(fence, redis, {"network": {"allowedDomains": ["*"]}})
    assert_started(cp)
    assert err(cp, "direct"), fmt(cp)
    # "*" covers public destinations only: the loopback answer is refused (403 or, for a
    # non-public address, 502 with the reason).
    assert "proxy status 40" in cp.stdout or "proxy status 502" in cp.stdout, fmt(cp)
    assert "proxy +PONG" not in cp.stdout and "proxy-localhost +PONG" not in cp.stdout, fmt(cp)
    assert redis.connections == 0


def test_allow_local_outbound_opens_the_proxy_route(fence, service):
    redis = service()
    cp = try_both_routes(fence, redis, {"network": {"allowLocalOutbound": True}})
    assert_started(cp)
    assert err(cp, "direct"), fmt(cp)  # no transparent route without allowLocalOutboundPorts
    assert "proxy +PONG" in cp.stdout and "proxy-localhost +PONG" in cp.stdout, fmt(cp)
    assert redis.connections == 2


SPELLINGS = ["127.0.0.1", "localhost", "127.0.0.2", "127.1.2.3", "127.255.255.254",
             "::ffff:127.0.0.2", "::ffff:7f00:1", "::ffff:127.0.0.1", "::1"]


@pytest.mark.parametrize("bind", ["0.0.0.0", "127.0.0.1", "[::]"])
def test_fence_own_listeners_are_never_a_target(fence, service, bind):
    """allowLocalOutbound opens the host's loopback, never fence's own -p listeners nor the
    proxy ports, however the loopback address is spelled (a listener on 0.0.0.0 answers on
    all of 127/8, and a v4-mapped address reaches a v4 listener)."""
    redis = service()  # a host service on loopback that stays reachable
    for _ in range(5):  # free_port() checks 127.0.0.1 only: another address may hold the port
        port = free_port()
        targets = [(h, p) for h in SPELLINGS for p in (port, 3128, 1080)]
        code = PING + CONNECT_PING + SOCKS_PING + f"""
for host, p in {targets!r}:
    print(host, p, 'http', proxied_ping(p, f"[{{host}}]" if ':' in host else host))
    print(host, p, 'socks', socks_ping(p, host))
print('service', proxied_ping({redis.port}))
"""
        cp = fence.py(code, config={"network": {"allowLocalOutbound": True}},
                      flags=["-p", f"{bind}:{port}"])
        if "Address already in use" not in cp.stderr:
            break
    assert_started(cp)
    assert "service +PONG" in cp.stdout, fmt(cp)
    for host, p in targets:
        assert f"{host} {p} http status 403" in cp.stdout, f"{host}:{p}" + fmt(cp)
        assert f"{host} {p} socks refused 2" in cp.stdout, f"{host}:{p}" + fmt(cp)


def test_allow_local_binding_implies_local_outbound(fence, service):
    redis = service()
    cp = fence.py(CONNECT_PING + f"print('proxy', proxied_ping({redis.port}))",
                  config={"network": {"allowLocalBinding": True}})
    assert "proxy +PONG" in cp.stdout, fmt(cp)


def test_listed_port_is_reachable_transparently(fence, service):
    redis = service()
    other = service()
    cp = fence.py(PING + CONNECT_PING + f'''
attempt('listed', ping, {redis.port})
attempt('listed-again', ping, {redis.port})
attempt('other', ping, {other.port})
print('other-proxy', proxied_ping({other.port}))
''', config={"network": {"allowLocalOutboundPorts": [redis.port]}}, flags=["-m"])
    assert_started(cp)
    assert "listed: OK '+PONG'" in cp.stdout and "listed-again: OK '+PONG'" in cp.stdout, fmt(cp)
    assert err(cp, "other") and "other-proxy status 403" in cp.stdout, fmt(cp)
    assert redis.connections == 2 and other.connections == 0


def test_transparent_route_is_audited(fence, service, tmp_path):
    redis = service()
    log = tmp_path / "audit.jsonl"
    cp = fence.py(PING + f"attempt('listed', ping, {redis.port})",
                  config={"network": {"allowLocalOutboundPorts": [redis.port]}},
                  flags=["-d", "--audit-log", str(log)])
    assert ok(cp, "listed"), fmt(cp)
    assert f"[fence:local] ✓ 127.0.0.1:{redis.port}" in cp.stderr, fmt(cp)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    local = [r for r in records if r.get("protocol") == "local-forward"]
    assert local and local[0]["verdict"] == "allow" and local[0]["bytes_down"] == 7, records


def test_transparent_port_to_a_closed_host_port_fails_cleanly(fence):
    port = free_port()
    cp = fence.py(PING + f"attempt('closed', ping, {port})",
                  config={"network": {"allowLocalOutboundPorts": [port]}}, flags=["-m"])
    # The connection inside was accepted by the transparent listener; it ends (reset or EOF)
    # without data once the supervisor's connect is refused.
    assert err(cp, "closed") or "closed: OK ''" in cp.stdout, fmt(cp)
    assert f"[fence:local] ✗ 127.0.0.1:{port}" in cp.stderr, fmt(cp)


@pytest.mark.parametrize("ports, message", [
    ([3128], "proxy port"), ([0], "between 1 and 65535"), ([80, 80], "listed twice"),
    ("6379", "array"),
])
def test_bad_local_outbound_ports(fence, work, ports, message):
    cp = fence.sh(f"touch {work}/ran", config={"network": {"allowLocalOutboundPorts": ports},
                                              **WRITABLE_CWD})
    assert cp.returncode == EXIT_CONFIG, fmt(cp)
    assert message in cp.stderr, fmt(cp)
    assert not (work / "ran").exists()


# ------------------------------------------------------------------------------ loopback pacing
# Connections that never leave the host use reno, whatever the host's default algorithm: a
# pacing one such as BBR only makes every send wait for a timer on lo (docs/benchmarks.md).

def congestion_controls(ss_filter: str) -> list[str]:
    """The congestion control of each established TCP socket that matches an ss filter."""
    out = subprocess.run(["ss", "-Htin", "state", "established", ss_filter],
                         capture_output=True, text=True, timeout=10).stdout
    tokens = out.split()
    return [tokens[i - 1] for i, t in enumerate(tokens) if t.startswith("wscale:") and i > 0]


def host_default_congestion_control() -> str:
    with open("/proc/sys/net/ipv4/tcp_congestion_control") as f:
        return f.read().strip()


def test_sandbox_tcp_is_not_paced(fence):
    cp = fence.py(r'''
print("default", open("/proc/sys/net/ipv4/tcp_congestion_control").read().strip())
s = socket.create_connection(("127.0.0.1", 3128), timeout=5)
print("own", s.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).rstrip(b"\0").decode())
try:
    open("/proc/sys/net/ipv4/tcp_congestion_control", "w").write("bbr")
    print("changed")
except OSError as e:
    print("unchanged", e.errno)
''')
    assert_started(cp)
    assert "default reno" in cp.stdout and "own reno" in cp.stdout, fmt(cp)
    assert "unchanged" in cp.stdout, fmt(cp)  # /proc/sys stays read-only for the command


def test_fence_host_sockets_to_this_host_are_not_paced(fence, tmp_path):
    default = host_default_congestion_control()
    # -p: the host side of an inbound connection (accepted by fence).
    port = free_port()
    proc = start_server(fence, port, tmp_path, flags=["-p", str(port)])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            assert wait_until(lambda: congestion_controls(f"( sport = :{port} )"), 10)
            assert congestion_controls(f"( sport = :{port} )") == ["reno"]
            # The client's own end keeps the host's default: only fence's sockets change.
            assert congestion_controls(f"( dport = :{port} )") == [default]
    finally:
        stop(proc)

    # allowLocalOutboundPorts: fence's connection to a service on the host's loopback.
    seen: list[list[str]] = []
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    lsock.settimeout(20)
    svc = lsock.getsockname()[1]

    def serve():
        try:
            conn, _ = lsock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            conn.recv(16)
            seen.append(congestion_controls(f"( dport = :{svc} )"))
            conn.sendall(b"+PONG\r\n")

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        cp = fence.py(PING + f"attempt('svc', ping, {svc})",
                      config={"network": {"allowLocalOutboundPorts": [svc]}})
        t.join(20)
    finally:
        lsock.close()
    assert ok(cp, "svc"), fmt(cp)
    assert seen == [["reno"]], seen


# ------------------------------------------------------------------------------ unix sockets

class UnixEcho(CountingServer):
    def __init__(self, path: Path | str):
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        self.path = Path(path)
        super().__init__(sock, lambda data: b"echo:" + data)


@pytest.fixture
def unix_echo():
    yield from made_and_closed(UnixEcho)


UNIX = r'''
def uconnect(path):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(path)
    s.sendall(b"hi")
    data = s.recv(100)
    s.close()
    return data.decode()
def pair():
    a, b = socket.socketpair()
    a.sendall(b"x")
    return b.recv(1).decode()
'''


def test_host_unix_sockets_unreachable_by_default(fence, tmp_path, unix_echo, work):
    """Without configuration the command's own unix sockets work, a host socket does not: one in
    a directory of the host (here the test's), one in the read-only view of $HOME, and the
    host's abstract sockets (another network namespace). Refusals are reported."""
    sockdir = work / "sockets"
    sockdir.mkdir()
    echo = unix_echo(sockdir / "agent.sock")
    home_echo = unix_echo(work / "S.gpg-agent")
    abstract = socket.socket(socket.AF_UNIX)
    name = f"\0fence-test-{os.getpid()}"
    abstract.bind(name)
    abstract.listen(1)
    abstract.settimeout(0.1)
    try:
        cp = fence.py(UNIX + f"""
attempt('host', uconnect, {str(sockdir / 'agent.sock')!r})
attempt('home', uconnect, {str(work / 'S.gpg-agent')!r})
attempt('abstract', uconnect, {name!r})
attempt('pair', pair)
import threading
srv = socket.socket(socket.AF_UNIX); srv.bind('/tmp/own.sock'); srv.listen(8)
def serve():
    for _ in range(2):
        c, _ = srv.accept(); c.sendall(b'own:' + c.recv(100)); c.close()
threading.Thread(target=serve, daemon=True).start()
attempt('own', uconnect, '/tmp/own.sock')
t = threading.Thread(target=lambda: attempt('own-thread', uconnect, '/tmp/own.sock'))
t.start(); t.join()
""", config={}, flags=["-m"])
        assert_started(cp)
        assert "host: ERR EACCES" in cp.stdout and "home: ERR EACCES" in cp.stdout, fmt(cp)
        assert "abstract: ERR ECONNREFUSED" in cp.stdout, fmt(cp)
        assert "pair: OK 'x'" in cp.stdout, fmt(cp)
        assert "own: OK 'own:hi'" in cp.stdout and "own-thread: OK 'own:hi'" in cp.stdout, fmt(cp)
        assert f"[fence:fs] ✗ connect {sockdir / 'agent.sock'}" in cp.stderr, fmt(cp)
        assert echo.accepted == 0 and home_echo.accepted == 0
        with pytest.raises(OSError):
            abstract.accept()
    finally:
        abstract.close()


def test_threads_connect_through_the_mediation(fence, work, unix_echo):
    """Every connect() is performed by init, also one made by a program's second thread (a
    thread's id is not a process id): TCP inside works, and a host socket stays refused."""
    host = unix_echo(work / "host.sock")
    code = UNIX + r'''
import socket, threading
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(64)
port = srv.getsockname()[1]
threading.Thread(target=lambda: [srv.accept()[0].close() for _ in range(200)], daemon=True).start()
errors = []
def client():
    for _ in range(25):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        except OSError as e:
            errors.append(e.errno)
ts = [threading.Thread(target=client) for _ in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
print("errors", errors)
t = threading.Thread(target=lambda: attempt("host-from-thread", uconnect, "host.sock"))
t.start(); t.join()
'''
    for config in ({}, {"network": {"allowUnixSockets": []}}):
        cp = fence.py(code, config=config, flags=["-m"])
        assert "errors []" in cp.stdout, fmt(cp)
        assert "host-from-thread: ERR EACCES" in cp.stdout, fmt(cp)
        assert f"[fence:fs] ✗ connect {work / 'host.sock'}" in cp.stderr, fmt(cp)
    assert host.accepted == 0


def test_listed_unix_socket_is_reachable_and_others_are_not(fence, tmp_path, unix_echo):
    sockdir = tmp_path / "sockets"
    sockdir.mkdir()
    listed = unix_echo(sockdir / "listed.sock")
    other = unix_echo(sockdir / "other.sock")
    cfg = {"network": {"allowUnixSockets": [str(sockdir / "listed.sock")]}}
    cp = fence.py(UNIX + f'''
attempt('listed', uconnect, {str(sockdir / "listed.sock")!r})
attempt('other', uconnect, {str(sockdir / "other.sock")!r})
attempt('pair', pair)
''', config=cfg)
    assert_started(cp)
    assert "listed: OK 'echo:hi'" in cp.stdout, fmt(cp)
    assert err(cp, "other"), fmt(cp)
    assert "pair: OK 'x'" in cp.stdout, fmt(cp)
    assert listed.accepted == 1 and other.accepted == 0


class UnixDatagramSink:
    """A datagram unix socket that counts what it receives."""

    def __init__(self, path: Path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.received: list[bytes] = []
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop:
            try:
                self.received.append(self.sock.recv(100))
            except OSError:
                continue

    def close(self):
        self.stop = True
        self.thread.join(timeout=2)
        self.sock.close()


DGRAM = r'''
def dgram_pair_sendto(path):
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    return a.sendto(b"escaped", path)
def dgram_pair_connect(path):
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    a.connect(path)
    return a.send(b"escaped")
def dgram_socket(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    return s.sendto(b"escaped", path)
def raw_pair(path):
    # SOCK_RAW is a datagram socket for AF_UNIX.
    fds = (ctypes.c_int * 2)()
    if libc.socketpair(socket.AF_UNIX, socket.SOCK_RAW, 0, fds) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    a = socket.socket(fileno=fds[0])
    return a.sendto(b"escaped", path)
'''


@pytest.mark.parametrize("config", [{}, "listed"], ids=["default", "allowUnixSockets"])
def test_datagram_unix_sockets_cannot_reach_visible_host_sockets(fence, work, tmp_path, unix_echo,
                                                                  config):
    # The working directory is visible inside, so a socket in it is a socket in the read-only
    # view of the host. A datagram socket, even one of a socketpair, could send to it.
    sink = UnixDatagramSink(work / "log.sock")
    try:
        control = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        control.sendto(b"control", str(work / "log.sock"))
        control.close()
        assert wait_until(lambda: sink.received == [b"control"], 5)
        if config == "listed":
            listed = unix_echo(tmp_path / "listed.sock")
            config = {"network": {"allowUnixSockets": [str(tmp_path / "listed.sock")]}}
        target = str(work / "log.sock")
        cp = fence.py(DGRAM + UNIX + f'''
attempt('pair-sendto', dgram_pair_sendto, {target!r})
attempt('pair-connect', dgram_pair_connect, {target!r})
attempt('socket', dgram_socket, {target!r})
attempt('raw-pair', raw_pair, {target!r})
attempt('stream-pair', pair)
''', config=config)
        assert_started(cp)
        for name in ("pair-sendto", "pair-connect", "socket", "raw-pair"):
            assert f"{name}: ERR EPERM" in cp.stdout, fmt(cp)
        assert "stream-pair: OK 'x'" in cp.stdout, fmt(cp)
        time.sleep(0.3)
        assert sink.received == [b"control"]
    finally:
        sink.close()


UNIX_BYPASS = r'''
def via_symlink(target):
    os.symlink(target, "/tmp/link.sock")
    return uconnect("/tmp/link.sock")
def via_proc_fd(target):
    fd = os.open(target, os.O_PATH)
    return uconnect(f"/proc/self/fd/{fd}")
def via_dirfd_relative(target):
    os.chdir(os.path.dirname(target))
    return uconnect(os.path.basename(target))
def via_raced_address(target, decoy):
    # One thread flips the address between an allowed and a refused path while another
    # connects: whatever init read is what it performs.
    import threading
    buf = ctypes.create_string_buffer(110)
    def fill(p):
        ctypes.memmove(buf, b"\x01\x00" + p.encode() + b"\x00", len(p) + 3)
    stop = [False]
    def flip():
        while not stop[0]:
            fill(target); fill(decoy)
    t = threading.Thread(target=flip); t.start()
    wins = 0
    try:
        for _ in range(300):
            s = socket.socket(socket.AF_UNIX)
            if libc.connect(s.fileno(), buf, 110) == 0:
                wins += 1
            s.close()
    finally:
        stop[0] = True; t.join()
    return wins
'''


def test_listed_unix_sockets_leave_other_visible_sockets_unreachable(fence, work, tmp_path,
                                                                    unix_echo):
    # allowUnixSockets makes socket(AF_UNIX) available; a socket file elsewhere in the
    # read-only view of the host (here the working directory; ~/.gnupg in real life) must stay
    # out of reach, by any spelling of its name.
    listed = unix_echo(tmp_path / "listed.sock")
    agent = unix_echo(work / "agent.sock")
    with socket.socket(socket.AF_UNIX) as control:  # the host itself reaches it
        control.connect(str(work / "agent.sock"))
    assert wait_until(lambda: agent.accepted == 1, 5)
    target = str(work / "agent.sock")
    cfg = {"network": {"allowUnixSockets": [str(tmp_path / "listed.sock")]}}
    cp = fence.py(UNIX + UNIX_BYPASS + f'''
attempt('listed', uconnect, {str(tmp_path / "listed.sock")!r})
attempt('direct', uconnect, {target!r})
attempt('symlink', via_symlink, {target!r})
attempt('proc-fd', via_proc_fd, {target!r})
attempt('relative', via_dirfd_relative, {target!r})
os.chdir("/")
attempt('raced', via_raced_address, {target!r}, {str(tmp_path / "listed.sock")!r})
''', config=cfg, flags=["-m"])
    assert_started(cp)
    assert "listed: OK 'echo:hi'" in cp.stdout, fmt(cp)
    for name in ("direct", "symlink", "proc-fd", "relative"):
        assert f"{name}: ERR EACCES" in cp.stdout, fmt(cp)
    assert "raced: OK" in cp.stdout, fmt(cp)  # some connects reached the listed socket
    assert agent.accepted == 1, fmt(cp)       # the control connection only
    assert f"[fence:fs] ✗ connect {target}" in cp.stderr, fmt(cp)


def test_listed_mode_keeps_the_sandbox_own_sockets_working(fence, work, tmp_path, unix_echo):
    # Servers started inside are reachable wherever their socket file lives (a writable
    # project directory, the private /tmp, an abstract name), and TCP keeps working.
    listed = unix_echo(tmp_path / "listed.sock")
    cfg = {"network": {"allowUnixSockets": [str(tmp_path / "listed.sock")]},
           "filesystem": {"allowWrite": ["."]}}
    cp = fence.py(UNIX + r'''
import threading
def serve(address, reply):
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(address)
    srv.listen(4)
    def loop():
        while True:
            c = srv.accept()[0]
            c.recv(10)
            c.sendall(reply)
            c.close()
    threading.Thread(target=loop, daemon=True).start()
serve("project.sock", b"project")
serve("/tmp/private.sock", b"private")
serve("\0fence-inner", b"abstract")
attempt('project', uconnect, "project.sock")
attempt('project-abs', uconnect, os.path.abspath("project.sock"))
attempt('private', uconnect, "/tmp/private.sock")
attempt('abstract', uconnect, "\0fence-inner")
def proxy():
    s = socket.create_connection(("127.0.0.1", int(os.environ["HTTP_PROXY"].rsplit(":", 1)[1])), timeout=5)
    s.sendall(b"CONNECT denied.example:443 HTTP/1.1\r\nHost: denied.example:443\r\n\r\n")
    return s.recv(12).decode()
attempt('tcp', proxy)
def nonblocking():
    s = socket.socket(socket.AF_UNIX)
    s.setblocking(False)
    s.connect("/tmp/private.sock")
    s.setblocking(True)
    s.sendall(b"x")
    return s.recv(10).decode()
attempt('nonblocking', nonblocking)
attempt('missing', uconnect, "/tmp/none.sock")
attempt('not-a-socket', uconnect, "/etc/hostname")
''', config=cfg)
    assert_started(cp)
    # A file that is not a socket: whatever the kernel answers this user outside (EACCES
    # without write permission on it, ECONNREFUSED with).
    with socket.socket(socket.AF_UNIX) as probe:
        with pytest.raises(OSError) as outside:
            probe.connect("/etc/hostname")
    not_a_socket = f"not-a-socket: ERR {errno.errorcode[outside.value.errno]}"
    for expected in ("project: OK 'project'", "project-abs: OK 'project'",
                     "private: OK 'private'", "abstract: OK 'abstract'",
                     "tcp: OK 'HTTP/1.1 403'", "nonblocking: OK 'private'",
                     "missing: ERR ENOENT", not_a_socket):
        assert expected in cp.stdout, fmt(cp)
    assert listed.accepted == 0


def test_listed_path_that_is_not_a_socket_fails_closed(fence, tmp_path, work):
    regular = tmp_path / "not-a-socket"
    regular.write_text("secret\n")
    cp = fence.sh(f"touch {work}/ran", config={"network": {"allowUnixSockets": [str(regular)]},
                                              **WRITABLE_CWD})
    # Found before anything starts: a configuration error (the launcher checks again when it
    # binds the socket in, exit 121, should the file change in between).
    assert cp.returncode == EXIT_CONFIG, fmt(cp)
    assert "is not a socket" in cp.stderr, fmt(cp)
    assert not (work / "ran").exists()


def test_allow_all_unix_sockets_keeps_host_sockets_hidden(fence, tmp_path, unix_echo):
    sockdir = tmp_path / "sockets"
    sockdir.mkdir()
    echo = unix_echo(sockdir / "agent.sock")
    cp = fence.py(UNIX + f'''
attempt('host', uconnect, {str(sockdir / "agent.sock")!r})
srv = socket.socket(socket.AF_UNIX); srv.bind("/tmp/inner.sock"); srv.listen(1)
import threading
threading.Thread(target=lambda: (lambda c: (c.sendall(b"in:" + c.recv(10)), c.close()))(srv.accept()[0]), daemon=True).start()
attempt('inner', uconnect, "/tmp/inner.sock")
''', config={"network": {"allowAllUnixSockets": True}})
    assert_started(cp)
    assert "host: ERR ENOENT" in cp.stdout, fmt(cp)  # the private /tmp does not show it
    assert "inner: OK 'in:hi'" in cp.stdout, fmt(cp)
    assert echo.accepted == 0


def test_host_abstract_sockets_are_never_reachable(fence):
    name = f"\0fence-test-abstract-{os.getpid()}"
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(name)
    srv.listen(1)
    try:
        cp = fence.py(UNIX + f"attempt('abstract', uconnect, {name!r})",
                      config={"network": {"allowAllUnixSockets": True}})
        assert_started(cp)
        assert err(cp, "abstract"), fmt(cp)
        srv.settimeout(0.5)
        with pytest.raises(OSError):
            srv.accept()
    finally:
        srv.close()


# ------------------------------------------------------------------------------ allowPty

PTY = r'''
def openpty():
    m, s = os.openpty()
    name = os.ttyname(s)
    os.close(m); os.close(s)
    return name
'''


def test_pty_allocation_refused_by_default(fence):
    cp = fence.py(PTY + "attempt('pty', openpty)", config={})
    assert_started(cp)
    assert "pty: ERR EACCES" in cp.stdout, fmt(cp)


def test_pty_allocation_with_allow_pty(fence):
    cp = fence.py(PTY + "attempt('pty', openpty)", config={"allowPty": True})
    assert "pty: OK '/dev/pts/" in cp.stdout, fmt(cp)


def test_script_runs_under_a_pty_with_allow_pty(fence):
    if not os.path.exists("/usr/bin/script"):
        pytest.skip("script(1) is not installed")
    cp = fence.run(["script", "-qec", "tty", "/dev/null"], config={"allowPty": True})
    assert cp.returncode == 0, fmt(cp)
    assert "/dev/pts/" in cp.stdout, fmt(cp)
    denied = fence.run(["script", "-qec", "tty", "/dev/null"], config={})
    assert denied.returncode != 0, fmt(denied)


def test_listed_socket_reachable_from_a_non_dumpable_process(fence, tmp_path, unix_echo):
    # ssh talking to a listed SSH_AUTH_SOCK is the common case: ssh makes itself non-dumpable,
    # and init must still read its connect() address (unprivileged run: see test_monitor).
    listed = unix_echo(tmp_path / "agent.sock")
    cfg = {"network": {"allowUnixSockets": [str(tmp_path / "agent.sock")]}}
    cp = fence.py(UNIX + f'''
libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0
attempt('agent', uconnect, {str(tmp_path / "agent.sock")!r})
''', config=cfg)
    assert_started(cp)
    assert "agent: OK 'echo:hi'" in cp.stdout, fmt(cp)
    assert listed.accepted == 1


def test_listed_socket_connects_are_reported(fence, tmp_path, unix_echo):
    # A connect to a listed host socket is a connection to a host service: -d and the audit
    # log show it like a proxied one; the sandbox's own sockets are not reported.
    listed = unix_echo(tmp_path / "agent.sock")
    audit = tmp_path / "audit.jsonl"
    cfg = {"network": {"allowUnixSockets": [str(tmp_path / "agent.sock")]}}
    cp = fence.py(UNIX + f'''
attempt('agent', uconnect, {str(tmp_path / "agent.sock")!r})
srv = socket.socket(socket.AF_UNIX); srv.bind("/tmp/own.sock"); srv.listen(1)
attempt('own', lambda: socket.socket(socket.AF_UNIX).connect("/tmp/own.sock"))
''', config=cfg, flags=["-d", "--audit-log", str(audit)])
    assert_started(cp)
    assert "agent: OK 'echo:hi'" in cp.stdout and "own: OK" in cp.stdout, fmt(cp)
    lines = [l for l in cp.stderr.splitlines() if l.startswith("[fence:unix]")]
    assert len(lines) == 1 and f"✓ connect {tmp_path / 'agent.sock'} (python3" in lines[0], fmt(cp)
    records = [json.loads(l) for l in audit.read_text().splitlines()]
    unix = [r for r in records if r.get("event") == "network" and r.get("protocol") == "unix"]
    assert len(unix) == 1, records
    assert unix[0]["path"] == str(tmp_path / "agent.sock") and unix[0]["verdict"] == "allow"
    assert unix[0]["rule"] == "allowUnixSockets" and unix[0]["sandbox_pid"] >= 1
    assert listed.accepted == 1


def test_http_server_on_port_0_and_a_client_inside_with_the_default_policy(fence):
    cp = fence.sh(
        "python3 -u -m http.server 0 --bind 127.0.0.1 > srv.log 2>&1 & "
        "for i in $(seq 50); do port=$(sed -n 's/.*port \\([0-9]*\\).*/\\1/p' srv.log | head -1); "
        "[ -n \"$port\" ] && break; sleep 0.1; done; "
        "curl -s -m 10 -o /dev/null -w 'ip %{http_code}\\n' http://127.0.0.1:$port/; "
        "curl -s -m 10 -o /dev/null -w 'name %{http_code}\\n' http://localhost:$port/; kill $!",
        config={"filesystem": {"allowWrite": ["."]}})
    assert "ip 200" in cp.stdout and "name 200" in cp.stdout, fmt(cp)


def test_pytest_style_server_fixture_inside(fence, work):
    (work / "test_inside.py").write_text(r'''
import socket, socketserver, threading
import pytest

class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall(self.request.recv(100).upper())

@pytest.fixture
def server():
    srv = socketserver.TCPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address
    srv.shutdown(); srv.server_close()

def test_echo(server):
    with socket.create_connection(server, timeout=5) as c:
        c.sendall(b"ping")
        assert c.recv(100) == b"PING"
''')
    cp = fence.run([PY, "-B", "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_inside.py"])
    assert cp.returncode == 0 and "1 passed" in cp.stdout, fmt(cp)


def test_allow_unix_sockets_entries_missing_or_not_sockets(fence, work, unix_echo):
    """A listed socket that does not exist (yet) is skipped and said so with -m and -d; a
    listed path that is not a socket is a configuration error before anything runs."""
    present = unix_echo(work / "present.sock")
    cfg = {"network": {"allowUnixSockets": [str(work / "later.sock"), str(work / "present.sock")]}}
    for flag in ("-m", "-d"):
        cp = fence.py(UNIX + f"attempt('present', uconnect, {str(work / 'present.sock')!r})",
                      config=cfg, flags=[flag])
        assert "present: OK 'echo:hi'" in cp.stdout, fmt(cp)
        assert f"[fence:net] allowUnixSockets: {work / 'later.sock'} does not exist; skipped" \
            in cp.stderr, fmt(cp)
    assert present.accepted == 2
    cp = fence.py(UNIX, config=cfg)
    assert "[fence:" not in cp.stderr, fmt(cp)
    (work / "plain").write_text("x")
    cp = fence.run(["echo", "ran"], config={"network": {"allowUnixSockets": [str(work / "plain")]}})
    assert cp.returncode == 122 and "ran" not in cp.stdout, fmt(cp)
    assert "is not a socket" in cp.stderr, fmt(cp)


def test_transparent_port_reaches_a_service_bound_to_ipv6_loopback_only(fence, service):
    """Node.js binds `localhost` to ::1 first: a transparent port reaches the host's service on
    127.0.0.1 or, when nothing listens there, on ::1."""
    six = service("::1")
    cp = fence.py(PING + f"attempt('v6', ping, {six.port})",
                  config={"network": {"allowLocalOutboundPorts": [six.port]}}, flags=["-d"])
    assert "v6: OK '+PONG'" in cp.stdout, fmt(cp)
    assert six.connections == 1
    assert "-> host ::1 (allowLocalOutboundPorts)" in cp.stderr, fmt(cp)


@pytest.mark.parametrize("network,named", [
    ({"allowLocalOutboundPorts": [6379]}, "allowLocalOutboundPorts"),
    ({"allowedDomains": ["127.0.0.1:5432"]}, '"127.0.0.1:5432"'),
    ({"allowedDomains": ["::1"]}, '"::1"'),
])
def test_explicit_no_local_outbound_contradicted_is_a_configuration_error(fence, network, named):
    cp = fence.run(["echo", "ran"], config={"network": {"allowLocalOutbound": False, **network}})
    assert cp.returncode == 122 and "ran" not in cp.stdout, fmt(cp)
    assert "allowLocalOutbound: false, but" in cp.stderr and named in cp.stderr, fmt(cp)
    # Without the explicit false, the same settings run.
    assert fence.run(["echo", "ran"], config={"network": network}).stdout == "ran\n"


def test_allow_unix_sockets_entry_through_a_planted_symlink_is_skipped(fence, work, tmp_path,
                                                                      unix_echo):
    """An earlier run with a writable working directory plants ./app.sock -> a host socket;
    listing ./app.sock later must not make that host socket reachable."""
    agent = unix_echo(tmp_path / "agent.sock")
    cp = fence.sh(f"ln -s {agent.path} app.sock", config=WRITABLE_CWD)
    assert cp.returncode == 0 and (work / "app.sock").is_symlink(), fmt(cp)
    cp = fence.py(UNIX + "attempt('app', uconnect, './app.sock')",
                  config={"network": {"allowUnixSockets": ["./app.sock"]}}, flags=["-m"])
    assert err(cp, "app"), fmt(cp)
    assert "skipped: reached through symlink" in cp.stderr, fmt(cp)
    assert agent.accepted == 0


def test_listener_ports_are_reserved_on_ipv6_loopback(fence):
    """`localhost` may mean ::1 first: the command cannot listen on [::1] of a proxy or
    transparent port, and a client of localhost:3128 still reaches the proxy."""
    port = free_port()
    code = "".join(
        f"attempt('{name}', lambda p: socket.socket(socket.AF_INET6).bind(('::1', p)), {p})\n"
        for name, p in (("http", 3128), ("socks", 1080), ("local", port)))
    code += "attempt('other', lambda p: socket.socket(socket.AF_INET6).bind(('::1', p)), 0)\n"
    cp = fence.py(code, config={"network": {"allowLocalOutboundPorts": [port]}})
    for name in ("http", "socks", "local"):
        assert f"{name}: ERR EADDRINUSE" in cp.stdout, fmt(cp)
    assert ok(cp, "other"), fmt(cp)


def test_socket_families_outside_the_network_namespace_are_refused(fence):
    """AF_VSOCK reaches the hypervisor whatever the network namespace; it and every family
    but unix, IPv4, IPv6 and netlink are refused (also with high bits in the argument)."""
    code = r'''
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
def raw_socket(domain, kind=1):
    r = libc.syscall(41, ctypes.c_long(domain), kind, 0)
    if r < 0:
        raise OSError(ctypes.get_errno(), "socket")
    return "created"
for name, fam in (("vsock", 40), ("packet", 17), ("alg", 38), ("tipc", 30), ("zero", 0),
                  ("high-vsock", (1 << 32) | 40), ("high-unix", (1 << 32) | 1)):
    attempt(name, raw_socket, fam)
for name, fam in (("inet", 2), ("inet6", 10), ("unix", 1)):
    attempt(name, raw_socket, fam)
attempt("netlink", raw_socket, 16, 2)
'''
    cp = fence.py(code, config={})
    for name in ("vsock", "packet", "alg", "tipc", "zero", "high-vsock", "high-unix"):
        assert f"{name}: ERR EPERM" in cp.stdout, (name, fmt(cp))
    for name in ("inet", "inet6", "unix", "netlink"):
        assert ok(cp, name), (name, fmt(cp))


def test_allow_unix_sockets_entry_with_a_second_name_is_skipped(fence, work, unix_echo):
    """A hard link made in a writable tree by an earlier run gives an unlisted host socket a
    listed name: a socket with more than one name is not made reachable."""
    (work / ".other").mkdir()
    agent = unix_echo(work / ".other" / "S.sock")
    os.link(agent.path, work / "app.sock")
    cp = fence.py(UNIX + "attempt('app', uconnect, './app.sock')",
                  config={"network": {"allowUnixSockets": ["./app.sock"]}}, flags=["-m"])
    assert err(cp, "app"), fmt(cp)
    assert "skipped: the socket has 2 names" in cp.stderr, fmt(cp)
    assert agent.accepted == 0
