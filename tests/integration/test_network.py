"""Network allowlisting end to end: the proxies, the policy, the SSRF guard, the audit log.

Runs against net_fixture.sh (see conftest.Net): fence and pytest are in the fixture's "host"
network namespace; the upstream servers are at 198.51.100.10/.11 and 2001:db8::10, and the
hosts file maps the *.example names used below. Canary listeners on the host namespace's own
addresses must never be reached (checked after every test by the `net` fixture).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import PY, Net, assert_started, fmt, processes_with, wait_until

HTTP_PORT = 3128
SOCKS_PORT = 1080
BLOCKED_BODY = "Connection blocked by network allowlist"
CURL_CONNECT_FAILED = 56   # CURLE_RECV_ERROR: a CONNECT answered with a non-2xx status
CURL_PROXY_ERROR = 97      # CURLE_PROXY (curl >= 7.73): SOCKS5 request refused, among others
CURL = ["curl", "-sS", "--max-time", "20"]


@pytest.fixture(autouse=True)
def _network_fixture(net):
    """Every test here needs the fixture (skips without it) and checks the canaries."""
    yield


def curl(fence, cfg, *args, flags=(), **kw):
    return fence.run([*CURL, *args], config=cfg, flags=flags, **kw)


def marker() -> str:
    return uuid.uuid4().hex[:12]


def requests_for(net: Net, needle: str) -> list[dict]:
    """Upstream access-log entries whose request line or Host contains needle."""
    return [e for e in net.access_entries()
            if needle in (e.get("line") or "") or needle in (e.get("host") or "")]


# In-sandbox helpers (appended to conftest.PRELUDE): talk to the proxies byte by byte.
RAW = r'''
def recv_head(s):
    data = b""
    while b"\r\n\r\n" not in data:
        b = s.recv(65536)
        if not b:
            break
        data += b
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest

def parse(head):
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers

def read_body(s, headers, rest):
    n = headers.get("content-length")
    body = rest
    if n is not None and n.isdigit():
        n = int(n)
        while len(body) < n:
            b = s.recv(65536)
            if not b:
                break
            body += b
        return body[:n]
    while True:
        try:
            b = s.recv(65536)
        except OSError:
            break
        if not b:
            break
        body += b
    return body

def http(s, req):
    """Send one request on s; returns (status, headers, body); status None if closed."""
    s.sendall(req.encode("latin-1") if isinstance(req, str) else req)
    head, rest = recv_head(s)
    if not head:
        return None, {}, b""
    status, headers = parse(head)
    return status, headers, read_body(s, headers, rest)

def result(**kw):
    print("RESULT " + json.dumps(kw), flush=True)

def proxy(port=3128):
    return socket.create_connection(("127.0.0.1", port), timeout=20)

def get_via_proxy(url, host=None, extra="", port=3128):
    """Absolute-form GET through the HTTP proxy, Connection: close."""
    try:
        s = proxy(port)
        h = host if host is not None else url.split("/")[2]
        st, hd, body = http(s, f"GET {url} HTTP/1.1\r\nHost: {h}\r\n{extra}Connection: close\r\n\r\n")
        s.close()
        return {"status": st, "headers": hd, "body": body.decode("latin-1")}
    except OSError as e:
        return {"status": None, "error": str(e), "body": ""}

def connect_via_proxy(target, port=3128):
    """CONNECT target; returns the status and, on 200, the tunnel socket."""
    try:
        s = proxy(port)
        s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        head, rest = recv_head(s)
        if not head:
            return {"status": None, "body": ""}, None
        st, hd = parse(head)
        if st == 200:
            return {"status": st, "body": ""}, s
        body = read_body(s, hd, rest)
        s.close()
        return {"status": st, "headers": hd, "body": body.decode("latin-1")}, None
    except OSError as e:
        return {"status": None, "error": str(e), "body": ""}, None

def recvn(s, n):
    data = b""
    while len(data) < n:
        b = s.recv(n - len(data))
        if not b:
            break
        data += b
    return data

def socks(host, port, cmd=1, atyp=3, sport=1080):
    """SOCKS5 no-auth request; returns (method reply, reply code or None, socket)."""
    try:
        return _socks(host, port, cmd, atyp, sport)
    except OSError as e:
        return "error: " + str(e), None, None

def _socks(host, port, cmd, atyp, sport):
    s = socket.create_connection(("127.0.0.1", sport), timeout=20)
    s.sendall(b"\x05\x01\x00")
    m = recvn(s, 2)
    if m != b"\x05\x00":
        return m.hex(), None, s
    if atyp == 3:
        addr = bytes([len(host)]) + host.encode()
    elif atyp == 1:
        addr = socket.inet_aton(host)
    else:
        addr = socket.inet_pton(socket.AF_INET6, host)
    s.sendall(bytes([5, cmd, 0, atyp]) + addr + port.to_bytes(2, "big"))
    r = recvn(s, 4)
    if len(r) < 2:
        return m.hex(), None, s
    if len(r) == 4:
        alen = {1: 4, 4: 16}.get(r[3])
        if alen is None and r[3] == 3:
            alen = recvn(s, 1)[0]
        recvn(s, (alen or 0) + 2)
    return m.hex(), r[1], s
'''


def sandbox_py(fence, cfg, code, **kw):
    cp = fence.py(RAW + "\n" + code, config=cfg, **kw)
    assert_started(cp)
    return cp


def results(cp) -> list[dict]:
    return [json.loads(l[len("RESULT "):]) for l in cp.stdout.splitlines()
            if l.startswith("RESULT ")]


# ------------------------------------------------------------------------------- environment

def test_proxy_environment_inside(fence, net):
    cp = fence.run(["env"], config=net.config(["allowed.example"]))
    assert cp.returncode == 0, fmt(cp)
    env = dict(l.split("=", 1) for l in cp.stdout.splitlines() if "=" in l)
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        assert env.get(k) == f"http://127.0.0.1:{HTTP_PORT}", (k, fmt(cp))
    for k in ("ALL_PROXY", "all_proxy"):
        assert env.get(k) == f"socks5h://127.0.0.1:{SOCKS_PORT}", (k, fmt(cp))
    for k in ("NO_PROXY", "no_proxy"):
        assert env.get(k) == "localhost,127.0.0.1,::1", (k, fmt(cp))


def test_custom_proxy_ports(fence, net):
    cfg = net.config(["allowed.example"], httpProxyPort=18128, socksProxyPort=11080)
    cp = fence.sh(
        "env | grep -i _proxy= ; "
        "curl -sS --max-time 20 http://allowed.example/hello.txt; "
        "curl -sS --max-time 20 --socks5-hostname 127.0.0.1:11080 "
        "http://allowed.example/hello.txt", config=cfg)
    assert cp.returncode == 0, fmt(cp)
    assert "HTTP_PROXY=http://127.0.0.1:18128" in cp.stdout, fmt(cp)
    assert "ALL_PROXY=socks5h://127.0.0.1:11080" in cp.stdout, fmt(cp)
    assert cp.stdout.count(net.hello) == 2, fmt(cp)


# ------------------------------------------------------------------------- allowed traffic

def test_http_absolute_form_allowed(fence, net):
    m = marker()
    cp = curl(fence, net.config(["allowed.example"]), f"http://allowed.example/hello.txt?{m}")
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout == net.hello, fmt(cp)
    [entry] = requests_for(net, m)
    # Rewritten to origin-form, Host is the target, and it came from the host namespace.
    assert entry["line"] == f"GET /hello.txt?{m} HTTP/1.1", entry
    assert entry["host"] == "allowed.example", entry
    assert entry["peer"] == net.host_addr, entry
    assert entry["local"] == f"{net.upstream}:80", entry


def test_https_via_connect_allowed(fence, net, work):
    cert = net.cert_in(work)
    cp = curl(fence, net.config(["allowed.example"]), "--cacert", cert.name,
              "https://allowed.example/hello.txt")
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout == net.hello, fmt(cp)


def test_socks5_hostname_allowed(fence, net, work):
    cert = net.cert_in(work)
    cfg = net.config(["allowed.example"])
    cp = fence.sh(
        f"curl -sS --max-time 20 --socks5-hostname 127.0.0.1:{SOCKS_PORT} "
        "http://allowed.example/hello.txt && "
        f"curl -sS --max-time 20 --socks5-hostname 127.0.0.1:{SOCKS_PORT} --cacert {cert.name} "
        "https://allowed.example/hello.txt", config=cfg)
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout == net.hello * 2, fmt(cp)


def test_socks5_via_all_proxy_env(fence, net):
    """ALL_PROXY=socks5h://... set by fence works as is (curl -x "$ALL_PROXY")."""
    cp = fence.sh('curl -sS --max-time 20 -x "$ALL_PROXY" http://allowed.example/hello.txt',
                  config=net.config(["allowed.example"]))
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout == net.hello, fmt(cp)


