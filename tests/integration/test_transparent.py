"""The transparent network path: programs that ignore the proxy variables get exactly the
policy's access, decided by the supervisor like a CONNECT, with no DNS query leaving for a
denied name. Each positive test fails with "transparent": false (no route at all), which the
last test checks directly."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid

import pytest

from conftest import PRELUDE, PY, assert_started, fmt
from test_network import _workers_of

NO_PROXY_ENV = {k: None for k in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy",
                                  "https_proxy", "all_proxy")}

GET = r'''
import socket, sys, time
def get(host, path):
    s = socket.create_connection((host, 80), timeout=5)
    s.sendall(("GET " + path + " HTTP/1.0\r\nHost: " + host + "\r\n\r\n").encode())
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    return data.split(b"\r\n", 1)[0].decode()
'''


def marker() -> str:
    return uuid.uuid4().hex[:12]


def unproxied(fence, code, net, allowed=("allowed.example",), **network):
    # The sandbox's own proxy variables are set by fence; this program ignores them.
    return fence.py(GET + code, config=net.config(list(allowed), **network))


def test_proxy_unaware_python_reaches_an_allowed_name(fence, net):
    m = marker()
    cp = unproxied(fence, f"print('STATUS', get('allowed.example', '/t-{m}'))", net)
    assert_started(cp)
    assert "STATUS HTTP/1." in cp.stdout, fmt(cp)  # the fixture server answered
    assert [e for e in net.access_entries() if m in (e.get("line") or "")], net.access_entries()


def test_denied_name_gets_nxdomain_and_no_query_leaves(fence, net):
    m = marker()
    name = f"denied-{m}.example"
    cp = unproxied(fence, f"""
try:
    socket.getaddrinfo({name!r}, 80)
    print("RESOLVED")
except socket.gaierror as e:
    print("NXDOMAIN", e.errno)
""", net)
    assert_started(cp)
    assert "NXDOMAIN" in cp.stdout and "RESOLVED" not in cp.stdout, fmt(cp)
    assert not [q for q in net.dns_queries() if m in q.get("data", "") + q.get("qname", "")], \
        net.dns_queries()


def test_literal_address_follows_the_ip_rules(fence, net):
    m = marker()
    code = f"""
try:
    print("STATUS", get({net.upstream!r}, '/lit-{m}'))
except OSError as e:
    print("REFUSED", e.errno)
"""
    t0 = __import__("time").monotonic()
    cp = unproxied(fence, code, net)
    assert_started(cp)
    assert "REFUSED" in cp.stdout, fmt(cp)
    assert __import__("time").monotonic() - t0 < 10, "a refusal must not wait for a timeout"
    assert not [e for e in net.access_entries() if m in (e.get("line") or "")]
    cp = unproxied(fence, code, net, allowed=[net.upstream])
    assert "STATUS HTTP/1." in cp.stdout, fmt(cp)
    assert [e for e in net.access_entries() if m in (e.get("line") or "")], net.access_entries()


@pytest.mark.parametrize("transparent", [True, False])
def test_bash_dev_tcp_is_decided_too(fence, net, transparent):
    if not shutil.which("bash"):
        pytest.skip("bash not installed")
    m = marker()
    script = (f"exec 3<>/dev/tcp/allowed.example/80 && printf 'GET /bash-{m} HTTP/1.0\\r\\n"
              f"Host: allowed.example\\r\\n\\r\\n' >&3 && head -1 <&3")
    cp = fence.run(["/bin/bash", "-c", script],
                   config=net.config(["allowed.example"], transparent=transparent))
    hits = [e for e in net.access_entries() if m in (e.get("line") or "")]
    if not transparent:
        assert not cp.stdout.startswith("HTTP/1.") and not hits, fmt(cp)
        return
    assert cp.stdout.startswith("HTTP/1."), fmt(cp)
    assert hits, net.access_entries()
    cp = fence.run(["/bin/bash", "-c", "exec 3<>/dev/tcp/other.example/80 && echo open"],
                   config=net.config(["allowed.example"]))
    assert "open" not in cp.stdout, fmt(cp)


def test_audit_and_monitor_say_transparent_and_dns(fence, net, tmp_path):
    audit = tmp_path / "audit.jsonl"
    cp = fence.py(GET + """
try:
    get('allowed.example', '/audit')
except OSError:
    pass
