"""network.defaultAction "proxy" with network.upstreamProxy: connections that no rule decides go
through the configured HTTP proxy (CONNECT), as for mitmproxy-style inspection; allowed names
still go direct, denied ones are still refused by fence (the proxy never sees them), names are
resolved and checked by fence (the SSRF guard applies) and the proxy is asked for exactly the
address checked, and the audit record says which route was taken. The upstream proxy here is a small CONNECT proxy on
the test namespace's loopback that records what passed; it stops with the test."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest

from conftest import fmt

CURL = ["curl", "-sS", "--max-time", "20"]


class ConnectProxy:
    """CONNECT host:port -> 200 and a relay, or 403 for hosts in `refuse`; records targets."""

    def __init__(self, refuse=()):
        self.seen: list[str] = []
        self.refuse = set(refuse)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping:
            try:
                client, _ = self.server.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client):
        client.settimeout(20)
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 8192:
            chunk = client.recv(4096)
            if not chunk:
                client.close()
                return
            data += chunk
        line = data.split(b"\r\n", 1)[0].decode()
        method, target, _ = line.split(" ", 2)
        self.seen.append(target)
        host, _, port = target.rpartition(":")
        if method != "CONNECT" or host in self.refuse:
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            client.close()
            return
        try:
            upstream = socket.create_connection((host, int(port)), timeout=10)
        except OSError:
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            client.close()
            return
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

        def pump(a, b):
            try:
                while True:
                    chunk = a.recv(65536)
                    if not chunk:
                        break
                    b.sendall(chunk)
            except OSError:
                pass
            finally:
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
        pump(client, upstream)

    def stop(self):
        self.stopping = True
        self.server.close()
        self.thread.join(timeout=2)


@pytest.fixture
def upstream_proxy():
    proxy = ConnectProxy(refuse={"198.51.100.11"})  # alt.example
    yield proxy
    proxy.stop()


def config(proxy: ConnectProxy, action="proxy") -> dict:
    return {"network": {"allowedDomains": ["allowed.example"], "deniedDomains": ["denied.example"],
                        "defaultAction": action,
                        "upstreamProxy": f"http://127.0.0.1:{proxy.port}"}}


def test_undecided_connections_go_through_the_upstream_proxy(fence, net, upstream_proxy,
                                                             tmp_path):
    audit = tmp_path / "audit.jsonl"
    cfg = config(upstream_proxy)
    cp = fence.sh(
        "curl -sS --max-time 20 http://other.example/hello.txt; "
        "curl -sS --max-time 20 -o /dev/null -w '%{http_code}\\n' http://denied.example/hello.txt; "
        "curl -sS --max-time 20 http://allowed.example/hello.txt; "
        "curl -sS --max-time 20 -o /dev/null -w '%{http_code}\\n' http://alt.example/hello.txt",
        config=cfg, flags=["--audit-log", str(audit)])
    out = cp.stdout.splitlines()
    assert out[0] + "\n" == net.hello, fmt(cp)          # through the upstream proxy
    assert out[1] == "403", fmt(cp)                     # denied by fence: the proxy never saw it
    assert out[2] + "\n" == net.hello, fmt(cp)          # allowed: direct
    assert out[3] in ("403", "502"), fmt(cp)            # the upstream proxy refused it
    # fence resolved and checked the names, and asked for exactly the addresses it checked.
    assert upstream_proxy.seen == ["198.51.100.10:80", "198.51.100.11:80"], upstream_proxy.seen
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    net_records = {r["host"]: r for r in records if r.get("event") == "network"}
    assert net_records["other.example"]["route"] == "upstream_proxy"
    assert net_records["other.example"]["rule"] == "defaultAction proxy"
    assert net_records["other.example"]["verdict"] == "allow"
    assert net_records["other.example"]["resolved"] == "198.51.100.10"
    assert "route" not in net_records["allowed.example"]
    assert net_records["denied.example"]["verdict"] == "deny"
    assert net_records["alt.example"]["verdict"] == "deny"


def test_https_through_the_upstream_proxy(fence, net, upstream_proxy, work):
    ca = net.cert_in(work)
    cp = fence.run([*CURL, "--cacert", str(ca), "https://www.allowed.example/hello.txt"],
                   config={"network": {"defaultAction": "proxy",
                                       "upstreamProxy": f"http://127.0.0.1:{upstream_proxy.port}"}})
    assert cp.returncode == 0 and cp.stdout == net.hello, fmt(cp)
    assert upstream_proxy.seen == ["198.51.100.10:443"]


def test_without_default_action_proxy_nothing_goes_there(fence, net, upstream_proxy):
    cp = fence.run([*CURL, "-o", "/dev/null", "-w", "%{http_code}", "http://other.example/"],
                   config=config(upstream_proxy, action="deny"), flags=["-d"])
    assert cp.stdout == "403", fmt(cp)
    assert upstream_proxy.seen == []
    assert "upstreamProxy: used only with defaultAction" in cp.stderr, fmt(cp)
    bad = fence.run(["true"], config={"network": {"defaultAction": "proxy"}})
    assert bad.returncode == 122 and "needs network.upstreamProxy" in bad.stderr, fmt(bad)
    for url in ("https://127.0.0.1:1", "http://user@h:1", "http://h:0", "http://h:1/path"):
        bad = fence.run(["true"], config={"network": {"upstreamProxy": url}})
        assert bad.returncode == 122 and "network.upstreamProxy" in bad.stderr, fmt(bad)
