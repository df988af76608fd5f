// The claimed-name reader (proxy-worker/claimed_name.hpp): the server_name of a TLS ClientHello
// or the Host header of an HTTP/1.x request, read strictly from the first bytes of a connection,
// with NeedMore until they are complete and None for anything malformed or ambiguous.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy-worker/claimed_name.hpp"

using namespace fence::proxy_worker;
using namespace std::string_literals;
using namespace std::string_view_literals;

namespace {

using Bytes = std::vector<std::uint8_t>;

void put8(Bytes& b, std::size_t v) {
  b.push_back(static_cast<std::uint8_t>(v));
}
void put16(Bytes& b, std::size_t v) {
  put8(b, v >> 8);
  put8(b, v);
}
void put24(Bytes& b, std::size_t v) {
  put8(b, v >> 16);
  put16(b, v);
}
void append(Bytes& b, const Bytes& more) {
  b.insert(b.end(), more.begin(), more.end());
}
Bytes text_bytes(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

// The data of a server_name extension: a list of (type, name) entries.
Bytes server_name_data(const std::vector<std::pair<std::uint8_t, std::string>>& entries) {
  Bytes list;
  for (const auto& [type, name] : entries) {
    put8(list, type);
    put16(list, name.size());
    append(list, text_bytes(name));
  }
  Bytes data;
  put16(data, list.size());
  append(data, list);
  return data;
}

Bytes server_name_data(const std::string& name) {
  return server_name_data({{0, name}});
}

struct Extension {
  std::uint16_t type;
  Bytes data;
};

// The fields of a ClientHello body (TLS 1.3 layout, as a TLS 1.2 client sends it too).
struct Hello {
  Bytes session_id = Bytes(32, 0x5a);
  Bytes cipher_suites = {0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f};
  Bytes compression_methods = {0};
  bool has_extensions = true;
  std::vector<Extension> extensions = {
      {0x000a, {0x00, 0x02, 0x00, 0x1d}},  // supported_groups: x25519
      {0x0000, server_name_data("example.test")},
      {0x002b, {0x02, 0x03, 0x04}},  // supported_versions: TLS 1.3
  };
};

Bytes hello_body(const Hello& h) {
  Bytes b = {0x03, 0x03};
  b.insert(b.end(), 32, 0x42);  // random
  put8(b, h.session_id.size());
  append(b, h.session_id);
  put16(b, h.cipher_suites.size());
  append(b, h.cipher_suites);
  put8(b, h.compression_methods.size());
  append(b, h.compression_methods);
  if (h.has_extensions) {
    Bytes all;
    for (const Extension& e : h.extensions) {
      put16(all, e.type);
      put16(all, e.data.size());
      append(all, e.data);
    }
    put16(b, all.size());
    append(b, all);
  }
  return b;
}

// The handshake message: type 1, a 24-bit length, the body.
Bytes handshake(const Bytes& body, std::uint8_t type = 1) {
  Bytes m;
  put8(m, type);
  put24(m, body.size());
  append(m, body);
  return m;
}

// `message` in handshake records, a new record at each of `cuts` (offsets into the message).
Bytes records(const Bytes& message, const std::vector<std::size_t>& cuts = {}) {
  Bytes out;
  std::size_t start = 0;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(message.size());
  for (const std::size_t end : ends) {
    out.insert(out.end(), {0x16, 0x03, 0x01});
    put16(out, end - start);
    out.insert(out.end(), message.begin() + static_cast<long>(start),
               message.begin() + static_cast<long>(end));
    start = end;
  }
  return out;
}

Bytes client_hello(const Hello& h = {}) {
  return records(handshake(hello_body(h)));
}

Hello hello_with_sni(const Bytes& data) {
  Hello h;
  h.extensions[1].data = data;
  return h;
}

Claim claim(const Bytes& bytes) {
  return find_claimed_name(bytes);
}
Claim claim(std::string_view text) {
  return find_claimed_name(text_bytes(text));
}

bool found(const Claim& c, std::string_view name) {
  return c.status == ClaimStatus::Found && c.name == name && c.why.empty();
}
bool none(const Claim& c, std::string_view why) {
  return c.status == ClaimStatus::None && c.name.empty() && c.why == why;
}
bool need_more(const Claim& c) {
  return c.status == ClaimStatus::NeedMore && c.name.empty() && c.why.empty();
}

// Every proper prefix is NeedMore, the whole input is `expected`.
void check_prefixes(const Bytes& bytes, std::string_view expected) {
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    const Claim c = find_claimed_name(std::span(bytes).first(n));
    INFO("prefix of " << n << " bytes: " << c.name << c.why);
    REQUIRE(need_more(c));
  }
  CHECK(found(claim(bytes), expected));
}

// Captured on loopback: the first bytes of `openssl s_client -connect 127.0.0.1:PORT
// -servername example.test` (OpenSSL 3.0.19) sent to a listener that only read them.
const Bytes kOpensslClientHello = {
    0x16, 0x03, 0x01, 0x01, 0x39, 0x01, 0x00, 0x01, 0x35, 0x03, 0x03, 0x6b, 0xba, 0x8d, 0x01, 0x11,
    0x00, 0xb6, 0x19, 0xb1, 0x25, 0x2a, 0x2a, 0x61, 0x00, 0xee, 0x7d, 0x89, 0xb7, 0xb1, 0x21, 0x1d,
    0xf2, 0xcf, 0x58, 0xb8, 0x00, 0xb6, 0x91, 0x50, 0xca, 0x49, 0x7c, 0x20, 0x8a, 0x7e, 0xe4, 0x08,
    0xb6, 0xee, 0x0c, 0xa1, 0xc9, 0xd3, 0x88, 0x2b, 0x08, 0x00, 0x31, 0xce, 0x90, 0xc6, 0x59, 0x44,
    0xb0, 0xef, 0x06, 0xd6, 0xae, 0xf3, 0x0b, 0xc4, 0x7d, 0x71, 0x00, 0x86, 0x00, 0x3e, 0x13, 0x02,
    0x13, 0x03, 0x13, 0x01, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
    0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27,
    0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d,
    0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0xae,
    0x00, 0x00, 0x00, 0x11, 0x00, 0x0f, 0x00, 0x00, 0x0c, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65,
    0x2e, 0x74, 0x65, 0x73, 0x74, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00,
    0x16, 0x00, 0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x01, 0x00, 0x01,
    0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x04, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00,
    0x17, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08,
    0x07, 0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04,
    0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06,
    0x02, 0x00, 0x2b, 0x00, 0x09, 0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d,
    0x00, 0x02, 0x01, 0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0x3f, 0xb4,
    0xfb, 0xae, 0x26, 0x9d, 0xb6, 0x60, 0x25, 0x33, 0x4a, 0xec, 0x91, 0x77, 0x03, 0x12, 0x44, 0x6d,
    0x1c, 0xb6, 0xda, 0xbc, 0xdb, 0xef, 0x34, 0x9e, 0xea, 0xb5, 0xeb, 0x0a, 0xf0, 0x3f,
};

}  // namespace

