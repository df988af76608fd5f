#include <catch2/catch.hpp>

#include <string>
#include <string_view>

#include "proxy-worker/socks5.hpp"

using fence::proxy_worker::ParseStatus;
using fence::proxy_worker::Socks5Parser;

namespace {

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out.push_back(static_cast<char>(v));
  return out;
}

const std::string kGreeting = bytes({5, 1, 0});

std::string domain_request(std::string_view name, int port, int cmd = 1) {
  std::string out = bytes({5, cmd, 0, 3, static_cast<int>(name.size())});
  out.append(name);
  out.push_back(static_cast<char>(port >> 8));
  out.push_back(static_cast<char>(port & 0xff));
  return out;
}

struct Outcome {
  ParseStatus status;
  std::string host;
  std::uint16_t port;
  std::size_t consumed;
  std::uint8_t code;
  bool greeting_complete;
  std::string greeting_reply;
};

Outcome outcome_of(const Socks5Parser& p, ParseStatus s) {
  return {s,
          p.host(),
          p.port(),
          p.consumed(),
          s == ParseStatus::Bad ? p.error_reply_code() : std::uint8_t{0},
          p.greeting_complete(),
          p.greeting_complete() ? p.greeting_reply() : std::string()};
}

// One piece and byte by byte must agree; returns the one-piece result.
Outcome parse(std::string_view input) {
  Socks5Parser whole;
  const Outcome a = outcome_of(whole, whole.feed(input));
  Socks5Parser split;
  ParseStatus s = ParseStatus::NeedMore;
  for (char c : input) s = split.feed(std::string_view(&c, 1));
  const Outcome b = outcome_of(split, s);
  CHECK(static_cast<int>(a.status) == static_cast<int>(b.status));
  CHECK(a.host == b.host);
  CHECK(a.port == b.port);
  if (a.status == ParseStatus::Done) CHECK(a.consumed == b.consumed);
  CHECK(a.code == b.code);
  CHECK(a.greeting_reply == b.greeting_reply);
  return a;
}

std::uint8_t bad_code(std::string_view input) {
  const Outcome o = parse(input);
  CHECK(o.status == ParseStatus::Bad);
  return o.code;
}

}  // namespace

TEST_CASE("socks5 domain target", "[worker][socks5]") {
  const std::string req = domain_request("Registry.NPMJS.org.", 443);
  const Outcome o = parse(kGreeting + req + "client data");
  REQUIRE(o.status == ParseStatus::Done);
  CHECK(o.host == "registry.npmjs.org");
  CHECK(o.port == 443);
  CHECK(o.consumed == kGreeting.size() + req.size());
  CHECK(o.greeting_reply == bytes({5, 0}));
}

TEST_CASE("socks5 IPv4 and IPv6 targets", "[worker][socks5]") {
  Outcome o = parse(kGreeting + bytes({5, 1, 0, 1, 198, 51, 100, 7, 0x1f, 0x90}));
  REQUIRE(o.status == ParseStatus::Done);
  CHECK(o.host == "198.51.100.7");
  CHECK(o.port == 8080);
  CHECK(o.consumed == 13);
  o = parse(kGreeting + bytes({5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0,    0,
                               0, 0, 0, 0, 0,    0,    0,    0,    1, 0x01, 0xbb}));
  REQUIRE(o.status == ParseStatus::Done);
  CHECK(o.host == "2001:db8::1");
  CHECK(o.port == 443);
  CHECK(o.consumed == 25);
  // IP literals sent as DOMAINNAME (curl --socks5-hostname does this).
  o = parse(kGreeting + domain_request("::1", 22));
  REQUIRE(o.status == ParseStatus::Done);
  CHECK(o.host == "::1");
  o = parse(kGreeting + domain_request("127.0.0.1", 22));
  REQUIRE(o.status == ParseStatus::Done);
  CHECK(o.host == "127.0.0.1");
}

TEST_CASE("socks5 greeting with several methods, split greeting", "[worker][socks5]") {
  Socks5Parser p;
  CHECK(p.feed(bytes({5})) == ParseStatus::NeedMore);
  CHECK_FALSE(p.greeting_complete());
  CHECK(p.feed(bytes({3, 2})) == ParseStatus::NeedMore);
  CHECK(p.feed(bytes({1})) == ParseStatus::NeedMore);
  CHECK_FALSE(p.greeting_complete());
  CHECK(p.feed(bytes({0})) == ParseStatus::NeedMore);
  CHECK(p.greeting_complete());
  CHECK(p.greeting_reply() == bytes({5, 0}));
  CHECK(p.consumed() == 5);
  CHECK(p.feed(domain_request("a.example", 80)) == ParseStatus::Done);
  CHECK(p.host() == "a.example");
  // Sticky.
  CHECK(p.feed("more") == ParseStatus::Done);
  CHECK(p.consumed() == 5 + 5 + 9 + 2);
}

