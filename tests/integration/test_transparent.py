"""The transparent network path: programs that ignore the proxy variables get exactly the
policy's access, decided by the supervisor like a CONNECT, with no DNS query leaving for a
denied name. Each positive test fails with "transparent": false (no route at all), which the
last test checks directly."""

from __future__ import annotations

import shutil
import uuid

import pytest

from conftest import assert_started, fmt

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


def test_bash_dev_tcp_and_nc_are_decided_too(fence, net):
    if not shutil.which("bash"):
        pytest.skip("bash not installed")
    m = marker()
    script = (f"exec 3<>/dev/tcp/allowed.example/80 && printf 'GET /bash-{m} HTTP/1.0\\r\\n"
              f"Host: allowed.example\\r\\n\\r\\n' >&3 && head -1 <&3")
    cp = fence.run(["/bin/bash", "-c", script], config=net.config(["allowed.example"]))
    assert cp.stdout.startswith("HTTP/1."), fmt(cp)
    assert [e for e in net.access_entries() if m in (e.get("line") or "")], net.access_entries()
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
    text = audit.read_text()
    assert '"protocol":"transparent"' in text and '"protocol":"dns"' in text, text


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