TEST_CASE("claim: the server_name of a ClientHello is found", "[worker][claim]") {
  CHECK(found(claim(client_hello()), "example.test"));
  CHECK(found(claim(client_hello(hello_with_sni(server_name_data("WWW.Example.TEST.")))),
              "www.example.test"));
  CHECK(found(claim(client_hello(hello_with_sni(server_name_data("_a-1.b_c.test")))),
              "_a-1.b_c.test"));
  Hello no_session_id;
  no_session_id.session_id.clear();
  CHECK(found(claim(client_hello(no_session_id)), "example.test"));
}

TEST_CASE("claim: a real ClientHello from openssl s_client", "[worker][claim]") {
  check_prefixes(kOpensslClientHello, "example.test");
}

TEST_CASE("claim: a ClientHello over several records, fed byte by byte", "[worker][claim]") {
  const Bytes message = handshake(hello_body({}));
  // Cut inside the handshake header and inside the body.
  for (const std::vector<std::size_t>& cuts :
       {std::vector<std::size_t>{2}, {60}, {1, 2, 3, 100}, {message.size() - 1}}) {
    check_prefixes(records(message, cuts), "example.test");
  }
  check_prefixes(client_hello(), "example.test");
}

TEST_CASE("claim: bytes after the ClientHello change nothing", "[worker][claim]") {
  Bytes bytes = client_hello();
  bytes.insert(bytes.end(), {0x17, 0x03, 0x03, 0xff, 0xff, 0x00});
  CHECK(found(claim(bytes), "example.test"));
  // The record may announce more than the ClientHello: the rest is not waited for.
  Bytes longer_record = client_hello();
  const std::size_t announced = (std::size_t{longer_record[3]} << 8 | longer_record[4]) + 300;
  longer_record[3] = static_cast<std::uint8_t>(announced >> 8);
  longer_record[4] = static_cast<std::uint8_t>(announced);
  CHECK(found(claim(longer_record), "example.test"));
}