def test_ipv6_upstream(fence, net):
    cp = curl(fence, net.config(["v6.example"]), "-D", "-", "http://v6.example/hello.txt")
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout.endswith(net.hello), fmt(cp)
    assert f"X-Upstream-Addr: [{net.upstream6}]:80" in cp.stdout, fmt(cp)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_large_download_intact(fence, net, work, scheme):
    cert = net.cert_in(work)
    cp = fence.sh(f"curl -sS --max-time 60 --cacert {cert.name} {scheme}://allowed.example/big.bin"
                  " | sha256sum", config=net.config(["allowed.example"]), timeout=90)
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout.split()[0] == net.big_sha256, fmt(cp)


def test_wget_through_proxy(fence, net):
    if not shutil.which("wget"):
        pytest.skip("wget is not installed")
    cp = fence.run(["wget", "-q", "-T", "20", "-t", "1", "-O", "-",
                    "http://allowed.example/hello.txt"], config=net.config(["allowed.example"]))
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout == net.hello, fmt(cp)


def test_wget_denied(fence, net):
    if not shutil.which("wget"):
        pytest.skip("wget is not installed")
    cp = fence.run(["wget", "-q", "-T", "20", "-t", "1", "-O", "-",
                    "http://denied.example/hello.txt"], config=net.config(["allowed.example"]))
    assert cp.returncode != 0, fmt(cp)
    assert net.hello not in cp.stdout, fmt(cp)


def test_git_clone_over_http(fence, net):
    if not shutil.which("git"):
        pytest.skip("git is not installed")
    cp = fence.sh("git clone -q http://allowed.example/repo.git /tmp/clone && "
                  "cat /tmp/clone/README && git -C /tmp/clone log --format=%s",
                  config=net.config(["allowed.example"]), timeout=60)
    assert cp.returncode == 0, fmt(cp)
    assert "fence fixture repository" in cp.stdout, fmt(cp)
    assert "fixture commit" in cp.stdout, fmt(cp)


def test_git_clone_denied(fence, net):
    if not shutil.which("git"):
        pytest.skip("git is not installed")
    n0 = len(net.access_entries())
    cp = fence.sh("git clone -q http://denied.example/repo.git /tmp/clone",
                  config=net.config(["allowed.example"]), timeout=60)
    assert cp.returncode != 0, fmt(cp)
    assert not net.access_entries()[n0:], net.access_entries()[n0:]


