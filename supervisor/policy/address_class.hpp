// Classification of IP addresses for the network policy's SSRF guard (SECURITY-RULES 2), and a
// strict parser for IP literals. Pure functions (the host's own addresses are gathered by
// network/upstream_connector.hpp host_addresses()).
//
// A v6 address that embeds a v4 address (::ffff:0:0/96 mapped, ::/96 compatible, 64:ff9b::/96
// NAT64, 2002::/16 6to4) is classified by the embedded v4 address, so [::ffff:127.0.0.1] is
// Loopback. Documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32)
// are Public: the test fixtures put upstream servers there.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fence::supervisor {

// An IPv4 or IPv6 address (no port, no zone), bytes in network order.
struct IpAddress {
  enum class Family : std::uint8_t { V4, V6 };
  Family family = Family::V4;
  std::array<std::uint8_t, 16> bytes{};  // V4 uses bytes[0..3], the rest is zero

  static IpAddress v4(std::uint32_t host_order);
  static IpAddress v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d);
  static IpAddress from(const in_addr& a);
  static IpAddress from(const in6_addr& a);
  // AF_INET / AF_INET6 sockaddr; nullopt for any other family or a short length.
  static std::optional<IpAddress> from_sockaddr(const sockaddr* sa, socklen_t len);

  bool is_v4() const { return family == Family::V4; }
  bool is_v6() const { return family == Family::V6; }
  std::uint32_t v4_host_order() const;  // only for V4
  in_addr to_in_addr() const;           // only for V4
  in6_addr to_in6_addr() const;         // only for V6
  // The v4 address a v6 address embeds (mapped, compatible, NAT64, 6to4); nullopt otherwise or
  // for a V4 address.
  std::optional<IpAddress> embedded_v4() const;
  // v4: dotted quad; v6: inet_ntop form without brackets.
  std::string to_string() const;
  // sockaddr_in / sockaddr_in6 with `port`; returns the length used.
  socklen_t to_sockaddr(std::uint16_t port, sockaddr_storage& out) const;

  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

// "198.51.100.10:8080" / "[2001:db8::1]:443".
std::string format_endpoint(const IpAddress& address, std::uint16_t port);

enum class AddressClass : std::uint8_t {
  Public,
  Loopback,     // 127.0.0.0/8, ::1
  Unspecified,  // 0.0.0.0/8, ::
  LinkLocal,    // 169.254.0.0/16, fe80::/10
  Metadata,     // cloud metadata endpoints (more specific than the range they sit in)
  Private,      // 10/8, 172.16/12, 192.168/16
  Cgnat,        // 100.64.0.0/10
  Ula,          // fc00::/7
  Multicast,    // 224.0.0.0/4, ff00::/8
  Reserved,     // 240.0.0.0/4 including 255.255.255.255 (broadcast)
  HostOwn,      // one of this host's interface addresses
};

// "public", "loopback", "unspecified", "link-local", "cloud metadata", "private", "CGNAT",
// "unique local (ULA)", "multicast", "reserved/broadcast", "host's own".
std::string_view class_name(AddressClass c);

// The class of `addr` by its range alone (never HostOwn).
AddressClass classify(const IpAddress& addr);
// HostOwn when `addr` (or the v4 address it embeds) is in `host_own`, else classify(addr).
// Loopback stays Loopback even though 127.0.0.1 is an interface address of every host.
AddressClass classify(const IpAddress& addr, const std::vector<IpAddress>& host_own);

// A literal IP address, or nullopt when `text` is not one (then it is a name). Accepts:
//   IPv4 in every form inet_aton accepts: 1 to 4 parts separated by '.', each decimal,
//     0x-hex or 0-octal, the last part filling the remaining bytes ("127.1", "0x7f000001",
//     "017700000001", "2130706433", "0x7f.1");
//   IPv6 as inet_pton accepts it, optionally in brackets ("[::1]"); no zone ("%eth0" -> nullopt).
// SECURITY: every string that a resolver would treat as a numeric address must be recognized
// here, or "0x7f000001" would be checked as a name and then reach 127.0.0.1.
std::optional<IpAddress> parse_ip_literal(std::string_view text);

// True when `text` looks numeric enough that getaddrinfo might treat it as an address even
// though parse_ip_literal rejected it (e.g. "1.2.3.4.5", "0x", "1.2.3.256"): digits, dots and
// hex forms only. Such names are refused by the policy rather than sent to DNS.
bool looks_numeric(std::string_view text);

}  // namespace fence::supervisor