TEST_CASE("claim: a ClientHello without one clear server_name is None", "[worker][claim]") {
  Hello no_sni;
  no_sni.extensions.erase(no_sni.extensions.begin() + 1);
  CHECK(none(claim(client_hello(no_sni)), "TLS ClientHello without server_name"));
  Hello no_extensions;
  no_extensions.has_extensions = false;
  CHECK(none(claim(client_hello(no_extensions)), "TLS ClientHello without server_name"));

  Hello two = {};
  two.extensions.push_back({0x0000, server_name_data("other.test")});
  CHECK(none(claim(client_hello(two)), "two server_name extensions"));
  Hello duplicate = {};
  duplicate.extensions.push_back({0x000a, {0x00, 0x02, 0x00, 0x17}});
  CHECK(none(claim(client_hello(duplicate)), "duplicate TLS extension"));

  CHECK(none(claim(client_hello(hello_with_sni(server_name_data({{0, "a.test"}, {0, "b.test"}})))),
             "more than one name in server_name"));
  CHECK(none(claim(client_hello(hello_with_sni(server_name_data({{1, "a.test"}})))),
             "server_name entry other than host_name"));
  CHECK(none(claim(client_hello(hello_with_sni(server_name_data("")))), "empty server_name"));
  CHECK(none(claim(client_hello(hello_with_sni({}))), "malformed server_name extension"));
  for (const std::string& bad :
       std::vector<std::string>{"a..test", ".test", "a.test..", "a b.test", "a\0b"s, "a/b.test",
                                "127.1", "0x7f.0.0.1", "a.01"}) {
    INFO(bad);
    CHECK(none(claim(client_hello(hello_with_sni(server_name_data(bad)))),
               "invalid host name in server_name"));
  }
  CHECK(none(claim(client_hello(hello_with_sni(server_name_data(std::string(64, 'a') + ".test")))),
             "invalid host name in server_name"));
  std::string long_name;
  for (int i = 0; i < 4; ++i) long_name += std::string(63, 'a') + ".";
  long_name.resize(254);  // 254 bytes, no trailing dot
  CHECK(none(claim(client_hello(hello_with_sni(server_name_data(long_name)))),
             "invalid host name in server_name"));
  long_name.resize(253);
  CHECK(found(claim(client_hello(hello_with_sni(server_name_data(long_name)))), long_name));
}

TEST_CASE("claim: an Encrypted Client Hello is None (its real name is hidden)", "[worker][claim]") {
  Hello ech = {};
  ech.extensions.push_back({0xfe0d, std::vector<std::uint8_t>{0, 1, 2, 3}});
  CHECK(none(claim(client_hello(ech)), "Encrypted Client Hello: the server name is hidden"));
  for (const std::uint16_t codepoint : {0xfe02, 0xffce}) {  // a draft's, encrypted SNI's
    Hello older = {};
    older.extensions.push_back({codepoint, std::vector<std::uint8_t>{0, 1}});
    CHECK(none(claim(client_hello(older)), "Encrypted Client Hello: the server name is hidden"));
  }
}