def test_pip_download_from_local_index(fence, net):
    if subprocess.run([PY, "-m", "pip", "--version"], capture_output=True).returncode != 0:
        pytest.skip(f"pip is not available for {PY}")
    cp = fence.sh(
        f"{PY} -m pip download --no-deps --no-cache-dir --disable-pip-version-check "
        "--index-url http://allowed.example/simple/ --trusted-host allowed.example "
        "-d /tmp/dl fencefixture && ls /tmp/dl",
        config=net.config(["allowed.example"]), env={"PIP_CONFIG_FILE": "/dev/null"},
        timeout=90)
    assert cp.returncode == 0, fmt(cp)
    assert "fencefixture-1.0-py3-none-any.whl" in cp.stdout, fmt(cp)


def test_first_instruction_connects(fence, net):
    """The listeners exist before the command starts: its first action may connect."""
    cfg = fence.write_config(net.config(["allowed.example"]))
    for _ in range(5):
        cp = fence.run(["curl", "-sS", "--max-time", "20", "http://allowed.example/hello.txt"],
                       config=cfg)
        assert cp.returncode == 0 and cp.stdout == net.hello, fmt(cp)
        cp = fence.run(["curl", "-sS", "--max-time", "20", "--socks5-hostname",
                        f"127.0.0.1:{SOCKS_PORT}", "http://allowed.example/hello.txt"],
                       config=cfg)
        assert cp.returncode == 0 and cp.stdout == net.hello, fmt(cp)


def test_keepalive_every_request_is_checked(fence, net):
    """Two requests on one proxy connection: the second (denied) one is refused on its own."""
    m = marker()
    cp = sandbox_py(fence, net.config(["allowed.example"]), f'''
s = proxy()
for host in ("allowed.example", "denied.example", "allowed.example"):
    try:
        st, hd, body = http(s, f"GET http://{{host}}/hello.txt?{m} HTTP/1.1\\r\\nHost: {{host}}\\r\\n\\r\\n")
    except OSError as e:
        st, body = None, str(e).encode()
    result(host=host, status=st, body=body.decode("latin-1"))
    if st is None or hd.get("connection", "").lower() == "close":
        s.close(); s = proxy()
''')
    r = results(cp)
    assert [x["host"] for x in r] == ["allowed.example", "denied.example", "allowed.example"], fmt(cp)
    assert r[0]["status"] == 200 and r[0]["body"] == net.hello, fmt(cp)
    assert r[1]["status"] is not None, (
        "the proxy closed a keep-alive connection after one response without "
        "'Connection: close'" + fmt(cp))
    assert r[1]["status"] == 403 and BLOCKED_BODY in r[1]["body"], fmt(cp)
    assert r[2]["status"] == 200 and r[2]["body"] == net.hello, fmt(cp)
    hosts = [e["host"] for e in requests_for(net, m)]
    assert hosts == ["allowed.example", "allowed.example"], net.access_entries()


def test_proxy_headers_removed_and_origin_form(fence, net):
    cp = sandbox_py(fence, net.config(["allowed.example"]), r'''
result(**get_via_proxy("http://allowed.example/echo",
       extra="Proxy-Authorization: Basic Zm9vOmJhcg==\r\nProxy-Connection: keep-alive\r\n"
             "X-Keep: yes\r\n"))
''')
    [r] = results(cp)
    assert r["status"] == 200, fmt(cp)
    echo = json.loads(r["body"])
    names = [k.lower() for k, _ in echo["headers"]]
    assert echo["line"] == "GET /echo HTTP/1.1", echo
    assert "proxy-authorization" not in names and "proxy-connection" not in names, echo
    assert "x-keep" in names, echo


def test_host_header_is_the_target(fence, net):
    """A request for allowed.example with Host: denied.example reaches upstream as
    allowed.example (or is refused) - never with the other name."""
    n0 = len(net.access_entries())
    cp = sandbox_py(fence, net.config(["allowed.example"]), r'''
result(**get_via_proxy("http://allowed.example/echo", host="denied.example"))
''')
    [r] = results(cp)
    if r["status"] == 200:
        echo = json.loads(r["body"])
        hosts = [v for k, v in echo["headers"] if k.lower() == "host"]
        assert hosts == ["allowed.example"], echo
    else:
        assert r["status"] in (400, 403), fmt(cp)
    assert all(e["host"] == "allowed.example" for e in net.access_entries()[n0:]), \
        net.access_entries()[n0:]


# --------------------------------------------------------------------------- denied traffic

def test_denied_connect_is_403_and_curl_56(fence, net, work):
    cert = net.cert_in(work)
    n0 = len(net.access_entries())
    cp = curl(fence, net.config(["allowed.example"]), "-o", "/dev/null", "-w", "%{http_connect}",
              "--cacert", cert.name, "https://denied.example/hello.txt")
    assert cp.returncode == CURL_CONNECT_FAILED, fmt(cp)
    assert cp.stdout.strip() == "403", fmt(cp)
    assert not net.access_entries()[n0:], net.access_entries()[n0:]


def test_denied_connect_raw(fence, net):
    cp = sandbox_py(fence, net.config(["allowed.example"]), '''
r, s = connect_via_proxy("denied.example:443")
result(**r)
r, s = connect_via_proxy("allowed.example:443")
result(**r)
''')
    denied, allowed = results(cp)
    assert denied["status"] == 403 and BLOCKED_BODY in denied["body"], fmt(cp)
    assert allowed["status"] == 200, fmt(cp)


def test_denied_plain_http_is_403_with_body(fence, net):
    m = marker()
    cp = curl(fence, net.config(["allowed.example"]), "-w", "\n%{http_code}",
              f"http://denied.example/hello.txt?{m}")
    assert cp.returncode == 0, fmt(cp)
    body, _, code = cp.stdout.rpartition("\n")
    assert code == "403", fmt(cp)
    assert BLOCKED_BODY in body, fmt(cp)
    assert not requests_for(net, m), net.access_entries()


