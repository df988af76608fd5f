// The real fence-proxy-worker, driven through its listeners with this test as its supervisor:
// CONNECT, absolute-form, SOCKS5, denials, bad requests, deadlines and the tunnel cap.
#include <catch2/catch.hpp>

#include "test_worker_harness.hpp"

namespace fence::testing::worker {
namespace {

constexpr std::string_view kEstablished = "HTTP/1.1 200 Connection Established\r\n\r\n";

std::string body_of(const std::string& response) {
  const auto pos = response.find("\r\n\r\n");
  return pos == std::string::npos ? std::string() : response.substr(pos + 4);
}

std::string socks_domain_request(const std::string& host, std::uint16_t port) {
  std::string r = {'\x05', '\x01', '\x00', '\x03', static_cast<char>(host.size())};
  r += host;
  r.push_back(static_cast<char>(port >> 8));
  r.push_back(static_cast<char>(port & 0xff));
  return r;
}

TEST_CASE("worker: CONNECT allowed relays both ways with half-close and reports bytes",
          "[worker]") {
  WorkerHarness w;
  UniqueFd client = connect_loopback(w.http_port());
  // Tunnel data sent right behind the head must reach upstream too.
  write_all(client.get(), "CONNECT Example.COM:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\nearly");
  const auto req = w.expect_request();
  CHECK(req.host == "example.com");
  CHECK(req.port == 443);
  CHECK(req.protocol == ipc::ProxyProtocol::HttpConnect);
  UniqueFd upstream = w.allow(req.id);

  CHECK(read_exact(client.get(), kEstablished.size()) == kEstablished);
  CHECK(read_exact(upstream.get(), 5) == "early");
  write_all(client.get(), "ping");
  CHECK(read_exact(upstream.get(), 4) == "ping");
  write_all(upstream.get(), "pong");
  CHECK(read_exact(client.get(), 4) == "pong");

  // Client half-closes: upstream sees EOF, the other direction keeps working.
  REQUIRE(::shutdown(client.get(), SHUT_WR) == 0);
  bool eof = false;
  CHECK(read_to_eof(upstream.get(), kTimeoutMs, &eof).empty());
  CHECK(eof);
  write_all(upstream.get(), "late data");
  CHECK(read_exact(client.get(), 9) == "late data");
  upstream.reset();
  CHECK(read_to_eof(client.get(), kTimeoutMs, &eof).empty());
  CHECK(eof);

  const auto closed = w.expect_closed();
  CHECK(closed.id == req.id);
  CHECK(closed.bytes_up == 9);     // "early" + "ping"
  CHECK(closed.bytes_down == 13);  // "pong" + "late data"
}

TEST_CASE("worker: CONNECT relays bulk data through a TCP upstream", "[worker]") {
  WorkerHarness w;
  std::uint16_t port = 0;
  UniqueFd server = listen_loopback(port);
  UniqueFd client = connect_loopback(w.http_port());
  write_all(client.get(), "CONNECT upstream.test:8443 HTTP/1.1\r\n\r\n");
  const auto req = w.expect_request();
  UniqueFd towards = connect_loopback(port);
  UniqueFd upstream(::accept4(server.get(), nullptr, nullptr, SOCK_CLOEXEC));
  REQUIRE(upstream);
  const int fds[] = {towards.get()};
  w.channel().send(ipc::ConnectAllowed{req.id}, fds);
  towards.reset();
  CHECK(read_exact(client.get(), kEstablished.size()) == kEstablished);

  // 4 MiB each way, interleaved so neither side blocks forever on a full buffer.
  const std::string chunk(64 * 1024, 'x');
  std::size_t got_up = 0, got_down = 0;
  for (int i = 0; i < 64; ++i) {
    write_all(client.get(), chunk);
    got_up += read_exact(upstream.get(), chunk.size()).size();
    write_all(upstream.get(), chunk);
    got_down += read_exact(client.get(), chunk.size()).size();
  }
  CHECK(got_up == 64 * chunk.size());
  CHECK(got_down == 64 * chunk.size());
  client.reset();
  upstream.reset();
  const auto closed = w.expect_closed();
  CHECK(closed.bytes_up == 64 * chunk.size());
  CHECK(closed.bytes_down == 64 * chunk.size());
}

TEST_CASE("worker: denied by policy is a 403 with fence's wording", "[worker]") {
  WorkerHarness w;
  UniqueFd client = connect_loopback(w.http_port());
  write_all(client.get(), "CONNECT blocked.example:443 HTTP/1.1\r\n\r\n");
  const auto req = w.expect_request();
  w.deny(req.id, ipc::DenyReason::Policy, "whatever the supervisor says");
  bool eof = false;
  const std::string response = read_to_eof(client.get(), kTimeoutMs, &eof);
  CHECK(eof);
  CHECK(response.rfind("HTTP/1.1 403 Forbidden\r\n", 0) == 0);
  CHECK(body_of(response) == "Connection blocked by network allowlist");
}

TEST_CASE("worker: other denials are a 502 with the supervisor's text", "[worker]") {
  WorkerHarness w;
  UniqueFd client = connect_loopback(w.http_port());
  write_all(client.get(),
            "GET http://unresolvable.example/ HTTP/1.1\r\nHost: unresolvable.example\r\n\r\n");
  const auto req = w.expect_request();
  CHECK(req.protocol == ipc::ProxyProtocol::HttpForward);
  CHECK(req.port == 80);
  w.deny(req.id, ipc::DenyReason::ResolveFailed, "name did not resolve");
  const std::string response = read_to_eof(client.get());
  CHECK(response.rfind("HTTP/1.1 502 Bad Gateway\r\n", 0) == 0);
  CHECK(body_of(response) == "name did not resolve");
}

TEST_CASE("worker: absolute-form sends the rewritten head and one body, nothing after it",
          "[worker]") {
  WorkerHarness w;
  UniqueFd client = connect_loopback(w.http_port());
  // A body of 3 bytes, then a pipelined request for another host that must not be forwarded
  // on this upstream: it gets its own ConnectRequest once the first response is over.
  write_all(client.get(),
            "POST http://example.com:8080/submit?q=1 HTTP/1.1\r\nHost: example.com:8080\r\n"
            "Proxy-Authorization: secret\r\nContent-Length: 3\r\n\r\nabc"
            "GET http://other.example/ HTTP/1.1\r\nHost: other.example\r\n\r\n");
  const auto req = w.expect_request();
  CHECK(req.host == "example.com");
  CHECK(req.port == 8080);
  CHECK(req.protocol == ipc::ProxyProtocol::HttpForward);
  UniqueFd upstream = w.allow(req.id);

  const std::string head = read_head(upstream.get());
  CHECK(head.rfind("POST /submit?q=1 HTTP/1.1\r\n", 0) == 0);
  CHECK(head.find("Proxy-Authorization") == std::string::npos);
  CHECK(head.find("Connection: close") != std::string::npos);
  const std::string rest = head.substr(head.find("\r\n\r\n") + 4) +
                           read_until(
                               upstream.get(), [](const std::string&) { return false; }, 300);
  CHECK(rest == "abc");

  write_all(upstream.get(), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
  const std::string first =
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok";
  const std::string response = read_exact(client.get(), first.size());
  CHECK(response == first);
  const auto closed = w.expect_closed();
  CHECK(closed.id == req.id);
  CHECK(closed.bytes_down == response.size());
  // The first upstream saw nothing of the second request.
  bool up_eof = false;
  CHECK(read_until(
            upstream.get(), [](const std::string&) { return false; }, 300, &up_eof)
            .empty());

  const auto second = w.expect_request();
  CHECK(second.host == "other.example");
  CHECK(second.id != req.id);
  w.deny(second.id, ipc::DenyReason::Policy, "");
  bool eof = false;
  const std::string refusal = read_to_eof(client.get(), kTimeoutMs, &eof);
  CHECK(eof);
  CHECK(refusal.rfind("HTTP/1.1 403 Forbidden\r\n", 0) == 0);
}

TEST_CASE("worker: keep-alive, pipelined requests each asked and answered in turn", "[worker]") {
  WorkerHarness w;
  UniqueFd client = connect_loopback(w.http_port());
  write_all(client.get(),
            "HEAD http://a.example/1 HTTP/1.1\r\nHost: a.example\r\n\r\n"
            "GET http://b.example/2 HTTP/1.1\r\nHost: b.example\r\n\r\n"
            "GET http://c.example/3 HTTP/1.1\r\nHost: c.example\r\n\r\n");
  // 1: HEAD, whose response has a Content-Length but no body.
  const auto r1 = w.expect_request();
  CHECK(r1.host == "a.example");
  UniqueFd up1 = w.allow(r1.id);
  CHECK(read_head(up1.get()).rfind("HEAD /1 HTTP/1.1\r\n", 0) == 0);
  write_all(up1.get(), "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nKeep-Alive: timeout=1\r\n\r\n");
  const std::string a = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: keep-alive\r\n\r\n";
  CHECK(read_exact(client.get(), a.size()) == a);
  CHECK(w.expect_closed().id == r1.id);
  CHECK(read_until(
            up1.get(), [](const std::string&) { return false; }, 200)
            .empty());

  // 2: a chunked response, relayed exactly; bytes after it are dropped.
  const auto r2 = w.expect_request();
  CHECK(r2.host == "b.example");
  UniqueFd up2 = w.allow(r2.id);
  CHECK(read_head(up2.get()).rfind("GET /2 HTTP/1.1\r\n", 0) == 0);
  write_all(up2.get(),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            "2\r\nok\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n\r\nsmuggled");
  const std::string b =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
      "Connection: keep-alive\r\n\r\n2\r\nok\r\n0\r\n\r\n";
  CHECK(read_exact(client.get(), b.size()) == b);
  CHECK(w.expect_closed().id == r2.id);

  // 3: close-delimited: "Connection: close", and the client connection ends with it.
  const auto r3 = w.expect_request();
  CHECK(r3.host == "c.example");
  UniqueFd up3 = w.allow(r3.id);
  CHECK(read_head(up3.get()).rfind("GET /3 HTTP/1.1\r\n", 0) == 0);
  write_all(up3.get(), "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nall of it");
  REQUIRE(::shutdown(up3.get(), SHUT_WR) == 0);
  bool eof = false;
  CHECK(read_to_eof(client.get(), kTimeoutMs, &eof) ==
        "HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nall of it");
  CHECK(eof);
  CHECK(w.expect_closed().id == r3.id);
}

TEST_CASE("worker: a malformed response before any byte reached the client is a 502", "[worker]") {
  WorkerHarness w;
  UniqueFd client = connect_loopback(w.http_port());
  write_all(client.get(), "GET http://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n");
  const auto req = w.expect_request();
  UniqueFd up = w.allow(req.id);
  read_head(up.get());
  write_all(up.get(), "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx");
  bool eof = false;
  const std::string response = read_to_eof(client.get(), kTimeoutMs, &eof);
  CHECK(eof);
  CHECK(response.rfind("HTTP/1.1 502 Bad Gateway\r\n", 0) == 0);
  CHECK(w.expect_closed().id == req.id);
}

TEST_CASE("worker: absolute-form with a chunked body forwards exactly that body", "[worker]") {
  WorkerHarness w;
  UniqueFd client = connect_loopback(w.http_port());
  const std::string body = "4\r\nwiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: x\r\n\r\n";
  write_all(client.get(),
            "PUT http://example.com/up HTTP/1.1\r\nHost: example.com\r\n"
            "Transfer-Encoding: chunked\r\n\r\n" +
                body + "GARBAGE AFTER THE BODY");
  const auto req = w.expect_request();
  UniqueFd upstream = w.allow(req.id);
  std::string got = read_until(
      upstream.get(), [](const std::string&) { return false; }, 500);
  const auto end = got.find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  CHECK(got.substr(end + 4) == body);
}

TEST_CASE("worker: a bad request is answered 400 and never reaches the supervisor", "[worker]") {
  WorkerHarness w;
  UniqueFd client = connect_loopback(w.http_port());
  write_all(client.get(),
            "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nContent-Length: 1\r\n"
            "Transfer-Encoding: chunked\r\n\r\n");
  const std::string response = read_to_eof(client.get());
  CHECK(response.rfind("HTTP/1.1 400 ", 0) == 0);
  CHECK_FALSE(w.receive(200));
}

TEST_CASE("worker: SOCKS5 allowed, with data both ways", "[worker]") {
  WorkerHarness w;
  UniqueFd client = connect_loopback(w.socks_port());
  write_all(client.get(), std::string("\x05\x01\x00", 3));
  CHECK(read_exact(client.get(), 2) == std::string("\x05\x00", 2));
  write_all(client.get(), socks_domain_request("registry.npmjs.org", 443));
  const auto req = w.expect_request();
  CHECK(req.host == "registry.npmjs.org");
  CHECK(req.port == 443);
  CHECK(req.protocol == ipc::ProxyProtocol::Socks5);
  UniqueFd upstream = w.allow(req.id);
  const std::string reply = read_exact(client.get(), 10);
  REQUIRE(reply.size() == 10);
  CHECK(reply[0] == 0x05);
  CHECK(reply[1] == 0x00);
  write_all(client.get(), "hello");
  CHECK(read_exact(upstream.get(), 5) == "hello");
  write_all(upstream.get(), "world");
  CHECK(read_exact(client.get(), 5) == "world");
  client.reset();
  upstream.reset();
  const auto closed = w.expect_closed();
  CHECK(closed.bytes_up == 5);
  CHECK(closed.bytes_down == 5);
}

TEST_CASE("worker: SOCKS5 greeting and request in one write; denial codes", "[worker]") {
  WorkerHarness w;
  const std::pair<ipc::DenyReason, char> cases[] = {
      {ipc::DenyReason::Policy, 0x02},        {ipc::DenyReason::NonPublicAddress, 0x02},
      {ipc::DenyReason::ResolveFailed, 0x04}, {ipc::DenyReason::ConnectFailed, 0x05},
      {ipc::DenyReason::Timeout, 0x06},
  };
  for (const auto& [reason, code] : cases) {
    UniqueFd client = connect_loopback(w.socks_port());
    write_all(client.get(), std::string("\x05\x01\x00", 3) + socks_domain_request("x.test", 22));
    const auto req = w.expect_request();
    w.deny(req.id, reason, "no");
    const std::string reply = read_to_eof(client.get());
    REQUIRE(reply.size() == 12);
    CHECK(reply.substr(0, 2) == std::string("\x05\x00", 2));
    CHECK(reply[2] == 0x05);
    CHECK(reply[3] == code);
  }
}

TEST_CASE("worker: SOCKS5 BIND is 'command not supported' without asking", "[worker]") {
  WorkerHarness w;
  UniqueFd client = connect_loopback(w.socks_port());
  write_all(client.get(), std::string("\x05\x01\x00\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x50", 13));
  const std::string reply = read_to_eof(client.get());
  REQUIRE(reply.size() == 12);
  CHECK(reply[2] == 0x05);
  CHECK(reply[3] == 0x07);
  CHECK_FALSE(w.receive(200));
}

TEST_CASE("worker: SOCKS5 without the no-auth method gets 0xFF and is closed", "[worker]") {
  WorkerHarness w;
  UniqueFd client = connect_loopback(w.socks_port());
  write_all(client.get(), std::string("\x05\x01\x02", 3));  // username/password only
  bool eof = false;
  CHECK(read_to_eof(client.get(), kTimeoutMs, &eof) == std::string("\x05\xff", 2));
  CHECK(eof);
  CHECK_FALSE(w.receive(200));
}

TEST_CASE("worker: SOCKS5 IPv6 target is asked for in canonical form", "[worker]") {
  WorkerHarness w;
  UniqueFd client = connect_loopback(w.socks_port());
  std::string request("\x05\x01\x00\x05\x01\x00\x04", 7);
  request += std::string("\x20\x01\x0d\xb8", 4) + std::string(11, '\0') + "\x01";
  request += std::string("\x01\xbb", 2);
  write_all(client.get(), request);
  const auto req = w.expect_request();
  CHECK(req.host == "2001:db8::1");
  CHECK(req.port == 443);
}

TEST_CASE("worker: an incomplete request head times out with 408", "[worker]") {
  ipc::ProxyStart limits;
  limits.header_timeout_ms = 300;
  WorkerHarness w(limits);
  UniqueFd client = connect_loopback(w.http_port());
  write_all(client.get(), "CONNECT slow.example:443 HTTP/1.1\r\n");
  const auto start = Clock::now();
  const std::string response = read_to_eof(client.get());
  CHECK(response.rfind("HTTP/1.1 408 ", 0) == 0);
  CHECK(Clock::now() - start < std::chrono::seconds(3));
}

TEST_CASE("worker: an idle tunnel is closed after idle_timeout and reported", "[worker]") {
  ipc::ProxyStart limits;
  limits.idle_timeout_ms = 300;
  WorkerHarness w(limits);
  UniqueFd client = connect_loopback(w.http_port());
  write_all(client.get(), "CONNECT idle.example:443 HTTP/1.1\r\n\r\n");
  const auto req = w.expect_request();
  UniqueFd upstream = w.allow(req.id);
  CHECK(read_exact(client.get(), kEstablished.size()) == kEstablished);
  bool eof = false;
  read_to_eof(client.get(), 3000, &eof);
  CHECK(eof);
  const auto closed = w.expect_closed();
  CHECK(closed.id == req.id);
  CHECK(closed.duration_ms >= 250);
}

TEST_CASE("worker: connections over max_tunnels are refused with 503", "[worker]") {
  ipc::ProxyStart limits;
  limits.max_tunnels = 1;
  WorkerHarness w(limits);
  UniqueFd first = connect_loopback(w.http_port());
  write_all(first.get(), "CONNECT one.example:443 HTTP/1.1\r\n\r\n");
  const auto req = w.expect_request();  // the first is now live (waiting for the answer)
  UniqueFd second = connect_loopback(w.http_port());
  const std::string refused = read_to_eof(second.get());
  CHECK(refused.rfind("HTTP/1.1 503 ", 0) == 0);
  // The first one is unaffected.
  UniqueFd upstream = w.allow(req.id);
  CHECK(read_exact(first.get(), kEstablished.size()) == kEstablished);
}

TEST_CASE("worker: answers are matched by id, in any order", "[worker]") {
  WorkerHarness w;
  UniqueFd a = connect_loopback(w.http_port());
  write_all(a.get(), "CONNECT a.example:443 HTTP/1.1\r\n\r\n");
  const auto req_a = w.expect_request();
  UniqueFd b = connect_loopback(w.http_port());
  write_all(b.get(), "CONNECT b.example:443 HTTP/1.1\r\n\r\n");
  const auto req_b = w.expect_request();
  CHECK(req_a.id != req_b.id);
  w.deny(req_b.id, ipc::DenyReason::Policy, "");
  UniqueFd upstream = w.allow(req_a.id);
  CHECK(read_to_eof(b.get()).rfind("HTTP/1.1 403 ", 0) == 0);
  CHECK(read_exact(a.get(), kEstablished.size()) == kEstablished);
}

}  // namespace
}  // namespace fence::testing::worker