TEST_CASE("claim: an IP address in server_name is None (RFC 6066)", "[worker][claim]") {
  for (const char* address : {"192.0.2.1", "192.0.2.1.", "2001:db8::1", "::1", "::ffff:1.2.3.4"}) {
    INFO(address);
    CHECK(none(claim(client_hello(hello_with_sni(server_name_data(address)))),
               "IP address in server_name"));
  }
}

TEST_CASE("claim: ClientHello lengths that disagree are None", "[worker][claim]") {
  const Bytes good = handshake(hello_body({}));
  // Offsets in the handshake message: 4 header, 2 version, 32 random, then the session id.
  constexpr std::size_t kSessionIdLength = 4 + 2 + 32;
  auto with = [&](std::size_t at, std::uint8_t value) {
    Bytes m = good;
    m[at] = value;
    return claim(records(m));
  };
  CHECK(none(with(kSessionIdLength, 33), "malformed TLS ClientHello"));     // over 32
  CHECK(none(with(kSessionIdLength, 200), "malformed TLS ClientHello"));    // past the end
  const std::size_t suites_length = kSessionIdLength + 1 + 32 + 1;          // low byte
  CHECK(none(with(suites_length, 5), "malformed TLS ClientHello"));         // odd
  CHECK(none(with(suites_length, 0), "malformed TLS ClientHello"));         // none
  CHECK(none(with(suites_length - 1, 0xff), "malformed TLS ClientHello"));  // past the end
  const std::size_t compressions_length = suites_length + 1 + 6;
  CHECK(none(with(compressions_length, 0), "malformed TLS ClientHello"));
  const std::size_t extensions_length = compressions_length + 3;  // low byte
  CHECK(none(with(extensions_length, static_cast<std::uint8_t>(good[extensions_length] + 1)),
             "malformed TLS ClientHello"));
  CHECK(none(with(extensions_length, static_cast<std::uint8_t>(good[extensions_length] - 1)),
             "malformed TLS ClientHello"));
  // The first extension (supported_groups, 4 bytes) claims 5: the walk runs one byte off.
  const std::size_t first_extension_length = extensions_length + 1 + 2 + 1;
  CHECK(none(with(first_extension_length, 5), "malformed TLS ClientHello extensions"));
  CHECK(none(with(3, static_cast<std::uint8_t>(good[3] - 1)),
             "malformed TLS ClientHello"));  // handshake length one short: extensions overrun
  CHECK(none(with(0, 2), "TLS handshake other than ClientHello"));
  CHECK(none(with(4, 0x02), "malformed TLS ClientHello"));  // version major 2
  // The server_name list length disagrees with the extension's.
  Bytes sni = server_name_data("example.test");
  sni[1] = static_cast<std::uint8_t>(sni[1] + 1);
  CHECK(none(claim(client_hello(hello_with_sni(sni))), "malformed server_name extension"));
  sni[1] = static_cast<std::uint8_t>(sni[1] - 2);
  CHECK(none(claim(client_hello(hello_with_sni(sni))), "malformed server_name extension"));
}

TEST_CASE("claim: TLS records that cannot carry a ClientHello are None", "[worker][claim]") {
  CHECK(none(claim(Bytes{0x16, 0x02}), "unknown TLS record version"));
  CHECK(none(claim(Bytes{0x16, 0x03, 0x05}), "unknown TLS record version"));
  CHECK(none(claim(Bytes{0x16, 0x03, 0x01, 0x00, 0x00}), "TLS record length out of range"));
  CHECK(none(claim(Bytes{0x16, 0x03, 0x01, 0x41, 0x01}), "TLS record length out of range"));
  CHECK(need_more(claim(Bytes{0x16, 0x03, 0x01, 0x41, 0x00})));
  // The second record of a split ClientHello is an alert.
  const Bytes split = records(handshake(hello_body({})), {20});
  Bytes alert(split.begin(), split.begin() + 5 + 20);
  alert.insert(alert.end(), {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28});
  CHECK(none(claim(alert), "TLS record other than handshake"));
}