try:
    socket.getaddrinfo('nope.example', 80)
except OSError:
    pass
""", config=net.config(["allowed.example"]), flags=["-m", "--audit-log", str(audit)])
    assert_started(cp)
    assert "[fence:dns] ✗ nope.example" in cp.stderr, fmt(cp)
    records = [json.loads(l) for l in audit.read_text().splitlines()]
    network = [r for r in records if r["event"] == "network"]
    # The allowed name's answer (its synthetic address), the refused name, the connection.
    dns = [(r["host"], r["verdict"], r["connected"][:6]) for r in network
           if r["protocol"] == "dns"]
    # The A question's answer carries the synthetic address; AAAA's none.
    assert ("allowed.example", "allow", "198.18") in dns, network
    assert ("nope.example", "deny", "") in dns, network
    conn = [r for r in network if r["protocol"] == "transparent"]
    assert conn and conn[0]["host"] == "allowed.example" and conn[0]["verdict"] == "allow", \
        network
    assert conn[0]["bytes_down"] > 0, network
    start = records[0]
    assert start["event"] == "session_start" and start["features"]["transparent"] is True, start
    end = records[-1]
    assert end["event"] == "session_end", records
    assert end["counts"]["transparent"] == 1 and end["counts"]["dns"] >= 2, end


def test_other_udp_fails_at_once_and_dns_to_any_server_is_answered_by_fence(fence, net):
    m = marker()
    cp = fence.py(f"""
import time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
t = time.monotonic()
try:
    s.connect(({net.upstream!r}, 9)); s.send(b"x"); s.recv(10); print("UDP OK")
except OSError as e:
    print("UDP ERR %.1f" % (time.monotonic() - t))
q = bytes.fromhex("abcd01000001000000000000") + bytes([7]) + b"nothing" + bytes([1]) + b"{m[0]}" + bytes([0, 0, 1, 0, 1])
d = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
d.settimeout(3)
d.sendto(q, ("8.8.8.8", 53))
reply, source = d.recvfrom(512)
print("DNS", source, reply[3] & 15)
""", config=net.config(["allowed.example"]))
    assert_started(cp)
    assert "UDP ERR" in cp.stdout and "UDP OK" not in cp.stdout, fmt(cp)
    assert "DNS ('8.8.8.8', 53) 3" in cp.stdout, fmt(cp)  # NXDOMAIN, from the address asked


def test_transparent_false_keeps_no_route(fence, net):
    cp = unproxied(fence, """
try:
    print("STATUS", get('allowed.example', '/off'))
except OSError as e:
    print("ERR", e)
