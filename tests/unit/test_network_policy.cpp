// The pure network policy: rule parsing and the decision table.
#include <catch2/catch.hpp>

#include "supervisor/config/config.hpp"
#include "supervisor/policy/network_policy.hpp"

namespace fence::supervisor {
namespace {

NetworkPolicy policy(std::vector<std::string> allowed, std::vector<std::string> denied = {},
                     bool local = false) {
  NetworkPolicyBuild b = network_policy_from_strings(allowed, denied, local);
  for (const auto& e : b.errors) INFO(e.to_string());
  REQUIRE(b.ok());
  return b.policy;
}

IpAddress ip(const char* text) {
  auto a = parse_ip_literal(text);
  REQUIRE(a);
  return *a;
}

std::vector<IpAddress> ips(std::initializer_list<const char*> texts) {
  std::vector<IpAddress> out;
  for (const char* t : texts) out.push_back(ip(t));
  return out;
}

const std::vector<IpAddress> kNoOwn;

}  // namespace

TEST_CASE("rule parsing", "[net][policy]") {
  SECTION("forms") {
    auto r = parse_network_rule("Example.COM.");
    CHECK(r.kind == NetworkRule::Kind::Exact);
    CHECK(r.pattern == "example.com");
    CHECK_FALSE(r.port);
    r = parse_network_rule("*.example.com:8080");
    CHECK(r.kind == NetworkRule::Kind::Wildcard);
    CHECK(r.port == 8080);
    r = parse_network_rule("*");
    CHECK(r.kind == NetworkRule::Kind::Any);
    r = parse_network_rule("*:443");
    CHECK(r.kind == NetworkRule::Kind::Any);
    CHECK(r.port == 443);
    r = parse_network_rule("203.0.113.7");
    CHECK(r.kind == NetworkRule::Kind::Cidr);
    CHECK(r.prefix == 32);
    r = parse_network_rule("203.0.113.7:22");
    CHECK(r.port == 22);
    r = parse_network_rule("198.51.100.0/24");
    CHECK(r.prefix == 24);
    r = parse_network_rule("2001:db8::/32");
    CHECK(r.prefix == 32);
    CHECK(r.network.is_v6());
    r = parse_network_rule("[2001:db8::1]:443");
    CHECK(r.prefix == 128);
    CHECK(r.port == 443);
    r = parse_network_rule("::1");
    CHECK(r.prefix == 128);
    CHECK_FALSE(r.port);
    r = parse_network_rule("10.0.0.0/8:5432");
    CHECK(r.prefix == 8);
    CHECK(r.port == 5432);
    CHECK(parse_network_rule("0.0.0.0/0").prefix == 0);
  }
  SECTION("errors") {
    for (const char* bad : {"",
                            "example.com:0",
                            "example.com:65536",
                            "example.com:",
                            "example.com:08",
                            "example.com:https",
                            ":443",
                            "198.51.100.1/24",
                            "198.51.100.0/33",
                            "2001:db8::/129",
                            "198.51.100.0/",
                            "198.51.100.0/024",
                            "10.0.0.0/x",
                            "127.1",
                            "0x7f000001",
                            "2130706433",
                            "1.2.3.256",
                            "[example.com]:443",
                            "[::1",
                            "[::1]x",
                            "*.com.*",
                            "exa mple.com",
                            "http://example.com",
                            "example.com/path",
                            "**.example.com",
                            "*example.com"}) {
      INFO(bad);
      CHECK_THROWS_AS(parse_network_rule(bad), std::invalid_argument);
    }
  }
  SECTION("every bad entry is reported with its list and index") {
    const NetworkPolicyBuild b =
        network_policy_from_strings({"ok.example", "bad:0", "127.1"}, {"x..y"}, false);
    REQUIRE(b.errors.size() == 3);
    CHECK(b.errors[0].to_string().starts_with("allowedDomains[1] \"bad:0\": "));
    CHECK(b.errors[1].index == 2);
    CHECK(b.errors[2].in_denied);
  }
  SECTION("from a NetworkConfig") {
    NetworkConfig c;
    c.allowed_domains = {"example.com"};
    c.allow_local_binding = true;
    CHECK(network_policy_from(c).allow_local_outbound);
    c.allow_local_outbound = false;
    CHECK_FALSE(network_policy_from(c).allow_local_outbound);
    c.allowed_domains.push_back("bad:0");
    CHECK_THROWS_AS(network_policy_from(c), std::invalid_argument);
  }
}

TEST_CASE("name decisions: fence semantics", "[net][policy]") {
  const NetworkPolicy p =
      policy({"example.com", "*.github.com", "api.evil.example:443", "*.corp.example:8080"},
             {"evil.example", "*.evil.example", "gist.github.com"});
  struct Row {
    const char* host;
    std::uint16_t port;
    bool allowed;
    const char* rule;
  };
  const Row table[] = {
      {"example.com", 443, true, "example.com"},
      {"EXAMPLE.com", 443, true, "example.com"},
      {"example.com.", 80, true, "example.com"},
      {"www.example.com", 443, false, "default deny"},  // exact only
      {"github.com", 443, false, "default deny"},       // apex not matched by wildcard
      {"api.github.com", 443, true, "*.github.com"},
      {"a.b.c.github.com", 443, true, "*.github.com"},  // any depth
      {"API.GitHub.com.", 443, true, "*.github.com"},
      {"notgithub.com", 443, false, "default deny"},
      {"github.com.evil", 443, false, "default deny"},
      {"gist.github.com", 443, false, "gist.github.com"},  // deny beats allow
      {"api.evil.example", 443, false, "*.evil.example"},  // deny beats a more specific allow
      {"evil.example", 443, false, "evil.example"},
      {"x.corp.example", 8080, true, "*.corp.example:8080"},
      {"x.corp.example", 443, false, "default deny"},  // port-limited
      {"localhost", 80, false, "default deny"},
      {"1.2.3.256", 80, false, "default deny"},
      {"bad host", 80, false, "default deny"},
      {"", 80, false, "default deny"},
  };
  for (const Row& r : table) {
    INFO(r.host << ":" << r.port);
    const Decision d = evaluate_name(p, r.host, r.port);
    CHECK(d.allowed == r.allowed);
    CHECK(d.rule == r.rule);
    CHECK_FALSE(d.reason.empty());
  }
}

TEST_CASE("port-limited deny rules", "[net][policy]") {
  const NetworkPolicy p = policy({"*.example.com"}, {"smtp.example.com:25"});
  CHECK_FALSE(evaluate_name(p, "smtp.example.com", 25).allowed);
  CHECK(evaluate_name(p, "smtp.example.com", 587).allowed);
}

TEST_CASE("literal targets go through IP rules only", "[net][policy]") {
  const NetworkPolicy p = policy(
      {"203.0.113.7", "198.51.100.0/24:443", "2001:db8::/32", "example.com"}, {"198.51.100.66"});
  CHECK(evaluate_name(p, "203.0.113.7", 80).allowed);
  CHECK_FALSE(evaluate_name(p, "203.0.113.8", 80).allowed);
  CHECK(evaluate_name(p, "198.51.100.10", 443).rule == "198.51.100.0/24:443");
  CHECK_FALSE(evaluate_name(p, "198.51.100.10", 80).allowed);
  CHECK_FALSE(evaluate_name(p, "198.51.100.66", 443).allowed);  // deny beats allow
  CHECK(evaluate_name(p, "2001:db8::1", 22).allowed);
  CHECK(evaluate_name(p, "[2001:db8::1]", 22).allowed);
  CHECK_FALSE(evaluate_name(p, "2001:db9::1", 22).allowed);
  // A literal never matches a name rule, and odd forms are literals.
  CHECK(evaluate_name(p, "0xcb007107", 80).allowed);  // 203.0.113.7
  CHECK(evaluate_name(p, "3405803783", 80).allowed);  // 203.0.113.7
  const Decision d = evaluate_addresses(p, "203.0.113.7", 80, ips({"203.0.113.7"}), kNoOwn);
  CHECK(d.allowed);
  CHECK(d.chosen == ip("203.0.113.7"));
}

TEST_CASE("resolved answers: SSRF guard", "[net][policy]") {
  const NetworkPolicy p = policy({"example.com", "*.example.org"});
  auto eval = [&](const char* host, std::initializer_list<const char*> answer,
                  const std::vector<IpAddress>& own = kNoOwn) {
    return evaluate_addresses(p, host, 443, ips(answer), own);
  };

  Decision d = eval("example.com", {"198.51.100.10"});
  CHECK(d.allowed);
  CHECK(d.rule == "example.com");
  CHECK(d.chosen == ip("198.51.100.10"));
  d = eval("example.com", {"198.51.100.10", "2001:db8::10"});
  CHECK(d.allowed);
  CHECK(d.chosen == ip("198.51.100.10"));

  const std::pair<const char*, const char*> refused[] = {
      {"10.0.0.5", "resolves to a private address (10.0.0.5)"},
      {"172.16.0.1", "resolves to a private address (172.16.0.1)"},
      {"192.168.1.1", "resolves to a private address (192.168.1.1)"},
      {"100.64.0.1", "resolves to a CGNAT address (100.64.0.1)"},
      {"127.0.0.1", "resolves to a loopback address (127.0.0.1)"},
      {"127.1.2.3", "resolves to a loopback address (127.1.2.3)"},
      {"0.0.0.0", "resolves to an unspecified address (0.0.0.0)"},
      {"169.254.1.1", "resolves to a link-local address (169.254.1.1)"},
      {"169.254.169.254", "resolves to a cloud metadata address (169.254.169.254)"},
      {"100.100.100.200", "resolves to a cloud metadata address (100.100.100.200)"},
      {"168.63.129.16", "resolves to a cloud metadata address (168.63.129.16)"},
      {"fd00:ec2::254", "resolves to a cloud metadata address (fd00:ec2::254)"},
      {"224.0.0.1", "resolves to a multicast address (224.0.0.1)"},
      {"255.255.255.255", "resolves to a reserved/broadcast address (255.255.255.255)"},
      {"240.0.0.1", "resolves to a reserved/broadcast address (240.0.0.1)"},
      {"::1", "resolves to a loopback address (::1)"},
      {"::", "resolves to an unspecified address (::)"},
      {"fe80::1", "resolves to a link-local address (fe80::1)"},
      {"fc00::1", "resolves to a unique local (ULA) address (fc00::1)"},
      {"ff02::1", "resolves to a multicast address (ff02::1)"},
      {"::ffff:127.0.0.1", "resolves to a loopback address (::ffff:127.0.0.1)"},
      {"64:ff9b::a9fe:a9fe", "resolves to a cloud metadata address (64:ff9b::a9fe:a9fe)"},
      {"2002:0a00:0001::", "resolves to a private address (2002:a00:1::)"},
  };
  for (const auto& [addr, reason] : refused) {
    INFO(addr);
    d = eval("example.com", {addr});
    CHECK_FALSE(d.allowed);
    CHECK(d.deny_reason == fence::ipc::DenyReason::NonPublicAddress);
    CHECK(d.reason == reason);
    CHECK_FALSE(d.chosen.has_value());
  }

  SECTION("mixed answers are refused whatever the order") {
    d = eval("example.com", {"198.51.100.10", "10.0.0.5"});
    CHECK_FALSE(d.allowed);
    CHECK(d.reason == "resolves to a private address (10.0.0.5)");
    CHECK_FALSE(eval("example.com", {"127.0.0.1", "198.51.100.10"}).allowed);
    CHECK_FALSE(eval("x.example.org", {"2001:db8::1", "::1"}).allowed);
  }
  SECTION("the host's own addresses") {
    const std::vector<IpAddress> own = ips({"198.51.100.99", "192.168.7.7"});
    d = eval("example.com", {"198.51.100.99"}, own);
    CHECK_FALSE(d.allowed);
    CHECK(d.reason == "resolves to the host's own address (198.51.100.99)");
    CHECK(eval("example.com", {"198.51.100.98"}, own).allowed);
  }
  SECTION("a denied name stays denied, an unknown name stays unknown") {
    CHECK_FALSE(eval("example.net", {"198.51.100.10"}).allowed);
    CHECK(eval("example.net", {"198.51.100.10"}).rule == "default deny");
  }
  SECTION("empty answer") {
    CHECK_FALSE(evaluate_addresses(p, "example.com", 443, {}, kNoOwn).allowed);
  }
}

TEST_CASE("\"*\" allows public destinations only", "[net][policy]") {
  const NetworkPolicy p = policy({"*"}, {"blocked.example"});
  CHECK(evaluate_name(p, "anything.example", 443).allowed);
  CHECK_FALSE(evaluate_name(p, "blocked.example", 443).allowed);
  CHECK(evaluate_addresses(p, "anything.example", 443, ips({"198.51.100.10"}), kNoOwn).allowed);
  CHECK(evaluate_addresses(p, "198.51.100.10", 443, ips({"198.51.100.10"}), kNoOwn).allowed);
  for (const char* a :
       {"10.0.0.5", "127.0.0.1", "169.254.169.254", "100.100.100.200", "0.0.0.0", "::1",
        "fd00:ec2::254", "::ffff:10.0.0.1", "224.0.0.1", "255.255.255.255"}) {
    INFO(a);
    CHECK_FALSE(evaluate_addresses(p, "anything.example", 443, ips({a}), kNoOwn).allowed);
    CHECK_FALSE(evaluate_addresses(p, a, 443, ips({a}), kNoOwn).allowed);  // literal
  }
  CHECK_FALSE(
      evaluate_addresses(p, "anything.example", 443, ips({"198.51.100.10", "10.0.0.5"}), kNoOwn)
          .allowed);
  CHECK_FALSE(
      evaluate_addresses(p, "mine.example", 443, ips({"198.51.100.5"}), ips({"198.51.100.5"}))
          .allowed);
  // "*" in deniedDomains denies everything, literals too.
  const NetworkPolicy none = policy({"example.com", "198.51.100.10"}, {"*"});
  CHECK_FALSE(evaluate_name(none, "example.com", 443).allowed);
  CHECK_FALSE(evaluate_name(none, "198.51.100.10", 443).allowed);
}

TEST_CASE("explicit IP/CIDR opt-in for private and loopback ranges", "[net][policy]") {
  const NetworkPolicy p =
      policy({"db.internal", "10.0.0.0/8", "127.0.0.1:5432", "fd12::/16", "0.0.0.0/0:7"});
  // A name allowed by a name rule whose answer falls in an opted-in range.
  Decision d = evaluate_addresses(p, "db.internal", 443, ips({"10.1.2.3"}), {});
  CHECK(d.allowed);
  CHECK(d.rule == "10.0.0.0/8");
  // Literal private target.
  CHECK(evaluate_addresses(p, "10.9.9.9", 22, ips({"10.9.9.9"}), {}).allowed);
  // Loopback only on the allowed port.
  CHECK(evaluate_addresses(p, "127.0.0.1", 5432, ips({"127.0.0.1"}), {}).allowed);
  CHECK_FALSE(evaluate_addresses(p, "127.0.0.1", 5433, ips({"127.0.0.1"}), {}).allowed);
  CHECK(evaluate_addresses(p, "fd12::1", 80, ips({"fd12::1"}), {}).allowed);
  CHECK_FALSE(evaluate_addresses(p, "fd13::1", 80, ips({"fd13::1"}), {}).allowed);
  // Other private ranges stay closed.
  d = evaluate_addresses(p, "db.internal", 443, ips({"192.168.0.1"}), {});
  CHECK_FALSE(d.allowed);
  CHECK(d.deny_reason == fence::ipc::DenyReason::NonPublicAddress);
  // A name with no name rule: allowed only if every address is covered by an IP rule.
  d = evaluate_name(p, "other.internal", 443);
  CHECK(d.allowed);
  CHECK(d.needs_address_rule);
  CHECK(evaluate_addresses(p, "other.internal", 443, ips({"10.0.0.1"}), {}).allowed);
  CHECK_FALSE(evaluate_addresses(p, "other.internal", 443, ips({"198.51.100.1"}), {}).allowed);
  CHECK_FALSE(
      evaluate_addresses(p, "other.internal", 443, ips({"10.0.0.1", "198.51.100.1"}), {}).allowed);
  // "0.0.0.0/0" is not an opt-in for anything non-public; it covers public addresses only.
  CHECK(evaluate_addresses(p, "198.51.100.1", 7, ips({"198.51.100.1"}), {}).allowed);
  CHECK_FALSE(evaluate_addresses(p, "192.168.0.1", 7, ips({"192.168.0.1"}), {}).allowed);
  // Never opened, even by a rule written for them.
  const NetworkPolicy q = policy({"169.254.0.0/16", "169.254.169.254", "0.0.0.0/8", "224.0.0.0/4",
                                  "fd00:ec2::254", "::ffff:0:0/96"});
  for (const char* a : {"169.254.1.1", "169.254.169.254", "0.0.0.0", "224.0.0.1", "fd00:ec2::254",
                        "::ffff:169.254.169.254"}) {
    INFO(a);
    CHECK_FALSE(evaluate_addresses(q, a, 80, ips({a}), {}).allowed);
  }
  // Deny CIDR rules apply to resolved answers.
  const NetworkPolicy r = policy({"*"}, {"198.51.100.0/24"});
  d = evaluate_addresses(r, "example.com", 443, ips({"203.0.113.1", "198.51.100.1"}), {});
  CHECK_FALSE(d.allowed);
  CHECK(d.rule == "198.51.100.0/24");
  CHECK(d.deny_reason == fence::ipc::DenyReason::Policy);
}

TEST_CASE("allowLocalOutbound opens loopback only", "[net][policy]") {
  const NetworkPolicy off = policy({"example.com"}, {}, false);
  const NetworkPolicy on = policy({"example.com"}, {}, true);
  for (const char* host : {"localhost", "127.0.0.1", "::1", "[::1]", "127.1", "LOCALHOST."}) {
    INFO(host);
    CHECK_FALSE(evaluate_name(off, host, 8080).allowed);
    CHECK(evaluate_name(on, host, 8080).allowed);
  }
  CHECK(evaluate_addresses(on, "localhost", 8080, ips({"127.0.0.1", "::1"}), {}).allowed);
  CHECK(evaluate_addresses(on, "127.0.0.1", 8080, ips({"127.0.0.1"}), {}).rule ==
        "allowLocalOutbound");
  CHECK_FALSE(evaluate_addresses(off, "127.0.0.1", 8080, ips({"127.0.0.1"}), {}).allowed);
  // An allowed name that resolves to loopback: fine with the switch, refused without.
  CHECK(evaluate_addresses(on, "example.com", 443, ips({"127.0.0.1"}), {}).allowed);
  CHECK_FALSE(evaluate_addresses(off, "example.com", 443, ips({"127.0.0.1"}), {}).allowed);
  // It is not a switch for private, link-local, metadata or other names.
  CHECK_FALSE(evaluate_addresses(on, "example.com", 443, ips({"10.0.0.1"}), {}).allowed);
  CHECK_FALSE(evaluate_addresses(on, "169.254.169.254", 80, ips({"169.254.169.254"}), {}).allowed);
  CHECK_FALSE(evaluate_addresses(on, "0.0.0.0", 80, ips({"0.0.0.0"}), {}).allowed);
  CHECK_FALSE(evaluate_name(on, "other.example", 443).allowed);
  CHECK_FALSE(evaluate_addresses(on, "localhost", 80, ips({"127.0.0.1", "10.0.0.1"}), {}).allowed);
  // A deny rule still wins.
  const NetworkPolicy denied = policy({}, {"localhost", "127.0.0.0/8"}, true);
  CHECK_FALSE(evaluate_name(denied, "localhost", 80).allowed);
  CHECK_FALSE(evaluate_name(denied, "127.0.0.1", 80).allowed);
}

}  // namespace fence::supervisor