TEST_CASE("claim: a ClientHello that cannot fit is None", "[worker][claim]") {
  // Announced too long: refused as soon as the length is seen.
  const Bytes announced = {0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x00, 0x3f, 0xf8};
  CHECK(none(claim(announced), "TLS ClientHello longer than 16384 bytes"));
  Bytes largest = {0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x00, 0x3f, 0xf7};
  CHECK(need_more(claim(largest)));
  // Announced to fit, but spread over so many records that it does not arrive in time.
  Hello padded;
  padded.extensions.push_back({0x0015, Bytes(12000, 0)});  // padding
  const Bytes message = handshake(hello_body(padded));
  std::vector<std::size_t> cuts;
  for (std::size_t at = 4; at < message.size(); at += 4) cuts.push_back(at);
  const Bytes slow = records(message, cuts);
  REQUIRE(slow.size() > kMaxClaimBytes);
  CHECK(need_more(find_claimed_name(std::span(slow).first(kMaxClaimBytes - 1))));
  CHECK(none(find_claimed_name(std::span(slow).first(kMaxClaimBytes)),
             "no complete TLS ClientHello in the first 16384 bytes"));
  CHECK(none(claim(slow), "no complete TLS ClientHello in the first 16384 bytes"));
  // The same ClientHello in one record is found.
  CHECK(found(claim(records(message)), "example.test"));
}

TEST_CASE("claim: the Host header of an HTTP request is found", "[worker][claim]") {
  CHECK(found(claim("GET / HTTP/1.1\r\nHost: Example.COM:8080\r\nAccept: */*\r\n\r\n"),
              "example.com"));
  CHECK(found(claim("POST /x HTTP/1.0\r\nUser-Agent: t\r\nhOsT:\t a.test. \t\r\n\r\n"), "a.test"));
  CHECK(found(claim("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"), "::1"));
  CHECK(found(claim("GET / HTTP/1.1\r\nHost: [2001:DB8:0:0::1]\r\n\r\n"), "2001:db8::1"));
  CHECK(found(claim("GET / HTTP/1.1\r\nHost: 192.0.2.1:80\r\n\r\n"), "192.0.2.1"));
  CHECK(found(claim("OPTIONS * HTTP/1.1\r\nHost: a.test\r\n\r\n"), "a.test"));
  // What follows the head (a body, a pipelined request) is not read.
  CHECK(found(claim("GET / HTTP/1.1\r\nHost: a.test\r\n\r\nGET / HTTP/1.1\r\nHost: b.test\r\n\r\n"),
              "a.test"));
}

TEST_CASE("claim: an HTTP head is NeedMore until its blank line", "[worker][claim]") {
  check_prefixes(text_bytes("GET /index.html HTTP/1.1\r\nHost: www.example.test\r\n\r\n"),
                 "www.example.test");
  CHECK(need_more(claim(std::string_view(""))));
  CHECK(need_more(claim("G")));
  CHECK(need_more(claim("GET / HTTP/1.1\r\nHost: a.test\r\n")));
  const std::string endless = "GET / HTTP/1.1\r\nX: " + std::string(kMaxClaimBytes, 'x');
  CHECK(need_more(claim(std::string_view(endless).substr(0, kMaxClaimBytes - 1))));
  CHECK(none(claim(std::string_view(endless).substr(0, kMaxClaimBytes)),
             "no complete HTTP head in the first 16384 bytes"));
  CHECK(none(claim(endless), "no complete HTTP head in the first 16384 bytes"));
}