def test_denied_socks_curl_exit_97(fence, net):
    m = marker()
    cp = curl(fence, net.config(["allowed.example"]), "--socks5-hostname",
              f"127.0.0.1:{SOCKS_PORT}", f"http://denied.example/hello.txt?{m}")
    assert cp.returncode == CURL_PROXY_ERROR, fmt(cp)
    # curl 7.88 reports the SOCKS5 reply code: 2 = connection not allowed by ruleset.
    assert "SOCKS5 connection to denied.example. (2)" in cp.stderr, fmt(cp)
    assert net.hello not in cp.stdout, fmt(cp)
    assert not requests_for(net, m), net.access_entries()


def test_denied_socks_reply_is_0x02(fence, net):
    cp = sandbox_py(fence, net.config(["allowed.example"]), '''
m, rep, s = socks("denied.example", 80)
result(method=m, rep=rep)
m, rep, s = socks("allowed.example", 80)
result(method=m, rep=rep)
''')
    denied, allowed = results(cp)
    assert denied == {"method": "0500", "rep": 2}, fmt(cp)
    assert allowed == {"method": "0500", "rep": 0}, fmt(cp)


def test_socks_bind_and_udp_associate_not_supported(fence, net):
    cp = sandbox_py(fence, net.config(["allowed.example"]), '''
for cmd in (2, 3):
    m, rep, s = socks("allowed.example", 80, cmd=cmd)
    result(cmd=cmd, method=m, rep=rep)
''')
    r = results(cp)
    assert [x["rep"] for x in r] == [7, 7], fmt(cp)


def test_unlisted_domain_denied(fence, net):
    cp = curl(fence, net.config(["allowed.example"]), "-w", "\n%{http_code}",
              "http://other.example/hello.txt")
    assert cp.stdout.endswith("\n403"), fmt(cp)
    assert BLOCKED_BODY in cp.stdout, fmt(cp)


def test_no_allowed_domains_no_network(fence, net):
    m = marker()
    cp = curl(fence, net.config([]), f"http://allowed.example/hello.txt?{m}")
    assert net.hello not in cp.stdout, fmt(cp)
    assert not requests_for(net, m), net.access_entries()


def test_denied_beats_allowed(fence, net):
    cfg = net.config(["*.allowed.example"], ["deep.sub.allowed.example"])
    cp = fence.sh(
        "for h in www.allowed.example deep.sub.allowed.example; do "
        "curl -s --max-time 20 -o /dev/null -w \"$h %{http_code}\\n\" http://$h/hello.txt; done",
        config=cfg)
    assert "www.allowed.example 200" in cp.stdout, fmt(cp)
    assert "deep.sub.allowed.example 403" in cp.stdout, fmt(cp)


def test_wildcard_matches_subdomains_at_depth_not_apex(fence, net):
    cfg = net.config(["*.allowed.example"])
    cp = fence.sh(
        "for h in www.allowed.example deep.sub.allowed.example allowed.example; do "
        "curl -s --max-time 20 -o /dev/null -w \"$h %{http_code}\\n\" http://$h/hello.txt; done",
        config=cfg)
    assert "\nwww.allowed.example 200" in "\n" + cp.stdout, fmt(cp)
    assert "\ndeep.sub.allowed.example 200" in "\n" + cp.stdout, fmt(cp)
    assert "\nallowed.example 403" in "\n" + cp.stdout, fmt(cp)


def test_names_case_insensitive_and_trailing_dot(fence, net):
    cfg = net.config(["*"], ["denied.example"])
    n0 = len(net.access_entries())
    cp = sandbox_py(fence, cfg, '''
for url in ("http://ALLOWED.Example/hello.txt", "http://allowed.example./hello.txt",
            "http://DENIED.example/hello.txt", "http://denied.example./hello.txt",
            "http://Denied.Example./hello.txt"):
    r = get_via_proxy(url)
    result(url=url, status=r["status"])
for target in ("DENIED.EXAMPLE:443", "denied.example.:443"):
    r, s = connect_via_proxy(target)
    result(url=target, status=r["status"])
for host in ("DENIED.example", "denied.example."):
    m, rep, s = socks(host, 80)
    result(url="socks:" + host, status=rep)
''')
    got = {r["url"]: r["status"] for r in results(cp)}
    assert got["http://ALLOWED.Example/hello.txt"] == 200, fmt(cp)
    assert got["http://allowed.example./hello.txt"] == 200, fmt(cp)
    for url, st in got.items():
        if "denied" in url.lower():
            assert st in ((2,) if url.startswith("socks:") else (403,)), (url, fmt(cp))
    new = net.access_entries()[n0:]
    assert len(new) == 2 and not [e for e in new if "denied" in (e["host"] or "").lower()], new


def test_host_port_rule(fence, net, work):
    cert = net.cert_in(work)
    cfg = net.config(["allowed.example:8080"])
    cp = fence.sh(
        "curl -s --max-time 20 -o /dev/null -w 'p8080 %{http_code}\\n' "
        "http://allowed.example:8080/hello.txt; "
        "curl -s --max-time 20 -o /dev/null -w 'p80 %{http_code}\\n' "
        "http://allowed.example/hello.txt; "
        f"curl -s --max-time 20 -o /dev/null --cacert {cert.name} "
        "-w 'p443 %{http_connect}\\n' https://allowed.example/hello.txt; echo rc=$?",
        config=cfg)
    assert "p8080 200" in cp.stdout, fmt(cp)
    assert "p80 403" in cp.stdout, fmt(cp)
    assert "p443 403" in cp.stdout and f"rc={CURL_CONNECT_FAILED}" in cp.stdout, fmt(cp)


