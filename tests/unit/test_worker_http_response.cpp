// HttpResponseParser: the response head the worker reads before it can keep a client
// connection alive (framing, refusals, the head rewritten for the client).
#include <catch2/catch.hpp>

#include "proxy-worker/http_response.hpp"

namespace fence::proxy_worker {
namespace {

// Feeds `bytes` whole and byte by byte; both must agree on status and head size.
ParseStatus parse(std::string_view bytes, bool head_request = false, std::size_t* head = nullptr,
                  ResponseFraming* framing = nullptr, std::uint64_t* length = nullptr) {
  HttpResponseParser whole(16384, head_request);
  const ParseStatus s = whole.feed(bytes);
  HttpResponseParser split(16384, head_request);
  ParseStatus t = ParseStatus::NeedMore;
  for (char c : bytes) t = split.feed(std::string_view(&c, 1));
  REQUIRE(s == t);
  if (s == ParseStatus::Done) {
    REQUIRE(whole.head_bytes() == split.head_bytes());
    if (head) *head = whole.head_bytes();
    if (framing) *framing = whole.framing();
    if (length) *length = whole.content_length();
  }
  return s;
}

TEST_CASE("response parser: framing", "[worker]") {
  ResponseFraming f{};
  std::uint64_t len = 0;
  std::size_t head = 0;
  const std::string cl = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
  CHECK(parse(cl, false, &head, &f, &len) == ParseStatus::Done);
  CHECK(head == cl.size() - 5);
  CHECK(f == ResponseFraming::ContentLength);
  CHECK(len == 5);
  CHECK(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, nullptr, &f) ==
        ParseStatus::Done);
  CHECK(f == ResponseFraming::Chunked);
  CHECK(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false, nullptr, &f) ==
        ParseStatus::Done);
  CHECK(f == ResponseFraming::Close);
  CHECK(parse("HTTP/1.0 200 OK\r\nServer: x\r\n\r\n", false, nullptr, &f) == ParseStatus::Done);
  CHECK(f == ResponseFraming::Close);
  CHECK(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true, nullptr, &f) ==
        ParseStatus::Done);
  CHECK(f == ResponseFraming::None);
  for (const char* s : {"HTTP/1.1 204 No Content\r\n\r\n", "HTTP/1.1 304 Not Modified\r\n\r\n",
                        "HTTP/1.1 100 Continue\r\n\r\n"}) {
    CHECK(parse(s, false, nullptr, &f) == ParseStatus::Done);
    CHECK(f == ResponseFraming::None);
  }
  CHECK(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n") == ParseStatus::NeedMore);
}

TEST_CASE("response parser: ambiguous heads are refused", "[worker]") {
  CHECK(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n") ==
        ParseStatus::Bad);
  CHECK(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n") ==
        ParseStatus::Bad);
  CHECK(parse("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n") == ParseStatus::Bad);
  CHECK(parse("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n") == ParseStatus::Bad);
  CHECK(parse("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n") == ParseStatus::Bad);
  CHECK(parse(std::string("HTTP/1.1 200 OK\r\nX: \0\r\n\r\n", 24)) == ParseStatus::Bad);
  CHECK(parse("HTTP/2.0 200 OK\r\n\r\n") == ParseStatus::Bad);
  CHECK(parse("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n") == ParseStatus::Bad);
  CHECK(parse("HELLO\r\n\r\n") == ParseStatus::Bad);
  CHECK(parse("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n") == ParseStatus::Bad);
  HttpResponseParser small(64, false);
  CHECK(small.feed("HTTP/1.1 200 OK\r\nX: " + std::string(100, 'a')) == ParseStatus::Bad);
}

TEST_CASE("response parser: the client's head drops hop-by-hop headers", "[worker]") {
  HttpResponseParser p(16384, false);
  REQUIRE(p.feed("HTTP/1.1 200 OK\r\nConnection: close, X-Hop\r\nKeep-Alive: timeout=5\r\n"
                 "Proxy-Connection: keep-alive\r\nX-Hop: 1\r\nX-End: 2\r\n"
                 "Content-Length: 2\r\n\r\nok") == ParseStatus::Done);
  CHECK(p.client_head("keep-alive") ==
        "HTTP/1.1 200 OK\r\nX-End: 2\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n");
  CHECK(p.client_head("close") ==
        "HTTP/1.1 200 OK\r\nX-End: 2\r\nContent-Length: 2\r\nConnection: close\r\n\r\n");
  HttpResponseParser q(16384, false);
  REQUIRE(q.feed("HTTP/1.1 100 Continue\r\n\r\n") == ParseStatus::Done);
  CHECK(q.interim());
  CHECK(q.client_head({}) == "HTTP/1.1 100 Continue\r\n\r\n");
}

TEST_CASE("response parser: does the client want keep-alive", "[worker]") {
  CHECK(client_wants_keep_alive("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n"));
  CHECK_FALSE(client_wants_keep_alive("GET http://a/ HTTP/1.1\r\nConnection: close\r\n\r\n"));
  CHECK_FALSE(client_wants_keep_alive("GET http://a/ HTTP/1.1\r\nProxy-Connection: Close\r\n\r\n"));
  CHECK_FALSE(client_wants_keep_alive("GET http://a/ HTTP/1.0\r\nHost: a\r\n\r\n"));
  CHECK(client_wants_keep_alive("GET http://a/ HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
}

}  // namespace
}  // namespace fence::proxy_worker