TEST_CASE("claim: an HTTP head without one clear Host is None", "[worker][claim]") {
  CHECK(none(claim("GET / HTTP/1.1\r\nHost: a.test\r\nhost: a.test\r\n\r\n"), "two Host headers"));
  CHECK(none(claim("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"), "HTTP request without a Host header"));
  CHECK(none(claim("GET / HTTP/1.1\r\nX-Host: a.test\r\n\r\n"),
             "HTTP request without a Host header"));
  CHECK(none(claim("GET / HTTP/1.1\r\nHost: a.test\r\n evil.test\r\n\r\n"),
             "obs-fold in the HTTP head"));
  CHECK(
      none(claim("GET / HTTP/1.1\r\nX: y\r\n\tHost: a.test\r\n\r\n"), "obs-fold in the HTTP head"));
  CHECK(none(claim("GET / HTTP/1.1\r\nHost : a.test\r\n\r\n"), "malformed HTTP header line"));
  CHECK(none(claim("GET / HTTP/1.1\r\nHost a.test\r\n\r\n"), "malformed HTTP header line"));
  CHECK(none(claim("GET / HTTP/1.1\nHost: a.test\n\n"), "LF without CR in the HTTP head"));
  CHECK(none(claim("GET / HTTP/1.1\r\nHost: a.test\rX"), "CR without LF"));
  CHECK(none(claim("GET / HTTP/1.1\r\nHost: a.test\0"sv), "NUL in the HTTP head"));
  for (const char* host :
       {"", "a.test:", "a.test:0", "a.test:65536", "a.test:123456", "a.test:8a", "[::1", "[::1]x",
        "[a.test]", "::1", "user@a.test", "a..test", "127.1", "[fe80::1%eth0]"}) {
    INFO(host);
    CHECK(none(claim("GET / HTTP/1.1\r\nHost: " + std::string(host) + "\r\n\r\n"),
               "invalid Host header"));
  }
  for (const char* line : {"GET /\r\n", "GET  / HTTP/1.1\r\n", "GET / HTTP/2.0\r\n",
                           "GET / HTTP/1.1 \r\n", "GET HTTP/1.1\r\n"}) {
    INFO(line);
    CHECK(none(claim(std::string(line) + "Host: a.test\r\n\r\n"), "malformed HTTP request line"));
  }
}

TEST_CASE("claim: a request target naming another host is None", "[worker][claim]") {
  CHECK(found(claim("GET http://A.test:80/x HTTP/1.1\r\nHost: a.test\r\n\r\n"), "a.test"));
  CHECK(found(claim("CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n"), "a.test"));
  CHECK(none(claim("GET http://evil.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n"),
             "request target and Host header name different hosts"));
  CHECK(none(claim("CONNECT evil.test:443 HTTP/1.1\r\nHost: a.test\r\n\r\n"),
             "request target and Host header name different hosts"));
  CHECK(none(claim("GET http://a.test@evil.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n"),
             "request target and Host header name different hosts"));
}

TEST_CASE("claim: neither TLS nor HTTP is None at the first byte", "[worker][claim]") {
  for (std::string_view start :
       {std::string_view("SSH-2.0-OpenSSH_9.2p1\r\n"), std::string_view("get / HTTP/1.1\r\n"),
        std::string_view("Get / HTTP/1.1\r\n"), std::string_view("\x00\x01\x02", 3),
        std::string_view("\x17\x03\x03"), std::string_view("\x80\x2e\x01"),
        std::string_view("ABCDEFGHIJKLMNOPQRSTU / HTTP/1.1\r\n"), std::string_view("GET\r\n")}) {
    INFO(start);
    CHECK(none(claim(start), "neither TLS nor HTTP"));
  }
  CHECK(none(claim(std::string_view("\x00", 1)), "neither TLS nor HTTP"));
  CHECK(none(claim("g"), "neither TLS nor HTTP"));
  CHECK(need_more(claim("ABCDEFGHIJKLMNOPQRST")));  // 20 letters: still a method
}
