#include "supervisor/policy/address_class.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace fence::supervisor {

namespace {

bool in_v4(std::uint32_t a, std::uint32_t net, int prefix) {
  const std::uint32_t mask = prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix);
  return (a & mask) == (net & mask);
}

constexpr std::uint32_t ip4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  return (std::uint32_t{a} << 24) | (std::uint32_t{b} << 16) | (std::uint32_t{c} << 8) | d;
}

AddressClass classify_v4(std::uint32_t a) {
  // Metadata endpoints first: each sits inside a wider range.
  if (a == ip4(169, 254, 169, 254) || a == ip4(100, 100, 100, 200) || a == ip4(168, 63, 129, 16)) {
    return AddressClass::Metadata;
  }
  if (in_v4(a, ip4(0, 0, 0, 0), 8)) return AddressClass::Unspecified;
  if (in_v4(a, ip4(127, 0, 0, 0), 8)) return AddressClass::Loopback;
  if (in_v4(a, ip4(169, 254, 0, 0), 16)) return AddressClass::LinkLocal;
  if (in_v4(a, ip4(10, 0, 0, 0), 8) || in_v4(a, ip4(172, 16, 0, 0), 12) ||
      in_v4(a, ip4(192, 168, 0, 0), 16)) {
    return AddressClass::Private;
  }
  if (in_v4(a, ip4(100, 64, 0, 0), 10)) return AddressClass::Cgnat;
  if (in_v4(a, ip4(224, 0, 0, 0), 4)) return AddressClass::Multicast;
  if (in_v4(a, ip4(240, 0, 0, 0), 4)) return AddressClass::Reserved;
  return AddressClass::Public;
}

bool prefix_is(const std::array<std::uint8_t, 16>& b, std::initializer_list<std::uint8_t> p) {
  return std::equal(p.begin(), p.end(), b.begin());
}

int digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return 99;
}

// inet_aton's grammar (glibc): 1..4 parts, each a C integer literal (0x hex, 0 octal, decimal)
// starting with a digit; every part but the last fits a byte, the last fills what remains.
std::optional<std::uint32_t> parse_v4_aton(std::string_view s) {
  std::uint64_t parts[4];
  std::size_t count = 0;
  std::size_t i = 0;
  while (true) {
    if (i >= s.size() || digit_value(s[i]) > 9) return std::nullopt;
    unsigned base = 10;
    if (s[i] == '0') {
      base = 8;
      if (i + 1 < s.size() && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
        // "0x" needs at least one hex digit (strtoul would stop at the 'x').
        if (i + 2 >= s.size() || digit_value(s[i + 2]) >= 16) return std::nullopt;
        base = 16;
        i += 2;
      }
    }
    std::uint64_t v = 0;
    std::size_t start = i;
    while (i < s.size() && s[i] != '.') {
      const int d = digit_value(s[i]);
      if (d >= static_cast<int>(base)) return std::nullopt;
      v = v * base + static_cast<unsigned>(d);
      if (v > 0xffffffffULL) return std::nullopt;
      ++i;
    }
    if (i == start && base != 8) return std::nullopt;  // "0" alone is octal zero, fine
    if (count == 4) return std::nullopt;
    parts[count++] = v;
    if (i == s.size()) break;
    ++i;  // '.'; a part must follow
  }
  static constexpr std::uint64_t kLastMax[4] = {0xffffffffULL, 0xffffffULL, 0xffffULL, 0xffULL};
  std::uint32_t out = 0;
  for (std::size_t k = 0; k + 1 < count; ++k) {
    if (parts[k] > 0xff) return std::nullopt;
    out |= static_cast<std::uint32_t>(parts[k]) << (24 - 8 * k);
  }
  if (parts[count - 1] > kLastMax[count - 1]) return std::nullopt;
  return out | static_cast<std::uint32_t>(parts[count - 1]);
}

}  // namespace

IpAddress IpAddress::v4(std::uint32_t host_order) {
  IpAddress a;
  a.family = Family::V4;
  a.bytes[0] = static_cast<std::uint8_t>(host_order >> 24);
  a.bytes[1] = static_cast<std::uint8_t>(host_order >> 16);
  a.bytes[2] = static_cast<std::uint8_t>(host_order >> 8);
  a.bytes[3] = static_cast<std::uint8_t>(host_order);
  return a;
}

IpAddress IpAddress::v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  return v4(ip4(a, b, c, d));
}

IpAddress IpAddress::from(const in_addr& a) {
  return v4(ntohl(a.s_addr));
}

IpAddress IpAddress::from(const in6_addr& a) {
  IpAddress r;
  r.family = Family::V6;
  std::memcpy(r.bytes.data(), a.s6_addr, 16);
  return r;
}

std::optional<IpAddress> IpAddress::from_sockaddr(const sockaddr* sa, socklen_t len) {
  if (sa == nullptr) return std::nullopt;
  if (sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    sockaddr_in in;
    std::memcpy(&in, sa, sizeof in);
    return from(in.sin_addr);
  }
  if (sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    sockaddr_in6 in6;
    std::memcpy(&in6, sa, sizeof in6);
    return from(in6.sin6_addr);
  }
  return std::nullopt;
}

std::uint32_t IpAddress::v4_host_order() const {
  return ip4(bytes[0], bytes[1], bytes[2], bytes[3]);
}

in_addr IpAddress::to_in_addr() const {
  in_addr a{};
  a.s_addr = htonl(v4_host_order());
  return a;
}

in6_addr IpAddress::to_in6_addr() const {
  in6_addr a{};
  std::memcpy(a.s6_addr, bytes.data(), 16);
  return a;
}

