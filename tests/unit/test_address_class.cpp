// Address classes for the SSRF guard: every range at its edges, v4-in-v6 forms, odd literals.
#include <arpa/inet.h>

#include <catch2/catch.hpp>

#include "supervisor/network/upstream_connector.hpp"
#include "supervisor/policy/address_class.hpp"

namespace fence::supervisor {
namespace {

IpAddress ip(const char* text) {
  const auto a = parse_ip_literal(text);
  INFO(text);
  REQUIRE(a.has_value());
  return *a;
}

AddressClass cls(const char* text) {
  return classify(ip(text));
}

}  // namespace

TEST_CASE("IPv4 ranges at their edges", "[net][address]") {
  const std::pair<const char*, AddressClass> table[] = {
      {"0.0.0.0", AddressClass::Unspecified},
      {"0.255.255.255", AddressClass::Unspecified},
      {"1.0.0.0", AddressClass::Public},
      {"9.255.255.255", AddressClass::Public},
      {"10.0.0.0", AddressClass::Private},
      {"10.255.255.255", AddressClass::Private},
      {"11.0.0.0", AddressClass::Public},
      {"100.63.255.255", AddressClass::Public},
      {"100.64.0.0", AddressClass::Cgnat},
      {"100.127.255.255", AddressClass::Cgnat},
      {"100.128.0.0", AddressClass::Public},
      {"100.100.100.200", AddressClass::Metadata},  // Alibaba, inside CGNAT
      {"100.100.100.199", AddressClass::Cgnat},
      {"126.255.255.255", AddressClass::Public},
      {"127.0.0.0", AddressClass::Loopback},
      {"127.0.0.1", AddressClass::Loopback},
      {"127.255.255.255", AddressClass::Loopback},
      {"128.0.0.0", AddressClass::Public},
      {"168.63.129.16", AddressClass::Metadata},  // Azure, inside public space
      {"168.63.129.17", AddressClass::Public},
      {"169.253.255.255", AddressClass::Public},
      {"169.254.0.0", AddressClass::LinkLocal},
      {"169.254.169.254", AddressClass::Metadata},
      {"169.254.169.253", AddressClass::LinkLocal},
      {"169.254.255.255", AddressClass::LinkLocal},
      {"169.255.0.0", AddressClass::Public},
      {"172.15.255.255", AddressClass::Public},
      {"172.16.0.0", AddressClass::Private},
      {"172.31.255.255", AddressClass::Private},
      {"172.32.0.0", AddressClass::Public},
      {"192.0.2.1", AddressClass::Public},      // TEST-NET-1
      {"198.51.100.10", AddressClass::Public},  // TEST-NET-2
      {"203.0.113.7", AddressClass::Public},    // TEST-NET-3
      {"192.167.255.255", AddressClass::Public},
      {"192.168.0.0", AddressClass::Private},
      {"192.168.255.255", AddressClass::Private},
      {"192.169.0.0", AddressClass::Public},
      {"223.255.255.255", AddressClass::Public},
      {"224.0.0.0", AddressClass::Multicast},
      {"239.255.255.255", AddressClass::Multicast},
      {"240.0.0.0", AddressClass::Reserved},
      {"255.255.255.254", AddressClass::Reserved},
      {"255.255.255.255", AddressClass::Reserved},
      {"8.8.8.8", AddressClass::Public},
  };
  for (const auto& [text, expected] : table) {
    INFO(text);
    CHECK(cls(text) == expected);
  }
}

TEST_CASE("IPv6 ranges at their edges", "[net][address]") {
  const std::pair<const char*, AddressClass> table[] = {
      {"::", AddressClass::Unspecified},
      {"::1", AddressClass::Loopback},
      {"::2", AddressClass::Unspecified},  // ::/96 compatible form of 0.0.0.2 (0/8)
      {"fe80::", AddressClass::LinkLocal},
      {"fe80::1", AddressClass::LinkLocal},
      {"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", AddressClass::LinkLocal},
      {"fec0::1", AddressClass::Public},
      {"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", AddressClass::Public},
      {"fc00::", AddressClass::Ula},
      {"fd12:3456::1", AddressClass::Ula},
      {"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", AddressClass::Ula},
      {"fd00:ec2::254", AddressClass::Metadata},
      {"fd00:ec2::253", AddressClass::Ula},
      {"fe00::", AddressClass::Public},
      {"ff00::", AddressClass::Multicast},
      {"ff02::1", AddressClass::Multicast},
      {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", AddressClass::Multicast},
      {"2001:db8::1", AddressClass::Public},  // documentation
      {"2606:4700::1111", AddressClass::Public},
  };
  for (const auto& [text, expected] : table) {
    INFO(text);
    CHECK(cls(text) == expected);
  }
}

TEST_CASE("v6 forms embedding v4 are classified by the v4 address", "[net][address]") {
  const std::pair<const char*, AddressClass> table[] = {
      {"::ffff:127.0.0.1", AddressClass::Loopback},
      {"::ffff:7f00:1", AddressClass::Loopback},
      {"::ffff:169.254.169.254", AddressClass::Metadata},
      {"::ffff:10.1.2.3", AddressClass::Private},
      {"::ffff:0.0.0.0", AddressClass::Unspecified},
      {"::ffff:8.8.8.8", AddressClass::Public},
      {"::127.0.0.1", AddressClass::Loopback},  // compatible
      {"::10.0.0.1", AddressClass::Private},
      {"64:ff9b::127.0.0.1", AddressClass::Loopback},  // NAT64
      {"64:ff9b::a9fe:a9fe", AddressClass::Metadata},
      {"64:ff9b::8.8.8.8", AddressClass::Public},
      {"2002:7f00:1::", AddressClass::Loopback},  // 6to4
      {"2002:c0a8:0101::1", AddressClass::Private},
      {"2002:a9fe:a9fe::", AddressClass::Metadata},
      {"2002:0808:0808::1", AddressClass::Public},
      {"2002:f000:0001::", AddressClass::Reserved},
      {"::ffff:224.0.0.1", AddressClass::Multicast},
      {"::ffff:100.64.0.1", AddressClass::Cgnat},
  };
  for (const auto& [text, expected] : table) {
    INFO(text);
    CHECK(cls(text) == expected);
  }
  CHECK(ip("::ffff:1.2.3.4").embedded_v4() == IpAddress::v4(1, 2, 3, 4));
  CHECK(ip("2002:0102:0304::").embedded_v4() == IpAddress::v4(1, 2, 3, 4));
  CHECK_FALSE(ip("2001:db8::1").embedded_v4().has_value());
  CHECK_FALSE(ip("::1").embedded_v4().has_value());
  CHECK_FALSE(ip("1.2.3.4").embedded_v4().has_value());
}

TEST_CASE("odd IPv4 literals are recognized as what inet_aton reads", "[net][address]") {
  const std::pair<const char*, const char*> table[] = {
      {"127.1", "127.0.0.1"},
      {"127.0.1", "127.0.0.1"},
      {"0x7f000001", "127.0.0.1"},
      {"0X7F000001", "127.0.0.1"},
      {"017700000001", "127.0.0.1"},
      {"2130706433", "127.0.0.1"},
      {"0x7f.1", "127.0.0.1"},
      {"0177.0.0.01", "127.0.0.1"},
      {"0", "0.0.0.0"},
      {"0.0.0.0", "0.0.0.0"},
      {"00", "0.0.0.0"},
      {"169.254.43518", "169.254.169.254"},
      {"0xa9fea9fe", "169.254.169.254"},
      {"4294967295", "255.255.255.255"},
      {"1.2.3.4", "1.2.3.4"},
  };
  for (const auto& [text, canonical] : table) {
    INFO(text);
    const auto a = parse_ip_literal(text);
    REQUIRE(a.has_value());
    CHECK(a->is_v4());
    CHECK(a->to_string() == canonical);
    // Cross-check against the C library's own reading.
    in_addr ref{};
    REQUIRE(::inet_aton(text, &ref) == 1);
    CHECK(*a == IpAddress::from(ref));
  }
  CHECK(classify(*parse_ip_literal("127.1")) == AddressClass::Loopback);
  CHECK(classify(*parse_ip_literal("0x7f000001")) == AddressClass::Loopback);
  CHECK(classify(*parse_ip_literal("2130706433")) == AddressClass::Loopback);
}

TEST_CASE("strings that are not IPv4 literals", "[net][address]") {
  for (const char* text :
       {"",          ".",         "1.",        ".1",         "1..2",        "1.2.3.4.5",
        "256.0.0.1", "1.256.0.0", "1.2.65536", "1.16777216", "4294967296",  "0x",
        "0x.1",      "08",        "09.1",      "0x1g",       "1a",          "-1",
        "+1",        " 1.2.3.4",  "1.2.3.4 ",  "1.2.3.4\n",  "0x100000000", "example.com",
        "1.2.3.a",   "localhost"}) {
    INFO('"' << text << '"');
    CHECK_FALSE(parse_ip_literal(text).has_value());
    in_addr ref{};
    // Where inet_aton also refuses, both agree; glibc accepts trailing whitespace, we do not.
    if (std::string_view(text).find_first_of(" \n") == std::string_view::npos) {
      CHECK(::inet_aton(text, &ref) == 0);
    }
  }
}

TEST_CASE("IPv6 literals, with or without brackets", "[net][address]") {
  CHECK(parse_ip_literal("::1") == parse_ip_literal("[::1]"));
  CHECK(parse_ip_literal("[::ffff:127.0.0.1]")->to_string() == "::ffff:127.0.0.1");
  CHECK(classify(*parse_ip_literal("[::ffff:127.0.0.1]")) == AddressClass::Loopback);
  CHECK(parse_ip_literal("2001:DB8::1")->to_string() == "2001:db8::1");
  for (const char* text : {"[::1", "::1]", "[]", "[1.2.3.4]", "fe80::1%eth0", "[fe80::1%1]",
                           "1::2::3", ":::", "[::1]:443", "::g", "12345::"}) {
    INFO(text);
    CHECK_FALSE(parse_ip_literal(text).has_value());
  }
}

TEST_CASE("names that look numeric", "[net][address]") {
  for (const char* t : {"1.2.3.256", "1.2.3.4.5", "123", "example.123", "0x1f", "a.0xff", "1.2."}) {
    INFO(t);
    CHECK(looks_numeric(t));
  }
  for (const char* t : {"example.com", "1.example", "0x.com", "123.example.org", "a1", "0xg"}) {
    INFO(t);
    CHECK_FALSE(looks_numeric(t));
  }
}

TEST_CASE("host's own addresses", "[net][address]") {
  const std::vector<IpAddress> own = {IpAddress::v4(192, 168, 1, 5), IpAddress::v4(127, 0, 0, 1),
                                      *parse_ip_literal("2001:db8::5"),
                                      IpAddress::v4(198, 51, 100, 77)};
  CHECK(classify(IpAddress::v4(192, 168, 1, 5), own) == AddressClass::HostOwn);
  CHECK(classify(IpAddress::v4(198, 51, 100, 77), own) == AddressClass::HostOwn);
  CHECK(classify(*parse_ip_literal("::ffff:198.51.100.77"), own) == AddressClass::HostOwn);
  CHECK(classify(*parse_ip_literal("2001:db8::5"), own) == AddressClass::HostOwn);
  CHECK(classify(IpAddress::v4(192, 168, 1, 6), own) == AddressClass::Private);
  CHECK(classify(IpAddress::v4(127, 0, 0, 1), own) == AddressClass::Loopback);
  CHECK(classify(IpAddress::v4(198, 51, 100, 78), own) == AddressClass::Public);

  const std::vector<IpAddress> mine = host_addresses();
  // Every host has loopback; and each address it reports is HostOwn or Loopback.
  CHECK(std::find(mine.begin(), mine.end(), IpAddress::v4(127, 0, 0, 1)) != mine.end());
  for (const IpAddress& a : mine) {
    INFO(a.to_string());
    const AddressClass c = classify(a, mine);
    CHECK(c != AddressClass::Public);
  }
}

TEST_CASE("class names and conversions", "[net][address]") {
  CHECK(class_name(AddressClass::Private) == "private");
  CHECK(class_name(AddressClass::Metadata) == "cloud metadata");
  CHECK(class_name(AddressClass::HostOwn) == "host's own");
  const IpAddress v4 = IpAddress::v4(198, 51, 100, 10);
  sockaddr_storage ss;
  const socklen_t len = v4.to_sockaddr(8080, ss);
  CHECK(IpAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len) == v4);
  const IpAddress v6 = *parse_ip_literal("2001:db8::10");
  const socklen_t len6 = v6.to_sockaddr(443, ss);
  CHECK(len6 == sizeof(sockaddr_in6));
  CHECK(IpAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len6) == v6);
  CHECK_FALSE(IpAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), 8).has_value());
}

}  // namespace fence::supervisor