namespace fence::supervisor {
namespace {

TEST_CASE("fence's own listeners are refused by the policy", "[net][policy]") {
  NetworkPolicy p = policy({"*", "127.0.0.0/8", "::1"}, {}, true);
  p.own_listeners.loopback_ports = {3128};
  p.own_listeners.endpoints = {{IpAddress::v4(198, 51, 100, 1), 8000}};
  auto endpoints = [&](const char* host, std::uint16_t port, std::initializer_list<const char*> a) {
    const Decision answer = evaluate_addresses(p, host, port, ips(a), kNoOwn);
    return evaluate_endpoints(p, answer, port, ips(a));
  };
  // Any loopback spelling of a proxy port.
  for (const char* a : {"127.0.0.1", "127.0.0.2", "127.1.2.3", "::ffff:127.0.0.2"}) {
    const Decision d = endpoints(a, 3128, {a});
    CHECK_FALSE(d.allowed);
    CHECK(d.rule == "fence listener");
    CHECK(d.deny_reason == ipc::DenyReason::Policy);
  }
  CHECK(endpoints("127.0.0.1", 3129, {"127.0.0.1"}).allowed);
  // An exact endpoint, also through its v4-mapped form; other ports of that address are not.
  CHECK_FALSE(endpoints("example.com", 8000, {"198.51.100.1"}).allowed);
  CHECK_FALSE(endpoints("example.com", 8000, {"198.51.100.9", "::ffff:198.51.100.1"}).allowed);
  CHECK(endpoints("example.com", 8001, {"198.51.100.1"}).allowed);
  // A refusal stays a refusal.
  Decision denied;
  denied.rule = "default deny";
  CHECK(evaluate_endpoints(p, denied, 80, ips({"198.51.100.9"})).rule == "default deny");
  // Transparent forwards are checked too.
  p.local_outbound_ports = {3128, 5432};
  CHECK_FALSE(evaluate_local_forward(p, 3128).allowed);
  CHECK(evaluate_local_forward(p, 5432).allowed);
}

TEST_CASE("the name is decided once: evaluate_answer takes the name's decision", "[net][policy]") {
  const NetworkPolicy p = policy({"example.com", "198.51.100.0/24"});
  const Decision by_name = evaluate_name(p, "198.51.100.7", 443);
  REQUIRE(by_name.literal);
  CHECK(*by_name.literal == IpAddress::v4(198, 51, 100, 7));
  CHECK_FALSE(evaluate_name(p, "example.com", 443).literal);
  const Decision d = evaluate_answer(p, by_name, 443, {*by_name.literal}, kNoOwn);
  CHECK(d.allowed);
  CHECK(d.literal == by_name.literal);
  // A denied name is not reconsidered, whatever the answer.
  const NetworkPolicy names_only = policy({"example.com"});
  const Decision no = evaluate_name(names_only, "other.example", 443);
  REQUIRE_FALSE(no.allowed);
  CHECK_FALSE(evaluate_answer(names_only, no, 443, ips({"198.51.100.7"}), kNoOwn).allowed);
}

TEST_CASE("DNS lookups are decided from the name rules alone", "[network_policy][lookup]") {
  const NetworkPolicy p = policy({"api.example:443", "*.cdn.example", "10.0.0.0/8"},
                                 {"bad.cdn.example", "x.cdn.example:80"});
  // An allow rule for some port answers the question; a deny rule for one port does not.
  CHECK(evaluate_lookup(p, "api.example").allowed);
  CHECK(evaluate_lookup(p, "API.example.").allowed);
  CHECK(evaluate_lookup(p, "x.cdn.example").allowed);
  CHECK_FALSE(evaluate_lookup(p, "bad.cdn.example").allowed);
  // With an IP rule, an unknown name is left to the addresses it resolves to.
  CHECK(evaluate_lookup(p, "other.example").needs_address_rule);
  for (const char* never : {"", ".", "1.2.3.4", "0x7f.1", "a..b"})
    CHECK_FALSE(evaluate_lookup(p, never).allowed);
  const NetworkPolicy names_only = policy({"api.example"});
  CHECK_FALSE(evaluate_lookup(names_only, "other.example").allowed);
  CHECK(evaluate_lookup(names_only, "other.example").no_rule);
}

}  // namespace
}  // namespace fence::supervisor