""", net, transparent=False)
    assert_started(cp)
    assert "STATUS" not in cp.stdout and "ERR" in cp.stdout, fmt(cp)


# --- programs of every kind, each failing with "transparent": false -----------------------

def _tool(name):
    if not shutil.which(name):
        pytest.skip(f"{name} not installed (scripts/install-deps.sh installs it)")


@pytest.mark.parametrize("transparent", [True, False])
def test_node_native_http_reaches_an_allowed_name(fence, net, transparent):
    _tool("node")
    m = marker()
    js = (f"require('http').get('http://allowed.example/node-{m}', r => {{"
          "console.log('STATUS', r.statusCode); r.resume(); })"
          ".on('error', e => console.log('ERR', e.code))")
    cp = fence.run(["node", "-e", js],
                   config=net.config(["allowed.example"], transparent=transparent))
    assert "STATUS" in cp.stdout or "ERR" in cp.stdout, fmt(cp)  # node ran
    hits = [e for e in net.access_entries() if m in (e.get("line") or "")]
    if transparent:
        assert "STATUS 404" in cp.stdout or "STATUS 200" in cp.stdout, fmt(cp)
        assert hits, net.access_entries()
    else:
        assert "ERR" in cp.stdout and not hits, fmt(cp)


@pytest.mark.parametrize("transparent", [True, False])
def test_nc_reaches_an_allowed_name_and_not_a_denied_one(fence, net, transparent, tmp_path):
    _tool("nc")
    m = marker()
    audit = tmp_path / "audit.jsonl"
    script = (f"printf 'GET /nc-{m} HTTP/1.0\\r\\nHost: allowed.example\\r\\n\\r\\n' | "
              "nc -N -w 5 allowed.example 80 | head -1; "
              "printf 'x' | nc -N -w 5 denied.example 80; echo denied-rc $?")
    cp = fence.run(["/bin/sh", "-c", script], flags=["--audit-log", str(audit)],
                   config=net.config(["allowed.example"], ["denied.example"],
                                     transparent=transparent))
    assert "denied-rc" in cp.stdout, fmt(cp)  # the script ran to its end
    hits = [e for e in net.access_entries() if m in (e.get("line") or "")]
    assert "denied-rc 0" not in cp.stdout, fmt(cp)
    if transparent:
        assert cp.stdout.startswith("HTTP/1."), fmt(cp)
        assert hits, net.access_entries()
        records = [json.loads(l) for l in audit.read_text().splitlines()]
        refused = [r for r in records if r.get("event") == "network" and
                   r.get("host") == "denied.example" and r.get("verdict") == "deny"]
        assert refused and refused[0]["protocol"] == "dns", records
    else:
        assert not cp.stdout.startswith("HTTP/1.") and not hits, fmt(cp)


@pytest.mark.parametrize("transparent", [True, False])
def test_getent_resolves_allowed_names_only_and_asks_no_real_server(fence, net, transparent):
    m = marker()
    cp = fence.sh(f"getent hosts allowed.example; echo allowed-rc $?; "
                  f"getent hosts denied-{m}.example; echo denied-rc $?",
                  config=net.config(["allowed.example"], transparent=transparent))
    assert "denied-rc" in cp.stdout, fmt(cp)  # the script ran to its end
    assert "denied-rc 0" not in cp.stdout, fmt(cp)
    if transparent:
        # A synthetic address from 198.18.0.0/15, bound to the name for the session.
        assert "allowed-rc 0" in cp.stdout and "198.1" in cp.stdout, fmt(cp)
        assert cp.stdout.split()[0].startswith(("198.18.", "198.19.")), fmt(cp)
    else:
        # The host's hosts file is then what the sandbox sees: no DNS, no synthetic address.
        assert "198.18." not in cp.stdout and "198.19." not in cp.stdout, fmt(cp)
    assert not [q for q in net.dns_queries() if m in q.get("data", "") + q.get("qname", "")], \
        net.dns_queries()


def test_dig_to_any_server_over_udp_and_tcp_is_answered_by_fence(fence, net):
    _tool("dig")
    m = marker()
    before = len(net.dns_queries())
    script = "; ".join([
        "dig +short +time=3 +tries=1 @8.8.8.8 allowed.example",
        f"dig +time=3 +tries=1 @{net.upstream} denied-{m}.example | grep -o 'status: [A-Z]*'",
        "dig +tcp +short +time=3 +tries=1 @8.8.8.8 allowed.example",
        f"dig +tcp +time=3 +tries=1 @{net.upstream} denied-{m}.example | grep -o 'status: [A-Z]*'",
        "dig +short +time=3 +tries=1 @8.8.8.8 allowed.example AAAA; echo aaaa-done",
    ])
    cp = fence.sh(script, config=net.config(["allowed.example"]))
    lines = cp.stdout.split()
    synthetic = [l for l in lines if l.startswith(("198.18.", "198.19."))]
    assert len(synthetic) == 2 and synthetic[0] == synthetic[1], fmt(cp)  # UDP and TCP agree
    assert lines.count("NXDOMAIN") == 2, fmt(cp)
    assert "aaaa-done" in cp.stdout and "::" not in cp.stdout, fmt(cp)  # AAAA: no record
    # The fixture's real resolver (which dig named for two of the queries) heard nothing.
    assert net.dns_queries()[before:] == [], net.dns_queries()[before:]


@pytest.mark.parametrize("name", ["loopback.example", "private.example", "linklocal.example",
                                  "selfhost.example"])
def test_names_resolving_to_non_public_addresses_are_refused(fence, net, tmp_path, name):
    audit = tmp_path / "audit.jsonl"
    cp = fence.py(GET + f"""
import time
t = time.monotonic()
try:
    print("STATUS", get({name!r}, '/ssrf'))
except OSError as e:
    print("REFUSED %.1f" % (time.monotonic() - t))
