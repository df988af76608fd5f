#include <catch2/catch.hpp>

#include <string>
#include <string_view>

#include "ipc/grammar.hpp"
#include "proxy-worker/http_request.hpp"

using fence::proxy_worker::HttpRequestParser;
using fence::proxy_worker::HttpTarget;
using fence::proxy_worker::ParseStatus;

namespace {

constexpr std::size_t kLimit = 8192;

struct Outcome {
  ParseStatus status = ParseStatus::NeedMore;
  std::size_t head_bytes = 0;
  HttpTarget target;
  int error_status = 0;
  std::string error_text;
};

Outcome outcome_of(const HttpRequestParser& p, ParseStatus status) {
  Outcome o;
  o.status = status;
  if (status == ParseStatus::Done) {
    o.head_bytes = p.head_bytes();
    o.target = p.target();
  } else if (status == ParseStatus::Bad) {
    o.error_status = p.error_status();
    o.error_text = p.error_text();
  }
  return o;
}

Outcome parse_whole(std::string_view bytes, std::size_t limit = kLimit, std::size_t count = 100) {
  HttpRequestParser p(limit, count);
  return outcome_of(p, p.feed(bytes));
}

Outcome parse_bytewise(std::string_view bytes, std::size_t limit = kLimit,
                       std::size_t count = 100) {
  HttpRequestParser p(limit, count);
  ParseStatus s = ParseStatus::NeedMore;
  for (char c : bytes) s = p.feed(std::string_view(&c, 1));
  return outcome_of(p, s);
}

// Parses in one piece and byte by byte; both must agree. Returns the one-piece result.
Outcome parse(std::string_view bytes, std::size_t limit = kLimit, std::size_t count = 100) {
  const Outcome whole = parse_whole(bytes, limit, count);
  const Outcome split = parse_bytewise(bytes, limit, count);
  CHECK(static_cast<int>(whole.status) == static_cast<int>(split.status));
  CHECK(whole.head_bytes == split.head_bytes);
  CHECK(whole.error_status == split.error_status);
  CHECK(whole.target.host == split.target.host);
  CHECK(whole.target.port == split.target.port);
  CHECK(whole.target.upstream_head == split.target.upstream_head);
  return whole;
}

int bad_status(std::string_view bytes) {
  const Outcome o = parse(bytes);
  CHECK(o.status == ParseStatus::Bad);
  CHECK(!o.error_text.empty());
  CHECK(o.error_text.find('\n') == std::string::npos);
  return o.error_status;
}

std::size_t count_of(std::string_view haystack, std::string_view needle) {
  std::size_t n = 0;
  for (std::size_t pos = haystack.find(needle); pos != std::string_view::npos;
       pos = haystack.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("CONNECT host:port is accepted", "[worker][http_request]") {
  const std::string req = "CONNECT Example.COM.:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n";
  const Outcome o = parse(req);
  REQUIRE(o.status == ParseStatus::Done);
  CHECK(o.target.is_connect);
  CHECK(o.target.host == "example.com");
  CHECK(o.target.port == 443);
  CHECK(o.head_bytes == req.size());
  CHECK(o.target.upstream_head.empty());
}

TEST_CASE("CONNECT over HTTP/1.0 and without Host is accepted", "[worker][http_request]") {
  const Outcome o = parse("CONNECT registry.npmjs.org:443 HTTP/1.0\r\n\r\n");
  REQUIRE(o.status == ParseStatus::Done);
  CHECK(o.target.host == "registry.npmjs.org");
}

TEST_CASE("CONNECT to IPv6 and IPv4 literals", "[worker][http_request]") {
  Outcome o = parse("CONNECT [::1]:443 HTTP/1.1\r\n\r\n");
  REQUIRE(o.status == ParseStatus::Done);
  CHECK(o.target.host == "::1");
  CHECK(o.target.port == 443);
  o = parse("CONNECT [2001:DB8:0:0:0:0:0:1]:8443 HTTP/1.1\r\n\r\n");
  REQUIRE(o.status == ParseStatus::Done);
  CHECK(o.target.host == "2001:db8::1");
  o = parse("CONNECT 198.51.100.7:22 HTTP/1.1\r\n\r\n");
  REQUIRE(o.status == ParseStatus::Done);
  CHECK(o.target.host == "198.51.100.7");
  CHECK(o.target.port == 22);
}

TEST_CASE("CONNECT with bad authority is 400", "[worker][http_request]") {
  CHECK(bad_status("CONNECT example.com HTTP/1.1\r\n\r\n") == 400);   // no port
  CHECK(bad_status("CONNECT example.com: HTTP/1.1\r\n\r\n") == 400);  // empty port
  CHECK(bad_status("CONNECT example.com:0 HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("CONNECT example.com:65536 HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("CONNECT example.com:+80 HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("CONNECT example.com:0x50 HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("CONNECT example.com:443/path HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("CONNECT :443 HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("CONNECT user@example.com:443 HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("CONNECT ::1:443 HTTP/1.1\r\n\r\n") == 400);  // IPv6 needs brackets
  CHECK(bad_status("CONNECT [::1%25eth0]:443 HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("CONNECT [example.com]:443 HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("CONNECT [::1 HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("CONNECT http://example.com:443 HTTP/1.1\r\n\r\n") == 400);
}

TEST_CASE("CONNECT with a body framing header is 400", "[worker][http_request]") {
  CHECK(bad_status("CONNECT a.example:443 HTTP/1.1\r\nContent-Length: 0\r\n\r\n") == 400);
  CHECK(bad_status("CONNECT a.example:443 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n") == 400);
}

TEST_CASE("Hosts outside the allowed syntax are 400", "[worker][http_request]") {
  CHECK(bad_status("CONNECT exa_mple.com:443 HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("CONNECT exa%2em.com:443 HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("CONNECT a..b:443 HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("CONNECT .a.b:443 HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("CONNECT -a.b:443 HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("CONNECT .:443 HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("CONNECT " + std::string(64, 'a') + ".com:443 HTTP/1.1\r\n\r\n") == 400);
  // Numeric forms a resolver would read as another IPv4 address.
  CHECK(bad_status("CONNECT 127.1:443 HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("CONNECT 0x7f.0.0.1:443 HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("CONNECT 017.0.0.1:443 HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("CONNECT 2130706433:443 HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("CONNECT 256.0.0.1:443 HTTP/1.1\r\n\r\n") == 400);
}

TEST_CASE("normalize_target_host", "[worker][http_request]") {
  using fence::proxy_worker::normalize_target_host;
  CHECK(normalize_target_host("WWW.Example.com.", false) ==
        std::optional<std::string>("www.example.com"));
  CHECK(normalize_target_host("xn--bcher-kva.example", false).has_value());
  CHECK(normalize_target_host("0x7f.example.com", false).has_value());  // last label not numeric
  CHECK(normalize_target_host("1.2.3.4", false) == std::optional<std::string>("1.2.3.4"));
  CHECK_FALSE(normalize_target_host("::1", false).has_value());
  CHECK(normalize_target_host("::FFFF:1.2.3.4", true) ==
        std::optional<std::string>("::ffff:1.2.3.4"));
  CHECK_FALSE(normalize_target_host("", true).has_value());
  CHECK_FALSE(normalize_target_host(std::string_view("a\0b", 3), true).has_value());
  CHECK_FALSE(normalize_target_host(std::string(254, 'a'), false).has_value());
  // What it returns, the channel's check of ConnectRequest accepts: the worker checks a target
  // host once more only there, when it sends.
  for (const auto* host : {"WWW.Example.com.", "1.2.3.4", "::FFFF:1.2.3.4", "a-b.c"}) {
    const auto normalized = normalize_target_host(host, true);
    REQUIRE(normalized.has_value());
    CHECK(fence::ipc::is_valid_target_host(*normalized));
  }
  const std::string label(63, 'a');
  const auto longest =
      normalize_target_host(label + "." + label + "." + label + "." + std::string(61, 'a'),
                            false);  // 253 bytes
  REQUIRE(longest.has_value());
  CHECK(longest->size() == fence::ipc::kMaxHostLen);
  CHECK(fence::ipc::is_valid_target_host(*longest));
}

TEST_CASE("absolute-form GET is rewritten to origin-form", "[worker][http_request]") {
  const std::string req =
      "GET http://Example.com/path/x?q=1&r=2 HTTP/1.1\r\n"
      "Host: evil.example\r\n"
      "User-Agent: curl/8\r\n"
      "Proxy-Authorization: Basic Zm9vOmJhcg==\r\n"
      "proxy-connection: Keep-Alive\r\n"
      "Proxy-Foo: bar\r\n"
      "Connection: keep-alive, X-Secret\r\n"
      "Keep-Alive: timeout=5\r\n"
      "X-Secret: 1\r\n"
      "TE: trailers\r\n"
      "Trailer: X-T\r\n"
      "Upgrade: h2c\r\n"
      "Accept: */*\r\n"
      "\r\n";
  const Outcome o = parse(req);
  REQUIRE(o.status == ParseStatus::Done);
  CHECK_FALSE(o.target.is_connect);
  CHECK(o.target.host == "example.com");
  CHECK(o.target.port == 80);
  CHECK(o.head_bytes == req.size());
  CHECK(o.target.upstream_head ==
        "GET /path/x?q=1&r=2 HTTP/1.1\r\n"
        "Host: example.com\r\n"
        "User-Agent: curl/8\r\n"
        "Accept: */*\r\n"
        "Connection: close\r\n"
        "\r\n");
}

TEST_CASE("upstream Host carries port and IPv6 brackets", "[worker][http_request]") {
  Outcome o = parse("GET http://a.example:8080 HTTP/1.1\r\nHost: a.example:8080\r\n\r\n");
  REQUIRE(o.status == ParseStatus::Done);
  CHECK(o.target.port == 8080);
  CHECK(o.target.upstream_head ==
        "GET / HTTP/1.1\r\nHost: a.example:8080\r\nConnection: close\r\n\r\n");
  o = parse("GET http://a.example:80?x HTTP/1.0\r\n\r\n");
  REQUIRE(o.status == ParseStatus::Done);
  CHECK(o.target.upstream_head ==
        "GET /?x HTTP/1.0\r\nHost: a.example\r\nConnection: close\r\n\r\n");
  o = parse("GET http://[2001:db8::5]:8000/x HTTP/1.1\r\n\r\n");
  REQUIRE(o.status == ParseStatus::Done);
  CHECK(o.target.host == "2001:db8::5");
  CHECK(o.target.upstream_head ==
        "GET /x HTTP/1.1\r\nHost: [2001:db8::5]:8000\r\nConnection: close\r\n\r\n");
}

TEST_CASE("a Host header that disagrees with the URI is replaced", "[worker][http_request]") {
  const Outcome o = parse("GET http://allowed.example/ HTTP/1.1\r\nhOsT: 169.254.169.254\r\n\r\n");
  REQUIRE(o.status == ParseStatus::Done);
  CHECK(o.target.host == "allowed.example");
  CHECK(count_of(o.target.upstream_head, "Host:") == 1);
  CHECK(o.target.upstream_head.find("169.254") == std::string::npos);
  CHECK(bad_status("GET http://a.example/ HTTP/1.1\r\nHost: a.example\r\nHost: b\r\n\r\n") == 400);
}

TEST_CASE("all allowed methods, case-insensitive header names", "[worker][http_request]") {
  for (const char* method : {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
    const Outcome o =
        parse(std::string(method) + " http://a.example/ HTTP/1.1\r\nCONTENT-length: 3\r\n\r\nabc");
    REQUIRE(o.status == ParseStatus::Done);
    CHECK(o.target.content_length == 3);
    CHECK(o.target.upstream_head.rfind(std::string(method) + " / HTTP/1.1\r\n", 0) == 0);
    CHECK(o.target.upstream_head.find("CONTENT-length: 3\r\n") != std::string::npos);
  }
  const Outcome o = parse(
      "POST http://a.example/ HTTP/1.1\r\nPROXY-AUTHORIZATION: x\r\nPrOxY-CoNnEcTiOn: "
      "close\r\n\r\n");
  REQUIRE(o.status == ParseStatus::Done);
  CHECK(o.target.upstream_head.find("PROXY") == std::string::npos);
  CHECK(o.target.upstream_head.find("PrOxY") == std::string::npos);
}

TEST_CASE("other methods are 405", "[worker][http_request]") {
  CHECK(bad_status("TRACE http://a.example/ HTTP/1.1\r\n\r\n") == 405);
  CHECK(bad_status("PROPFIND http://a.example/ HTTP/1.1\r\n\r\n") == 405);
  CHECK(bad_status("get http://a.example/ HTTP/1.1\r\n\r\n") == 405);
}

TEST_CASE("body framing of absolute-form requests", "[worker][http_request]") {
  const std::string head =
      "POST http://a.example/up HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: "
      "100-continue\r\n\r\n";
  const std::string body = "5\r\nhello\r\n0\r\n\r\n";
  const Outcome o = parse(head + body);
  REQUIRE(o.status == ParseStatus::Done);
  CHECK(o.target.chunked);
  CHECK(o.target.content_length == 0);
  CHECK(o.head_bytes == head.size());
  CHECK(o.target.upstream_head.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
  CHECK(o.target.upstream_head.find("Expect: 100-continue\r\n") != std::string::npos);
  const Outcome big =
      parse("PUT http://a.example/ HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n");
  REQUIRE(big.status == ParseStatus::Done);
  CHECK(big.target.content_length == 18446744073709551615ULL);
}

TEST_CASE("ambiguous framing is 400", "[worker][http_request]") {
  const std::string pre = "POST http://a.example/ HTTP/1.1\r\n";
  CHECK(bad_status(pre + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n") == 400);
  CHECK(bad_status(pre + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n") == 400);
  CHECK(bad_status(pre + "Content-Length: 5\r\nContent-Length: 5\r\n\r\n") == 400);
  CHECK(bad_status(pre + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n") == 400);
  CHECK(bad_status(pre + "Content-Length: 5, 5\r\n\r\n") == 400);
  CHECK(bad_status(pre + "Content-Length: -1\r\n\r\n") == 400);
  CHECK(bad_status(pre + "Content-Length: 0x10\r\n\r\n") == 400);
  CHECK(bad_status(pre + "Content-Length: \r\n\r\n") == 400);
  CHECK(bad_status(pre + "Content-Length: 18446744073709551616\r\n\r\n") == 400);
  CHECK(bad_status(pre + "Transfer-Encoding: gzip, chunked\r\n\r\n") == 400);
  // HTTP/1.0 knows no chunked framing (RFC 9112 §6.1).
  CHECK(bad_status("POST http://a.example/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n") == 400);
  CHECK(bad_status(pre + "Transfer-Encoding: identity\r\n\r\n") == 400);
  CHECK(bad_status(pre + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n") ==
        400);
  CHECK(bad_status(pre + "Transfer-Encoding: chunked\r\nConnection: transfer-encoding\r\n\r\n") ==
        400);
  CHECK(bad_status(pre + "Content-Length: 1\r\nConnection: Content-Length\r\n\r\n") == 400);
}

TEST_CASE("obs-fold, bare LF and NUL are 400", "[worker][http_request]") {
  CHECK(bad_status("GET http://a.example/ HTTP/1.1\r\nX-A: 1\r\n  continued\r\n\r\n") == 400);
  CHECK(bad_status("GET http://a.example/ HTTP/1.1\r\nX-A: 1\r\n\tcontinued\r\n\r\n") == 400);
  CHECK(bad_status("GET http://a.example/ HTTP/1.1\r\nHost: a.example\r\n Host: b\r\n\r\n") == 400);
  CHECK(bad_status("GET http://a.example/ HTTP/1.1\nX-A: 1\r\n\r\n") == 400);
  CHECK(bad_status(std::string("GET http://a.example/ HTTP/1.1\r\nX-A: 1\0\r\n\r\n", 41)) == 400);
  CHECK(bad_status("\r\nGET http://a.example/ HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("GET http://a.example/ HTTP/1.1\r\nX-A: 1\rX-B: 2\r\n\r\n") == 400);
  CHECK(bad_status("GET http://a.example/ HTTP/1.1\r\nX A: 1\r\n\r\n") == 400);
  CHECK(bad_status("GET http://a.example/ HTTP/1.1\r\nX-A : 1\r\n\r\n") == 400);
}

TEST_CASE("absolute-form URI rules", "[worker][http_request]") {
  CHECK(bad_status("GET http://user@a.example/ HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("GET http://user:pw@a.example/ HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("GET http://a.example@b.example/ HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("GET http://a.example:/ HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("GET http://a.example:0/ HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("GET http://a.example:65536/ HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("GET http://a.example:+80/ HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("GET http://a.example:0x50/ HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("GET http:///path HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("GET http://:80/ HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("GET http://a_b.example/ HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("GET http://a.example/#frag HTTP/1.1\r\n\r\n") == 400);
  CHECK(bad_status("GET /path HTTP/1.1\r\nHost: a.example\r\n\r\n") == 400);  // origin-form
  CHECK(bad_status("OPTIONS * HTTP/1.1\r\nHost: a.example\r\n\r\n") == 400);
  CHECK(bad_status("GET a.example:80 HTTP/1.1\r\n\r\n") == 400);
  const Outcome https = parse("GET https://a.example/ HTTP/1.1\r\n\r\n");
  REQUIRE(https.status == ParseStatus::Bad);
  CHECK(https.error_status == 400);
  CHECK(https.error_text.find("CONNECT") != std::string::npos);
  CHECK(bad_status("GET ftp://a.example/ HTTP/1.1\r\n\r\n") == 501);
  const Outcome upper = parse("GET HTTP://A.EXAMPLE:81/P HTTP/1.1\r\n\r\n");
  REQUIRE(upper.status == ParseStatus::Done);
  CHECK(upper.target.host == "a.example");
  CHECK(upper.target.port == 81);
}

TEST_CASE("HTTP versions", "[worker][http_request]") {
  CHECK(bad_status("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") == 400);
  CHECK(bad_status("GET http://a.example/ HTTP/2.0\r\n\r\n") >= 400);
  CHECK(bad_status("GET http://a.example/ HTTP/0.9\r\n\r\n") >= 400);
  CHECK(bad_status("CONNECT a.example:443 HTTP/1.2\r\n\r\n") >= 400);
  CHECK(bad_status("GET http://a.example/ HTTX/1.1\r\n\r\n") == 400);
  CHECK(bad_status("GET http://a.example/\r\n\r\n") == 400);
  // A TLS ClientHello is refused at its first byte.
  HttpRequestParser tls(kLimit);
  CHECK(tls.feed("\x16") == ParseStatus::Bad);
  CHECK(tls.error_status() == 400);
}

TEST_CASE("pipelined bytes after the head are not consumed", "[worker][http_request]") {
  const std::string head = "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n";
  const std::string tls = "\x16\x03\x01\x00\x05hello";
  const Outcome o = parse(head + tls);
  REQUIRE(o.status == ParseStatus::Done);
  CHECK(o.head_bytes == head.size());

  // Split across several feeds, then more calls after Done return Done and change nothing.
  HttpRequestParser p(kLimit);
  CHECK(p.feed(head.substr(0, 10)) == ParseStatus::NeedMore);
  CHECK(p.feed(head.substr(10, 30)) == ParseStatus::NeedMore);
  CHECK(p.feed(head.substr(40) + tls) == ParseStatus::Done);
  CHECK(p.head_bytes() == head.size());
  CHECK(p.feed("GET http://other.example/ HTTP/1.1\r\n\r\n") == ParseStatus::Done);
  CHECK(p.target().host == "a.example");
  CHECK(p.head_bytes() == head.size());
  CHECK(p.feed("") == ParseStatus::Done);
}

TEST_CASE("Bad is sticky", "[worker][http_request]") {
  HttpRequestParser p(kLimit);
  CHECK(p.feed("GET /x HTTP/1.1\r\n\r\n") == ParseStatus::Bad);
  CHECK(p.feed("CONNECT a.example:443 HTTP/1.1\r\n\r\n") == ParseStatus::Bad);
  CHECK(p.error_status() == 400);
}

TEST_CASE("header size and count limits give 431", "[worker][http_request]") {
  const std::string head =
      "CONNECT a.example:443 HTTP/1.1\r\nX-Pad: " + std::string(100, 'p') + "\r\n\r\n";
  // Exactly at the limit: accepted; one byte less: 431.
  CHECK(parse(head, head.size()).status == ParseStatus::Done);
  const Outcome over = parse(head, head.size() - 1);
  CHECK(over.status == ParseStatus::Bad);
  CHECK(over.error_status == 431);
  // A head that never ends stops at the limit, however much is sent.
  HttpRequestParser p(1024);
  ParseStatus s = ParseStatus::NeedMore;
  const std::string chunk = "X-Long: " + std::string(200, 'x');
  s = p.feed("GET http://a.example/ HTTP/1.1\r\n");
  for (int i = 0; i < 100 && s == ParseStatus::NeedMore; ++i) s = p.feed(chunk);
  CHECK(s == ParseStatus::Bad);
  CHECK(p.error_status() == 431);
  // Count.
  std::string many = "GET http://a.example/ HTTP/1.1\r\n";
  for (int i = 0; i < 5; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  many += "\r\n";
  CHECK(parse(many, kLimit, 5).status == ParseStatus::Done);
  const Outcome too_many = parse(many, kLimit, 4);
  CHECK(too_many.status == ParseStatus::Bad);
  CHECK(too_many.error_status == 431);
}

TEST_CASE("http_response format", "[worker][http_request]") {
  CHECK(fence::proxy_worker::http_response(403, "Forbidden",
                                           "Connection blocked by network allowlist\n") ==
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 40\r\n"
        "Connection: close\r\n\r\nConnection blocked by network allowlist\n");
  CHECK(fence::proxy_worker::http_response(400, "Bad\r\nX: y", "") ==
        "HTTP/1.1 400 Bad  X: y\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n"
        "Connection: close\r\n\r\n");
  CHECK(fence::proxy_worker::http_reason(431) == "Request Header Fields Too Large");
}