std::optional<IpAddress> IpAddress::embedded_v4() const {
  if (!is_v6()) return std::nullopt;
  const auto& b = bytes;
  auto tail = [&](std::size_t at) { return v4(b[at], b[at + 1], b[at + 2], b[at + 3]); };
  // ::ffff:a.b.c.d (mapped)
  if (prefix_is(b, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff})) return tail(12);
  // ::a.b.c.d (deprecated compatible); :: and ::1 themselves are not v4 addresses.
  if (prefix_is(b, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})) {
    if (b[12] == 0 && b[13] == 0 && b[14] == 0 && b[15] <= 1) return std::nullopt;
    return tail(12);
  }
  // 64:ff9b::a.b.c.d (NAT64 well-known prefix)
  if (prefix_is(b, {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0})) return tail(12);
  // 2002:AABB:CCDD::/48 (6to4)
  if (b[0] == 0x20 && b[1] == 0x02) return tail(2);
  return std::nullopt;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (is_v4()) {
    const in_addr a = to_in_addr();
    ::inet_ntop(AF_INET, &a, buf, sizeof buf);
  } else {
    const in6_addr a = to_in6_addr();
    ::inet_ntop(AF_INET6, &a, buf, sizeof buf);
  }
  return buf;
}

socklen_t IpAddress::to_sockaddr(std::uint16_t port, sockaddr_storage& out) const {
  std::memset(&out, 0, sizeof out);
  if (is_v4()) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(port);
    in.sin_addr = to_in_addr();
    std::memcpy(&out, &in, sizeof in);
    return sizeof in;
  }
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(port);
  in6.sin6_addr = to_in6_addr();
  std::memcpy(&out, &in6, sizeof in6);
  return sizeof in6;
}

std::string_view class_name(AddressClass c) {
  switch (c) {
    case AddressClass::Public:
      return "public";
    case AddressClass::Loopback:
      return "loopback";
    case AddressClass::Unspecified:
      return "unspecified";
    case AddressClass::LinkLocal:
      return "link-local";
    case AddressClass::Metadata:
      return "cloud metadata";
    case AddressClass::Private:
      return "private";
    case AddressClass::Cgnat:
      return "CGNAT";
    case AddressClass::Ula:
      return "unique local (ULA)";
    case AddressClass::Multicast:
      return "multicast";
    case AddressClass::Reserved:
      return "reserved/broadcast";
    case AddressClass::HostOwn:
      return "host's own";
  }
  return "unknown";
}

AddressClass classify(const IpAddress& addr) {
  if (addr.is_v4()) return classify_v4(addr.v4_host_order());
  const auto& b = addr.bytes;
  // fd00:ec2::254 (AWS IMDS over IPv6)
  static constexpr std::array<std::uint8_t, 16> kAwsV6 = {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0,    0,
                                                          0,    0,    0,    0,    0, 0, 0x02, 0x54};
  if (b == kAwsV6) return AddressClass::Metadata;
  static constexpr std::array<std::uint8_t, 16> kZero{};
  if (b == kZero) return AddressClass::Unspecified;
  std::array<std::uint8_t, 16> one{};
  one[15] = 1;
  if (b == one) return AddressClass::Loopback;
  if (auto v4 = addr.embedded_v4()) return classify_v4(v4->v4_host_order());
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return AddressClass::LinkLocal;  // fe80::/10
  if ((b[0] & 0xfe) == 0xfc) return AddressClass::Ula;                        // fc00::/7
  if (b[0] == 0xff) return AddressClass::Multicast;                           // ff00::/8
  return AddressClass::Public;
}

AddressClass classify(const IpAddress& addr, const std::vector<IpAddress>& host_own) {
  const AddressClass c = classify(addr);
  if (c == AddressClass::Loopback) return c;
  const std::optional<IpAddress> v4 = addr.embedded_v4();
  for (const IpAddress& own : host_own) {
    if (own == addr || (v4 && own == *v4)) {
      // The more dangerous of the two; Metadata/Unspecified/... are refused either way.
      return c == AddressClass::Public || c == AddressClass::Private || c == AddressClass::Cgnat ||
                     c == AddressClass::Ula
                 ? AddressClass::HostOwn
                 : c;
    }
  }
  return c;
}

std::optional<IpAddress> parse_ip_literal(std::string_view text) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  if (text.front() == '[') {
    if (text.size() < 3 || text.back() != ']') return std::nullopt;
    text = text.substr(1, text.size() - 2);
    if (text.find(':') == std::string_view::npos) return std::nullopt;  // "[1.2.3.4]"
  }
  if (text.find(':') != std::string_view::npos) {
    for (char c : text) {
      if (digit_value(c) >= 16 && c != ':' && c != '.') return std::nullopt;  // zone, junk
    }
    in6_addr a{};
    if (::inet_pton(AF_INET6, std::string(text).c_str(), &a) != 1) return std::nullopt;
    return IpAddress::from(a);
  }
  if (auto v = parse_v4_aton(text)) return IpAddress::v4(*v);
  return std::nullopt;
}

bool looks_numeric(std::string_view text) {
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  if (text.empty()) return false;
  const std::size_t dot = text.rfind('.');
  std::string_view last = dot == std::string_view::npos ? text : text.substr(dot + 1);
  if (last.empty()) return true;
  if (last.size() > 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X')) {
    last.remove_prefix(2);
    return std::all_of(last.begin(), last.end(), [](char c) { return digit_value(c) < 16; });
  }
  return std::all_of(last.begin(), last.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string format_endpoint(const IpAddress& address, std::uint16_t port) {
  return address.is_v4() ? address.to_string() + ":" + std::to_string(port)
                         : "[" + address.to_string() + "]:" + std::to_string(port);
}

}  // namespace fence::supervisor