""", config=net.config([name]), flags=["--audit-log", str(audit)])
    assert_started(cp)
    assert "REFUSED" in cp.stdout and "STATUS" not in cp.stdout, fmt(cp)
    assert float(cp.stdout.split("REFUSED")[1].split()[0]) < 5, fmt(cp)
    records = [json.loads(l) for l in audit.read_text().splitlines()]
    refused = [r for r in records if r.get("event") == "network" and
               r.get("protocol") == "transparent" and r.get("verdict") == "deny"]
    assert refused and refused[0]["host"] == name, records
    assert refused[0]["deny_reason"] == "non-public-address", refused


def test_star_gives_every_public_name_but_denied_names_and_the_guard_still_apply(fence, net):
    m = marker()
    cp = fence.py(GET + f"""
for name in ("allowed.example", "other.example", "denied.example", "loopback.example"):
    try:
        print(name, "STATUS", get(name, '/star-{m}'))
    except OSError as e:
        print(name, "REFUSED")
""", config=net.config(["*"], ["denied.example"]))
    assert_started(cp)
    out = cp.stdout
    assert "allowed.example STATUS HTTP/1." in out and "other.example STATUS HTTP/1." in out, \
        fmt(cp)
    assert "denied.example REFUSED" in out and "loopback.example REFUSED" in out, fmt(cp)


@pytest.mark.parametrize("ports", [[9, 53, 123, 443, 4433, 51820]])
def test_udp_to_any_port_and_address_fails_at_once(fence, net, ports):
    cp = fence.py(f"""
import time
for port in {ports!r}:
    for host in ({net.upstream!r}, "203.0.113.7", "198.18.0.9"):
        if port == 53:
            continue  # DNS is answered by fence (other tests)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(3)
        t = time.monotonic()
        try:
            s.connect((host, port)); s.send(b"x"); s.recv(10); print("UDP OK", host, port)
        except OSError:
            if time.monotonic() - t > 1:
                print("UDP SLOW", host, port)
""", config=net.config(["*"]))
    assert_started(cp)
    assert "UDP OK" not in cp.stdout and "UDP SLOW" not in cp.stdout, fmt(cp)


def test_worker_killed_leaves_no_network(fence, net, work):
    flag = work / "worker-killed"
    code = GET + f"""
import os, time
print("first", get('allowed.example', '/before'), flush=True)
while not os.path.exists({str(flag)!r}):
    time.sleep(0.05)
t = time.monotonic()
try:
    print("second", get('allowed.example', '/after'))
except OSError as e:
    print("second refused %.1f" % (time.monotonic() - t))
try:
    socket.getaddrinfo('other-name.example', 80)
    print("dns answered")
except OSError:
    print("dns refused %.1f" % (time.monotonic() - t))
"""
    proc = fence.popen([PY, "-c", PRELUDE + "\n" + code], config=net.config(["*"]),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        if first.startswith("FENCE-ITEST-STARTED"):
            first = proc.stdout.readline()
        assert first.startswith("first HTTP/1."), first
        for pid in _workers_of(proc.pid):
            os.kill(pid, 9)
        flag.write_text("")
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert "second refused" in out and "dns refused" in out, (out, err)
    assert "dns answered" not in out, (out, err)
    assert "worker fault" in err, err


def test_debug_shows_the_transparent_plan_and_decisions(fence, net):
    cp = fence.py(GET + "get('allowed.example', '/plan')", flags=["-d"],
                  config=net.config(["allowed.example"]))
    assert_started(cp)
    assert "transparent path: TCP leaving loopback redirected" in cp.stderr, fmt(cp)
    assert "/etc/resolv.conf replaced" in cp.stderr, fmt(cp)
    assert "[fence:dns] ✓ allowed.example -> 198.1" in cp.stderr, fmt(cp)
    assert "[fence:transparent] ✓ allowed.example:80" in cp.stderr, fmt(cp)
    cp = fence.py("pass", flags=["-d"], config=net.config(["allowed.example"], transparent=False))
    assert_started(cp)
    assert "transparent path" not in cp.stderr and "resolv.conf" not in cp.stderr, fmt(cp)


# --- network.verifyTls ----------------------------------------------------------------------

FRONTING = GET + r'''
import ssl
def claim_http(host_header):
    s = socket.create_connection(("allowed.example", 80), timeout=5)
    s.sendall(("GET /front HTTP/1.0\r\nHost: " + host_header + "\r\n\r\n").encode())
    try:
        return s.recv(100).split(b"\r\n", 1)[0].decode() or "EOF"
    except OSError as e:
        return "ERR"
def claim_tls(server_name, cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    s = socket.create_connection(("allowed.example", 443), timeout=5)
    try:
        t = ctx.wrap_socket(s, server_hostname=server_name)
        t.sendall(b"GET /hello.txt HTTP/1.0\r\nHost: allowed.example\r\n\r\n")
        return t.recv(100).split(b"\r\n", 1)[0].decode()
    except OSError as e:
        return "ERR"
def claim_keepalive(first, second, marker):
    s = socket.create_connection(("allowed.example", 80), timeout=5)
    s.sendall(("GET /echo?ka1-" + marker + " HTTP/1.1\r\nHost: " + first + "\r\n\r\n"
               "GET /echo?ka2-" + marker + " HTTP/1.1\r\nHost: " + second +
               "\r\nConnection: close\r\n\r\n").encode())
    data = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    except OSError:
        pass
    import re
    return [l.decode() for l in re.findall(rb"HTTP/1\.[01] \d{3}", data)]
def claim_none():
    s = socket.create_connection(("allowed.example", 80), timeout=5)
    s.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
    try:
        return s.recv(100).decode(errors="replace") or "EOF"
    except OSError:
        return "ERR"
'''


@pytest.mark.parametrize("verify", [True, False])
def test_verify_tls_refuses_a_connection_that_names_another_host(fence, net, tmp_path, verify):
    cert = net.cert_in(fence.work)
    audit = tmp_path / "audit.jsonl"
    m = marker()
    cp = fence.py(FRONTING + f"""