def test_ip_rule(fence, net):
    cfg = net.config([net.upstream2])
    cp = fence.sh(
        f"for u in http://{net.upstream2}/hello.txt http://{net.upstream}/hello.txt; do "
        "curl -s --max-time 20 -o /dev/null -w \"$u %{http_code}\\n\" $u; done; "
        f"curl -s --max-time 20 --socks5 127.0.0.1:{SOCKS_PORT} -o /dev/null "
        f"-w 'socks %{{http_code}}\\n' http://{net.upstream2}/hello.txt",
        config=cfg)
    assert f"http://{net.upstream2}/hello.txt 200" in cp.stdout, fmt(cp)
    assert f"http://{net.upstream}/hello.txt 403" in cp.stdout, fmt(cp)
    assert "socks 200" in cp.stdout, fmt(cp)


def test_cidr_rule(fence, net):
    cfg = net.config(["198.51.100.8/30", "2001:db8::/64"])   # .8-.11 and the v6 prefix
    cp = fence.sh(
        f"for u in http://{net.upstream}/hello.txt http://{net.upstream2}/hello.txt "
        f"http://[{net.upstream6}]/hello.txt; do "
        "curl -s --max-time 20 -o /dev/null -w \"$u %{http_code}\\n\" $u; done",
        config=cfg)
    assert f"http://{net.upstream}/hello.txt 200" in cp.stdout, fmt(cp)
    assert f"http://{net.upstream2}/hello.txt 200" in cp.stdout, fmt(cp)
    assert f"http://[{net.upstream6}]/hello.txt 200" in cp.stdout, fmt(cp)
    cfg = net.config(["198.51.100.16/28"])
    cp = curl(fence, cfg, "-o", "/dev/null", "-w", "%{http_code}",
              f"http://{net.upstream}/hello.txt")
    assert cp.stdout == "403", fmt(cp)


def test_star_allows_public_destinations(fence, net):
    cfg = net.config(["*"], ["denied.example"])
    cp = fence.sh(
        "for h in allowed.example other.example alt.example v6.example denied.example; do "
        "curl -s --max-time 20 -o /dev/null -w \"$h %{http_code}\\n\" http://$h/hello.txt; done",
        config=cfg)
    for h in ("allowed.example", "other.example", "alt.example", "v6.example"):
        assert f"{h} 200" in cp.stdout, fmt(cp)
    assert "denied.example 403" in cp.stdout, fmt(cp)


def test_denied_names_are_never_resolved(fence, net):
    """Names refused by policy never reach the resolver; an allowed unknown name does (and
    fails with a 502 that says so)."""
    m = marker()
    denied, unlisted, allowed = f"d{m}.allowed.example", f"u{m}.example", f"a{m}.allowed.example"
    cfg = net.config(["*.allowed.example"], [denied])
    cp = fence.sh(
        f"for h in {denied} {unlisted} {allowed}; do "
        "curl -s --max-time 20 -w \"\\n$h %{http_code}\\n\" http://$h/; done", config=cfg)
    assert f"{denied} 403" in cp.stdout and f"{unlisted} 403" in cp.stdout, fmt(cp)
    assert f"{allowed} 502" in cp.stdout, fmt(cp)
    asked = " ".join(q["data"] for q in net.dns_queries())
    assert f"a{m}" in asked, "the allowed name was not resolved through the host's resolver"
    assert f"d{m}" not in asked and f"u{m}" not in asked, asked


def test_resolver_uses_no_search_list(fence, net):
    """The fixture's resolv.conf has `search corp.test` (ndots:5) and its DNS server answers
    every name under corp.test: an allowed name that does not exist must fail, not come back as
    NAME.corp.test, through every route."""
    m = marker()
    names = {"http": f"h{m}.wild.test", "connect": f"c{m}.wild.test", "socks": f"s{m}.wild.test"}
    cfg = net.config(["*.wild.test", f"single{m}"])
    cp = fence.sh(
        f"curl -s --max-time 20 -o /dev/null -w 'http %{{http_code}}\n' http://{names['http']}/hello.txt;"
        f"curl -s --max-time 20 -o /dev/null -w 'connect %{{http_code}}\n' -p "
        f"http://{names['connect']}/hello.txt;"
        f"curl -s --max-time 20 -o /dev/null -w 'single %{{http_code}}\n' http://single{m}/hello.txt;"
        f"curl -s --max-time 20 --proxy socks5h://127.0.0.1:1080 -o /dev/null "
        f"-w 'socks %{{http_code}}\n' http://{names['socks']}/hello.txt; true",
        config=cfg)
    assert "http 502" in cp.stdout and "single 502" in cp.stdout, fmt(cp)
    assert "connect 000" in cp.stdout and "socks 000" in cp.stdout, fmt(cp)
    asked = [q.get("qname", "") for q in net.dns_queries()]
    for name in [*names.values(), f"single{m}"]:
        assert name in asked, (name, asked)
        assert name + ".corp.test" not in asked, f"search list applied to {name}: {asked}"
    assert not requests_for(net, m), net.access_entries()


# ---------------------------------------------------------------------------------- SSRF

SSRF_NAMES = {
    "loopback.example": ("loopback",),
    "private.example": ("private",),
    "linklocal.example": ("link-local", "link local", "linklocal"),
    "mixed.example": ("private",),
    "selfhost.example": ("own address", "local address", "this host", "host's own",
                         "local interface", "own", "local"),
}