TEST_CASE("socks5 greeting failures", "[worker][socks5]") {
  Outcome o = parse(bytes({5, 2, 1, 2}));  // GSSAPI and user/password only
  CHECK(o.status == ParseStatus::Bad);
  CHECK(o.greeting_complete);
  CHECK(o.greeting_reply == bytes({5, 0xff}));
  o = parse(bytes({4, 1, 0}));  // SOCKS4
  CHECK(o.status == ParseStatus::Bad);
  CHECK_FALSE(o.greeting_complete);
  o = parse(bytes({5, 0}));  // nmethods == 0
  CHECK(o.status == ParseStatus::Bad);
  CHECK_FALSE(o.greeting_complete);
  CHECK(bad_code(bytes({'G', 'E', 'T'})) == 0x01);
}

TEST_CASE("socks5 unsupported commands and address types", "[worker][socks5]") {
  CHECK(bad_code(kGreeting + domain_request("a.example", 80, 2)) == 0x07);  // BIND
  CHECK(bad_code(kGreeting + domain_request("a.example", 80, 3)) == 0x07);  // UDP ASSOCIATE
  CHECK(bad_code(kGreeting + domain_request("a.example", 80, 9)) == 0x07);
  CHECK(bad_code(kGreeting + bytes({5, 1, 0, 2, 1, 2, 3, 4, 0, 80})) == 0x08);
  CHECK(bad_code(kGreeting + bytes({5, 1, 0, 0})) == 0x08);
  // Rejected as soon as the offending byte arrives.
  Socks5Parser p;
  CHECK(p.feed(kGreeting + bytes({5, 2})) == ParseStatus::Bad);
  CHECK(p.error_reply_code() == 0x07);
  CHECK(p.greeting_reply() == bytes({5, 0}));
}

TEST_CASE("socks5 malformed requests are general failure", "[worker][socks5]") {
  CHECK(bad_code(kGreeting + bytes({4, 1, 0, 1, 1, 2, 3, 4, 0, 80})) == 0x01);  // version
  CHECK(bad_code(kGreeting + bytes({5, 1, 1, 1, 1, 2, 3, 4, 0, 80})) == 0x01);  // reserved
  CHECK(bad_code(kGreeting + bytes({5, 1, 0, 1, 1, 2, 3, 4, 0, 0})) == 0x01);   // port 0
  CHECK(bad_code(kGreeting + bytes({5, 1, 0, 3, 0, 0, 80})) == 0x01);           // empty name
  CHECK(bad_code(kGreeting + domain_request("a.example", 0)) == 0x01);
  CHECK(bad_code(kGreeting + domain_request(std::string_view("a\0b.example", 11), 80)) == 0x01);
  CHECK(bad_code(kGreeting + domain_request("a b.example", 80)) == 0x01);
  CHECK(bad_code(kGreeting + domain_request("a.example/x", 80)) == 0x01);
  CHECK(bad_code(kGreeting + domain_request("u@a.example", 80)) == 0x01);
  CHECK(bad_code(kGreeting + domain_request("a.example:80", 80)) == 0x01);
  CHECK(bad_code(kGreeting + domain_request("127.1", 80)) == 0x01);
  CHECK(bad_code(kGreeting + domain_request(std::string(255, 'a'), 80)) == 0x01);
  CHECK(bad_code(kGreeting + domain_request(std::string(64, 'a') + ".example", 80)) == 0x01);
}

TEST_CASE("socks5 domain of 253 bytes is accepted", "[worker][socks5]") {
  std::string name;
  while (name.size() < 253)
    name +=
        (name.empty() ? "" : ".") + std::string(std::min<std::size_t>(63, 252 - name.size()), 'a');
  REQUIRE(name.size() == 253);
  const Outcome o = parse(kGreeting + domain_request(name, 443));
  REQUIRE(o.status == ParseStatus::Done);
  CHECK(o.host == name);
}

TEST_CASE("socks5 incomplete input needs more", "[worker][socks5]") {
  const std::string full = kGreeting + domain_request("a.example", 80);
  for (std::size_t n = 0; n < full.size(); ++n) {
    Socks5Parser p;
    CHECK(p.feed(full.substr(0, n)) == ParseStatus::NeedMore);
    CHECK(p.consumed() == n);
  }
}

TEST_CASE("socks5_reply format", "[worker][socks5]") {
  CHECK(fence::proxy_worker::socks5_reply(0x02) == bytes({5, 2, 0, 1, 0, 0, 0, 0, 0, 0}));
  CHECK(fence::proxy_worker::socks5_reply(0x00).size() == 10);
}