print("http-same", claim_http("allowed.example"))
print("http-other", claim_http("other.example"))
print("tls-same", claim_tls("allowed.example", {str(cert)!r}))
print("tls-other", claim_tls("other.example", {str(cert)!r}))
print("none", claim_none())
print("keepalive-same", claim_keepalive("allowed.example", "allowed.example", {m + "s"!r}))
print("keepalive-other", claim_keepalive("allowed.example", "other.example", {m + "o"!r}))
""", config=net.config(["allowed.example", "other.example"], verifyTls=verify),
        flags=["--audit-log", str(audit)])
    assert_started(cp)
    out = dict(line.split(" ", 1) for line in cp.stdout.splitlines() if " " in line)
    assert out["http-same"].startswith("HTTP/1."), fmt(cp)
    assert out["tls-same"].startswith("HTTP/1."), fmt(cp)
    records = [json.loads(l) for l in audit.read_text().splitlines()]
    fronting = [r for r in records if r.get("event") == "network" and r.get("rule") == "verifyTls"]
    served = [e.get("host") for e in net.access_entries() if m in (e.get("line") or "")]
    # Two requests on one plain-HTTP connection: both served when they name the same host.
    assert served.count("allowed.example") >= 3, (served, fmt(cp))
    if verify:
        # The second request names another host: refused by fence (403), never sent upstream.
        assert out["keepalive-same"].count("HTTP/1.") == 2, fmt(cp)
        assert out["keepalive-other"].count("HTTP/1.1 403") == 1, fmt(cp)
        assert "other.example" not in served, served
        assert out["http-other"].startswith("HTTP/1.1 403"), fmt(cp)
        assert out["tls-other"] == "ERR", fmt(cp)
        assert out["none"] in ("ERR", "EOF"), fmt(cp)
        reasons = sorted(r["reason"] for r in fronting)
        assert len(fronting) == 4 and all(r["verdict"] == "deny" for r in fronting), records
        assert sum("names other.example but its address stands for allowed.example" in r
                   for r in reasons) == 3, reasons
        assert any("names no host" in r for r in reasons), reasons
    else:
        # Without the check the address decides: the other names reach the same server.
        assert out["http-other"].startswith("HTTP/1."), fmt(cp)
        assert out["tls-other"].startswith("HTTP/1."), fmt(cp)
        assert "other.example" in served, served  # the second request reached the server
        assert not fronting, records


def test_hostile_dns_traffic_leaves_the_dns_working(fence, net):
    # Garbage datagrams, a zero and an oversized TCP length, more connections than the worker
    # keeps, a connection that never reads its answers: afterwards a plain lookup still works.
    cp = fence.py(r"""