@pytest.mark.parametrize("name", sorted(SSRF_NAMES))
def test_ssrf_name_resolving_to_non_public_refused(fence, net, name):
    m = marker()
    cfg = net.config([name])
    cp = sandbox_py(fence, cfg, f'''
result(kind="http", **get_via_proxy("http://{name}/hello.txt?{m}"))
r, s = connect_via_proxy("{name}:443")
result(kind="connect", **r)
m, rep, s = socks("{name}", 80)
result(kind="socks", rep=rep)
''')
    http, connect, socks = results(cp)
    for r in (http, connect):
        assert r["status"] in (403, 502), (r, fmt(cp))
        body = r["body"].lower()
        assert any(w in body for w in SSRF_NAMES[name]), (
            f"the refusal does not name the address class {SSRF_NAMES[name]}", r, fmt(cp))
    assert socks["rep"] not in (0, None), fmt(cp)
    assert not requests_for(net, m), net.access_entries()


LITERAL_URLS = [
    "http://127.1/", "http://0x7f000001/", "http://2130706433/", "http://0177.0.0.1/",
    "http://[::ffff:127.0.0.1]/", "http://[::1]/", "http://0.0.0.0/", "http://0/",
    "http://127.0.0.1:3128/", "http://127.0.0.1:1080/", "http://localhost:18080/",
    "http://198.51.100.1/", "http://[::ffff:198.51.100.1]/", "http://[2001:db8::1]/",
    "http://169.254.169.254/", "http://10.0.0.5/",
]


def test_ssrf_literal_addresses_refused(fence, net):
    cp = sandbox_py(fence, net.config(["*"]), f'''
for url in {LITERAL_URLS!r}:
    r = get_via_proxy(url)
    result(kind="http", target=url, status=r["status"], body=r["body"][:200])
for target in ("127.1:80", "0x7f000001:443", "[::1]:443", "[::ffff:127.0.0.1]:80",
               "0.0.0.0:80", "198.51.100.1:443", "127.0.0.1:3128", "localhost:8080"):
    r, s = connect_via_proxy(target)
    result(kind="connect", target=target, status=r["status"], body=r["body"][:200])
for host, atyp in (("127.0.0.1", 1), ("0.0.0.0", 1), ("198.51.100.1", 1), ("::1", 4),
                   ("::ffff:127.0.0.1", 4), ("localhost", 3), ("127.1", 3)):
    m, rep, s = socks(host, 80, atyp=atyp)
    result(kind="socks", target=host, status=rep)
''')
    r = results(cp)
    assert len(r) == len(LITERAL_URLS) + 8 + 7, fmt(cp)
    for x in r:
        if x["kind"] == "socks":
            assert x["status"] not in (0, None), x
        else:
            assert x["status"] in (400, 403, 502), x
            assert "hello" not in x.get("body", ""), x


def test_ssrf_literal_addresses_with_curl(fence, net):
    # --noproxy '': curl normalizes 127.1 to 127.0.0.1, which NO_PROXY would send direct.
    cp = fence.sh(
        "for u in http://127.1:18080/ http://0x7f000001:18080/ 'http://[::ffff:127.0.0.1]:18080/'"
        " http://0.0.0.0:18080/; do "
        "curl -s --noproxy '' --max-time 20 -o /dev/null -w \"$u %{http_code}\\n\" \"$u\"; "
        "done",
        config=net.config(["*"]))
    lines = [l for l in cp.stdout.splitlines() if l.startswith("http")]
    assert len(lines) == 4, fmt(cp)
    for line in lines:
        assert line.split()[-1] in ("400", "403", "502"), fmt(cp)


# ------------------------------------------------------------------------------- bypasses

def test_curl_noproxy_fails(fence, net):
    m = marker()
    cp = curl(fence, net.config(["allowed.example"]), "--noproxy", "*",
              f"http://{net.upstream}/hello.txt?{m}")
    assert cp.returncode != 0, fmt(cp)
    assert net.hello not in cp.stdout, fmt(cp)
    assert not requests_for(net, m), net.access_entries()


def test_raw_tcp_udp_icmp_fail(fence, net):
    m = marker()
    cp = fence.py(f'''
def tcp(addr, family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(addr)
    s.sendall(b"GET /raw-{m} HTTP/1.0\\r\\n\\r\\n")
    return s.recv(100)
attempt("tcp4", tcp, ("{net.upstream}", 80))
attempt("tcp4b", tcp, ("{net.upstream2}", 80))
attempt("tcp6", tcp, ("{net.upstream6}", 80), socket.AF_INET6)
def udp(addr, family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_DGRAM)
    return s.sendto(b"udp-{m}", addr)
# Port 53 is answered by fence itself (test_transparent.py); any other UDP fails at once.
attempt("udp4", udp, ("{net.upstream}", 9))
attempt("udp6", udp, ("{net.upstream6}", 9), socket.AF_INET6)
def icmp(kind):
    s = socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP)
    # echo request, id 0x1234, seq 1, checksum precomputed for this exact packet
    pkt = bytearray(b"\\x08\\x00\\x00\\x00\\x12\\x34\\x00\\x01")
    c = sum(int.from_bytes(pkt[i:i+2], "big") for i in range(0, 8, 2))
    c = (c & 0xffff) + (c >> 16)
    pkt[2:4] = (~c & 0xffff).to_bytes(2, "big")
    return s.sendto(bytes(pkt), ("{net.upstream}", 0))
attempt("icmp_raw", icmp, socket.SOCK_RAW)
attempt("icmp_dgram", icmp, socket.SOCK_DGRAM)
''', config=net.config(["allowed.example"]))
    assert_started(cp)
    for name in ("tcp4", "tcp4b", "tcp6", "udp4", "udp6", "icmp_raw", "icmp_dgram"):
        assert f"{name}: ERR" in cp.stdout, (name, fmt(cp))
    assert not requests_for(net, m), net.access_entries()
    assert not [q for q in net.dns_queries() if m in q["data"]], net.dns_queries()


