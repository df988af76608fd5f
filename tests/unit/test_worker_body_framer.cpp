// BodyFramer: where one request body ends (content-length and chunked), byte by byte and in
// one piece, and what it refuses.
#include <catch2/catch.hpp>

#include "proxy-worker/body_framer.hpp"

namespace fence::proxy_worker {
namespace {

// Feeds `bytes` whole and byte by byte; both must agree. Returns the body length (or npos).
std::size_t body_length(BodyFramer proto, std::string_view bytes) {
  BodyFramer whole = proto;
  const std::size_t n = whole.accept(bytes);
  BodyFramer split = proto;
  std::size_t m = 0;
  for (char c : bytes) m += split.accept(std::string_view(&c, 1));
  REQUIRE(whole.bad() == split.bad());
  REQUIRE(whole.done() == split.done());
  if (whole.bad()) return std::string_view::npos;
  REQUIRE(n == m);
  return whole.done() ? n : std::string_view::npos - 1;
}

constexpr std::size_t kBad = std::string_view::npos;
constexpr std::size_t kIncomplete = std::string_view::npos - 1;

TEST_CASE("body framer: content-length", "[worker]") {
  CHECK(body_length(BodyFramer::content_length(3), "abcGET / HTTP/1.1") == 3);
  CHECK(body_length(BodyFramer::content_length(0), "GET") == 0);
  CHECK(body_length(BodyFramer::content_length(10), "abc") == kIncomplete);
}

TEST_CASE("body framer: chunked", "[worker]") {
  const std::string body =
      "4\r\nwiki\r\n5;name=value\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n";
  CHECK(body_length(BodyFramer::chunked(), body + "NEXT") == body.size());
  const std::string trailers = "1\r\na\r\n0\r\nExpires: never\r\nX: y\r\n\r\n";
  CHECK(body_length(BodyFramer::chunked(), trailers + "tail") == trailers.size());
  CHECK(body_length(BodyFramer::chunked(), "A\r\n0123456789\r\n0\r\n\r\n") == 20);
  CHECK(body_length(BodyFramer::chunked(), "4\r\nwi") == kIncomplete);
}

TEST_CASE("body framer: chunked framing an origin could read differently is bad", "[worker]") {
  CHECK(body_length(BodyFramer::chunked(), "4\nwiki\r\n0\r\n\r\n") == kBad);     // bare LF
  CHECK(body_length(BodyFramer::chunked(), " 4\r\nwiki\r\n0\r\n\r\n") == kBad);  // space
  CHECK(body_length(BodyFramer::chunked(), "4 \r\nwiki\r\n0\r\n\r\n") == kBad);
  CHECK(body_length(BodyFramer::chunked(), "\r\nwiki\r\n0\r\n\r\n") == kBad);    // no size
  CHECK(body_length(BodyFramer::chunked(), "4\r\nwikiX\r\n0\r\n\r\n") == kBad);  // overrun
  CHECK(body_length(BodyFramer::chunked(), "-4\r\nwiki\r\n0\r\n\r\n") == kBad);
  CHECK(body_length(BodyFramer::chunked(), "1000000000000000\r\n") == kBad);  // 16 digits
  CHECK(body_length(BodyFramer::chunked(), "0\r\n folded\r\n\r\n") == kBad);  // obs-fold
  CHECK(body_length(BodyFramer::chunked(), "0\r\nX: y\n\r\n") == kBad);
  CHECK(body_length(BodyFramer::chunked(), std::string("1;a\0b\r\n", 7)) == kBad);
}

}  // namespace
}  // namespace fence::proxy_worker