import os, struct
q = lambda i, name: struct.pack(">HHHHHH", i, 0x0100, 1, 0, 0, 0) + b"".join(
    bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0\0\1\0\1"
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for n in range(200):
    u.sendto(os.urandom(n % 40), ("127.0.0.53", 53))
def tcp():
    return socket.create_connection(("127.0.0.53", 53), timeout=5)
for bad in (b"\0\0", b"\xff\xff" + b"x" * 100, b"\0\x05hello"):
    s = tcp(); s.sendall(bad)
    try:
        print("bad", bad[:2].hex(), s.recv(10) or b"closed")
    except OSError as e:
        print("bad", bad[:2].hex(), "reset")
held = []
for i in range(100):
    try:
        held.append(tcp())
    except OSError:
        pass
for s in held:
    s.close()
time.sleep(0.2)
greedy = tcp()
try:
    greedy.sendall(b"".join(struct.pack(">H", len(q(i, "allowed.example"))) +
                            q(i, "allowed.example") for i in range(500)))
except OSError:
    pass  # the worker stopped reading it: its buffer filled
time.sleep(0.2)
print("lookup", socket.gethostbyname("allowed.example"))
s = tcp()
m = q(7, "allowed.example")
s.sendall(struct.pack(">H", len(m)) + m)
n = struct.unpack(">H", s.recv(2))[0]
print("tcp answer id", struct.unpack(">H", s.recv(n)[:2])[0])
""", config=net.config(["allowed.example"]))
    assert_started(cp)
    assert "lookup 198.1" in cp.stdout, fmt(cp)
    assert "tcp answer id 7" in cp.stdout, fmt(cp)
    assert "worker fault" not in cp.stderr, fmt(cp)


def test_ports_of_the_transparent_path_give_way_and_port_53_is_its_own(fence, net):
    # The path's internal ports move aside for the user's; a proxy answers on 41080.
    cp = fence.py(GET + "print('STATUS', get('allowed.example', '/ports'))", flags=["-d"],
                  config=net.config(["allowed.example"], httpProxyPort=41080))
    assert_started(cp)
    assert "STATUS HTTP/1." in cp.stdout, fmt(cp)
    assert "redirected to 127.0.0.1:41081" in cp.stderr, fmt(cp)
    for cfg, flags in ((net.config(["allowed.example"], allowLocalOutboundPorts=[53]), []),
                       (net.config(["allowed.example"]), ["-p", "53"])):
        cp = fence.py("pass", config=cfg, flags=flags)
        assert cp.returncode == 122, fmt(cp)
        assert "port 53 inside the sandbox is fence's DNS" in cp.stderr, fmt(cp)
        assert len(cp.stderr.strip().splitlines()) == 1, fmt(cp)
    cp = fence.py("pass", config=net.config(["allowed.example"], allowLocalOutboundPorts=[53],
                                            transparent=False))
    assert_started(cp)


def test_proxy_clients_that_resolve_names_themselves_reach_the_name(fence, net):
    # socks5:// (not socks5h://): curl looks the name up itself, gets the synthetic address,
    # and asks the SOCKS5 proxy for it; the supervisor decides it as the name.
    cp = fence.sh("curl -sS --max-time 10 --socks5 127.0.0.1:1080 http://allowed.example/hello.txt;"
                  " curl -sS --max-time 10 --socks5 127.0.0.1:1080 http://other.example/hello.txt;"
                  " echo rc=$?", flags=["-m"], config=net.config(["allowed.example"]))
    assert cp.stdout.startswith(net.hello), fmt(cp)
    assert "rc=0" not in cp.stdout, fmt(cp)  # other.example: NXDOMAIN inside, nothing asked
    cp = fence.sh("curl -sS --max-time 10 --socks5 127.0.0.1:1080 http://198.18.0.77/; echo rc=$?",
                  flags=["-m"], config=net.config(["allowed.example"]))
    assert "rc=0" not in cp.stdout, fmt(cp)
    assert "a synthetic address no name was given" in cp.stderr, fmt(cp)


def test_http_proxy_requests_for_a_synthetic_address_are_refused_naming_the_host(fence, net):
    cp = fence.sh("a=$(getent hosts allowed.example | cut -d' ' -f1); "
                  "curl -sS -o /dev/null -w '%{http_code}\\n' --max-time 10 "
                  "-x http://127.0.0.1:3128 http://$a/hello.txt", flags=["-m"],
                  config=net.config(["allowed.example"]))
    assert cp.stdout.strip() == "403", fmt(cp)
    assert "ask for allowed.example" in cp.stderr, fmt(cp)