def test_ping_fails(fence, net):
    ping = shutil.which("ping")
    if not ping:
        pytest.skip("ping is not installed (raw ICMP is covered by test_raw_tcp_udp_icmp_fail)")
    cp = fence.run([ping, "-c", "1", "-W", "2", net.upstream],
                   config=net.config(["allowed.example"]))
    assert cp.returncode != 0, fmt(cp)


# ---------------------------------------------------------------------------- audit, -m, -d

def audit_decisions(path: Path) -> list[dict]:
    recs = [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
    return [r for r in recs if r.get("event") == "network"]


def test_audit_log_one_record_per_decision(fence, net, tmp_path):
    audit = tmp_path / "audit" / "audit.jsonl"
    audit.parent.mkdir()
    cfg = net.config(["allowed.example"])
    cp = fence.sh(
        "curl -s --max-time 20 -o /dev/null http://allowed.example/hello.txt; "
        "curl -s --max-time 20 -o /dev/null http://denied.example/hello.txt; "
        "curl -s --max-time 20 -o /dev/null https://denied.example/; "
        f"curl -s --max-time 20 -o /dev/null --socks5-hostname 127.0.0.1:{SOCKS_PORT} "
        "http://other.example:8080/hello.txt; true",
        config=cfg, flags=["--audit-log", str(audit)])
    assert cp.returncode == 0, fmt(cp)
    assert audit.exists(), fmt(cp)
    recs = [json.loads(l) for l in audit.read_text().splitlines() if l.strip()]
    decisions = [r for r in recs if r.get("event") == "network"]
    got = [(r.get("event"), r.get("protocol"), r.get("host"), int(r.get("port", 0)),
            str(r.get("verdict")).lower()) for r in decisions]
    assert got == [("network", "http-forward", "allowed.example", 80, "allow"),
                   ("network", "http-forward", "denied.example", 80, "deny"),
                   ("network", "http-connect", "denied.example", 443, "deny"),
                   ("network", "socks5", "other.example", 8080, "deny")], recs
    for r in decisions:
        assert "rule" in r, r
    allowed = decisions[0]
    assert "allowed.example" in str(allowed["rule"]), allowed
    assert str(allowed.get("connected", "")).startswith(net.upstream), allowed
    assert allowed.get("bytes_down", 0) > len(net.hello), allowed
    for r in decisions[1:]:
        assert not r.get("connected") and not r.get("resolved"), r   # never resolved


def test_audit_log_not_writable_from_sandbox(fence, net, work):
    """The audit file sits in a directory the sandbox may write; it still cannot touch it."""
    audit_dir = work / "logs"
    audit_dir.mkdir()
    audit = audit_dir / "audit.jsonl"
    cfg = net.config(["allowed.example"], filesystem={"allowWrite": [str(work)]})
    cp = fence.py(f'''
import urllib.request
attempt("fetch", lambda: urllib.request.urlopen("http://allowed.example/hello.txt",
                                                timeout=20).read())
p = {str(audit)!r}
print("EXISTS", os.path.exists(p), flush=True)
attempt("append", write, p, "pwned\\n", "a")
attempt("truncate", os.truncate, p, 0)
attempt("chmod", os.chmod, p, 0o666)
attempt("rename", os.rename, p, p + ".moved")
attempt("unlink", os.unlink, p)
attempt("replace", lambda: (write(p + ".new", "pwned\\n"), os.rename(p + ".new", p)))
attempt("sibling", write, {str(audit_dir / "other.txt")!r}, "fine\\n")
''', config=cfg, flags=["--audit-log", str(audit)])
    assert_started(cp)
    assert "sibling: OK" in cp.stdout, "the directory is not writable at all" + fmt(cp)
    assert "fetch: OK" in cp.stdout, "no network decision to audit" + fmt(cp)
    for name in ("append", "truncate", "chmod", "rename", "unlink", "replace"):
        assert f"{name}: ERR" in cp.stdout, (name, fmt(cp))
    text = audit.read_text()
    # The sandbox's own script (logged in session_start's argv) contains the word, so check
    # the lines instead: every one must be a record fence wrote.
    for line in text.splitlines():
        assert json.loads(line).get("v") == 1, line
    assert audit_decisions(audit), text


def test_monitor_prints_blocked_only(fence, net):
    cfg = net.config(["*.allowed.example"])
    cp = fence.sh(
        "curl -s --max-time 20 -o /dev/null http://www.allowed.example/hello.txt; "
        "curl -s --max-time 20 -o /dev/null http://denied.example/hello.txt; "
        "curl -s --max-time 20 -o /dev/null https://denied.example/; true",
        config=cfg, flags=["-m"])
    assert cp.stdout == "", fmt(cp)
    blocked = [l for l in cp.stderr.splitlines() if l.startswith("[fence:") and "✗" in l]
    assert any("denied.example:443" in l and "CONNECT" in l and "403" in l for l in blocked), \
        fmt(cp)
    assert any("denied.example" in l and "CONNECT" not in l for l in blocked), fmt(cp)
    assert not [l for l in cp.stderr.splitlines()
                if "www.allowed.example" in l and "curl" not in l], fmt(cp)


def test_refusal_reason_in_monitor_line_and_audit_record(fence, net, tmp_path):
    """The -m line shows the status the client got (403 for a rule, 502 for an address refused
    by its class or a name that does not resolve) and the record names the reason as a value."""
    audit = tmp_path / "audit.jsonl"
    m = uuid.uuid4().hex[:8]
    cfg = net.config(["*", "*.wild.test"], ["denied.example"])
    cp = fence.sh(
        "curl -s --max-time 20 -o /dev/null -w 'denied %{http_connect}\n' -p "
        "http://denied.example/hello.txt; "
        "curl -s --max-time 20 -o /dev/null -w 'private %{http_connect}\n' --noproxy '' -p "
        "http://127.0.0.1:9/; "
        f"curl -s --max-time 20 -o /dev/null -w 'nx %{{http_connect}}\n' -p http://nx{m}.wild.test/; "
        "true",
        config=cfg, flags=["-m", "--audit-log", str(audit)])
    assert "denied 403" in cp.stdout and "private 502" in cp.stdout, fmt(cp)
    assert "nx 502" in cp.stdout, fmt(cp)
    lines = [l for l in cp.stderr.splitlines() if "✗ CONNECT" in l]
    assert any("403 denied.example:80" in l for l in lines), fmt(cp)
    assert any("502 127.0.0.1:9" in l for l in lines), fmt(cp)
    assert any(f"502 nx{m}.wild.test:80" in l for l in lines), fmt(cp)
    reasons = {r["host"]: r.get("deny_reason") for r in audit_decisions(audit)
               if r["verdict"] == "deny"}
    assert reasons == {"denied.example": "policy", "127.0.0.1": "non-public-address",
                       f"nx{m}.wild.test": "resolve-failed"}, reasons


def test_debug_prints_allowed_decisions(fence, net):
    cfg = net.config(["*.allowed.example"])
    cp = fence.sh(
        "curl -s --max-time 20 -o /dev/null http://www.allowed.example/hello.txt; "
        "curl -s --max-time 20 -o /dev/null http://denied.example/hello.txt; true",
        config=cfg, flags=["-d"])
    assert cp.stdout == "", fmt(cp)
    # Decision lines, not the echo of the command line in the plan.
    decisions = [l for l in cp.stderr.splitlines() if "curl" not in l]
    assert any("www.allowed.example" in l for l in decisions), fmt(cp)
    assert any("denied.example" in l for l in decisions), fmt(cp)


# ------------------------------------------------------------------------------ the worker

def _status(pid: int) -> dict[str, str]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _ancestors(pid: int) -> list[int]:
    chain = []
    while pid > 1:
        try:
            pid = int(_status(pid)["PPid"])
        except (OSError, KeyError, ValueError):
            break
        chain.append(pid)
    return chain


def _workers_of(fence_pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if comm.startswith("fence-proxy-wor") or b"fence-proxy-worker" in cmdline.split(b"\0")[0]:
            if fence_pid in _ancestors(pid):
                found.append(pid)
    return found


def test_worker_is_restricted(fence, net):
    tag = f"{int(time.time() * 1000) % 1000000}"
    proc = fence.popen(["sleep", f"40.{tag}"], config=net.config(["allowed.example"]),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        sleepers = []
        assert wait_until(lambda: sleepers.extend(
            p for p in processes_with(f"sleep 40.{tag}") if _comm(p) == "sleep") or sleepers,
            10), "the sandboxed sleep did not start"
        workers = []
        assert wait_until(lambda: workers.extend(_workers_of(proc.pid)) or workers, 10), \
            "no fence-proxy-worker process below the fence process"
        sandbox_net = os.readlink(f"/proc/{sleepers[0]}/ns/net")
        own_net = os.readlink("/proc/self/ns/net")
        assert sandbox_net != own_net
        for pid in workers:
            # The worker restricts itself right after start; give it a moment to get there.
            wait_until(lambda: _status(pid).get("Seccomp") == "2", 5)
            st = _status(pid)
            assert st.get("NoNewPrivs") == "1", st
            assert st.get("Seccomp") == "2", st
            # rlimits of its own (no new processes at all; the test itself has no such limit).
            limits = Path(f"/proc/{pid}/limits").read_text()
            nproc = re.search(r"^Max processes\s+(\S+)\s+(\S+)", limits, re.M)
            assert nproc and nproc.groups() == ("0", "0"), limits
            try:
                worker_net = os.readlink(f"/proc/{pid}/ns/net")
            except PermissionError:
                # Only root may look into a non-dumpable process of another user namespace;
                # for the invoking user the refusal itself shows the worker is non-dumpable.
                assert os.getuid() != 0, "root cannot read the worker's namespaces"
                continue
            assert worker_net not in (own_net, sandbox_net), (worker_net, own_net, sandbox_net)
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate(timeout=10)


def test_worker_crash_fails_closed(fence, net, work, tmp_path):
    """If the proxy worker dies, the sandbox's network fails closed (the worker is not
    restarted): later connections are refused, the command keeps running, and the fault is
    reported and audited."""
    flag = work / "worker-killed"
    audit = tmp_path / "audit.jsonl"
    script = (
        "curl -s -o /dev/null -w 'first %{http_code}\\n' http://allowed.example/hello.txt\n"
        f"while [ ! -e '{flag}' ]; do sleep 0.05; done\n"
        "curl -s -o /dev/null -w 'second %{http_code}\\n' http://allowed.example/hello.txt\n"
        "echo \"second-rc $?\"\n")
    proc = fence.popen(["sh", "-c", script], config=net.config(["allowed.example"]),
                       flags=["--audit-log", str(audit)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        assert first.strip() == "first 200", first
        workers = _workers_of(proc.pid)
        assert workers, "no fence-proxy-worker below the fence process"
        for pid in workers:
            os.kill(pid, 9)
        flag.write_text("")
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    lines = out.splitlines()
    assert "second 000" in lines, (out, err)
    assert any(l.startswith("second-rc ") and l != "second-rc 0" for l in lines), (out, err)
    assert proc.returncode == 0, (proc.returncode, out, err)
    assert "worker fault" in err, err
    events = [json.loads(l)["event"] for l in audit.read_text().splitlines()]
    assert "worker_fault" in events and events[-1] == "session_end", events
