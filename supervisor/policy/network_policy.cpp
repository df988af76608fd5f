#include "supervisor/policy/network_policy.hpp"
#include "supervisor/policy/safe_text.hpp"

#include <arpa/inet.h>

#include <algorithm>

#include "ipc/grammar.hpp"
#include "supervisor/policy/domain.hpp"

namespace fence::supervisor {

namespace {

std::string lower_no_trailing_dot(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  if (out.size() > 1 && out.back() == '.') out.pop_back();
  return out;
}

std::uint16_t parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5 ||
      !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    throw std::invalid_argument("port must be a decimal number 1..65535");
  }
  if (s.size() > 1 && s[0] == '0') throw std::invalid_argument("port has a leading zero");
  unsigned v = 0;
  for (char c : s) v = v * 10 + static_cast<unsigned>(c - '0');
  if (v == 0 || v > 65535) throw std::invalid_argument("port must be 1..65535");
  return static_cast<std::uint16_t>(v);
}

// Canonical IP only: dotted quad (inet_pton AF_INET) or inet_pton AF_INET6.
std::optional<IpAddress> parse_canonical_ip(std::string_view s) {
  const std::string str(s);
  in_addr a4{};
  if (::inet_pton(AF_INET, str.c_str(), &a4) == 1) return IpAddress::from(a4);
  if (s.find(':') != std::string_view::npos) {
    in6_addr a6{};
    if (::inet_pton(AF_INET6, str.c_str(), &a6) == 1) return IpAddress::from(a6);
  }
  return std::nullopt;
}

bool in_prefix(const IpAddress& a, const IpAddress& net, int prefix) {
  if (a.family != net.family) return false;
  int bits = prefix;
  for (std::size_t i = 0; bits > 0; ++i, bits -= 8) {
    const std::uint8_t mask = bits >= 8 ? 0xff : static_cast<std::uint8_t>(0xff << (8 - bits));
    if ((a.bytes[i] & mask) != (net.bytes[i] & mask)) return false;
  }
  return true;
}

bool host_bits_zero(const IpAddress& net, int prefix) {
  const int total = net.is_v4() ? 32 : 128;
  for (int bit = prefix; bit < total; ++bit) {
    if (net.bytes[bit / 8] & (0x80 >> (bit % 8))) return false;
  }
  return true;
}

std::string_view article(AddressClass c) {
  switch (c) {
    case AddressClass::Unspecified:
      return "an ";
    case AddressClass::HostOwn:
      return "the ";
    default:
      return "a ";
  }
}

std::string class_phrase(AddressClass c, const IpAddress& a) {
  return std::string(article(c)) + std::string(class_name(c)) + " address (" + a.to_string() + ")";
}

bool is_local_name(std::string_view normalized_host) {
  return normalized_host == "localhost";
}

// Classes that an IP/CIDR allow rule written for the range can open (SECURITY-RULES 2).
bool opt_in_class(AddressClass c) {
  return c == AddressClass::Private || c == AddressClass::Cgnat || c == AddressClass::Ula ||
         c == AddressClass::Loopback;
}

const NetworkRule* first_address_rule(const std::vector<NetworkRule>& rules, const IpAddress& a,
                                      std::uint16_t port) {
  for (const NetworkRule& r : rules) {
    if (r.kind == NetworkRule::Kind::Cidr && r.matches_port(port) && r.matches_address(a)) {
      return &r;
    }
  }
  return nullptr;
}

Decision deny(std::string rule, std::string reason, bool non_public = false) {
  Decision d;
  d.allowed = false;
  d.rule = std::move(rule);
  d.reason = std::move(reason);
  d.deny_reason = non_public ? ipc::DenyReason::NonPublicAddress : ipc::DenyReason::Policy;
  return d;
}

// SECURITY-RULES 3: fence's own listeners are never a target.
Decision deny_own_listener(const IpAddress& address, std::uint16_t port) {
  return deny("fence listener", "connections to fence's own listeners are denied (" +
                                    format_endpoint(address, port) + ")");
}

// An IP literal target goes through IP rules only, never through name rules.
Decision evaluate_literal(const NetworkPolicy& policy, const IpAddress& literal,
                          std::uint16_t port) {
  for (const NetworkRule& r : policy.denied) {
    if ((r.kind == NetworkRule::Kind::Any || r.kind == NetworkRule::Kind::Cidr) &&
        r.matches_port(port) && r.matches_address(literal)) {
      return deny(r.text, "denied by rule " + r.text);
    }
  }
  for (const NetworkRule& r : policy.allowed) {
    if ((r.kind == NetworkRule::Kind::Any || r.kind == NetworkRule::Kind::Cidr) &&
        r.matches_port(port) && r.matches_address(literal)) {
      return Decision{true, r.text, "allowed by rule " + r.text};
    }
  }
  if (policy.allow_local_outbound && classify(literal) == AddressClass::Loopback) {
    return Decision{true, "allowLocalOutbound", "loopback allowed by allowLocalOutbound"};
  }
  Decision d = deny("default deny", "no rule allows " + literal.to_string());
  d.no_rule = true;
  return d;
}

}  // namespace

bool NetworkRule::matches_name(std::string_view normalized_host) const {
  switch (kind) {
    case Kind::Any:
      return true;
    case Kind::Exact:
    case Kind::Wildcard:
      return domain_matches(pattern, normalized_host);
    case Kind::Cidr:
      return false;
  }
  return false;
}

bool NetworkRule::matches_address(const IpAddress& a) const {
  if (kind == Kind::Any) return true;
  if (kind != Kind::Cidr) return false;
  if (in_prefix(a, network, prefix)) return true;
  if (network.is_v4()) {
    if (auto v4 = a.embedded_v4()) return in_prefix(*v4, network, prefix);
  }
  return false;
}

NetworkRule parse_network_rule(std::string_view text) {
  if (text.empty()) throw std::invalid_argument("empty rule");
  if (text.find('\0') != std::string_view::npos) throw std::invalid_argument("NUL byte in rule");
  NetworkRule rule;
  rule.text = std::string(text);
  std::string_view body = text;

  // Port: "[v6]:port", or exactly one ':' anywhere else ("name:port", "a.b.c.d:port",
  // "net/len:port"). A bare IPv6 literal has several ':' and never a port.
  if (body.front() == '[') {
    const std::size_t close = body.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("unbalanced '['");
    std::string_view rest = body.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') throw std::invalid_argument("junk after ']'");
      rule.port = parse_port(rest.substr(1));
    }
    body = body.substr(1, close - 1);
    if (body.find(':') == std::string_view::npos) {
      throw std::invalid_argument("brackets are only for IPv6 addresses");
    }
  } else if (std::count(body.begin(), body.end(), ':') == 1) {
    const std::size_t colon = body.find(':');
    rule.port = parse_port(body.substr(colon + 1));
    body = body.substr(0, colon);
  }
  if (body.empty()) throw std::invalid_argument("missing host before the port");

  if (body == "*") {
    rule.kind = NetworkRule::Kind::Any;
    return rule;
  }

  const std::size_t slash = body.find('/');
  std::string_view addr_text = body.substr(0, slash);
  const auto ip = parse_canonical_ip(addr_text);
  if (slash != std::string_view::npos || ip) {
    if (!ip) {
      throw std::invalid_argument("not an IP address in canonical form: " + in_quotes(addr_text));
    }
    const int max_prefix = ip->is_v4() ? 32 : 128;
    int prefix = max_prefix;
    if (slash != std::string_view::npos) {
      const std::string_view len = body.substr(slash + 1);
      if (len.empty() || len.size() > 3 ||
          !std::all_of(len.begin(), len.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
          (len.size() > 1 && len[0] == '0')) {
        throw std::invalid_argument("bad prefix length");
      }
      prefix = std::stoi(std::string(len));
      if (prefix > max_prefix) {
        throw std::invalid_argument("prefix length over " + std::to_string(max_prefix));
      }
    }
    if (!host_bits_zero(*ip, prefix)) {
      throw std::invalid_argument("host bits set in " + in_quotes(body) +
                                  " (write the network address)");
    }
    rule.kind = NetworkRule::Kind::Cidr;
    rule.network = *ip;
    rule.prefix = prefix;
    return rule;
  }
  // SECURITY: "127.1" or "0x7f000001" would otherwise be taken for a domain pattern that never
  // matches anything, silently; make the user write what they mean.
  if (parse_ip_literal(body)) {
    throw std::invalid_argument("IP address in a non-canonical form: " + in_quotes(body) +
                                " (write it as a dotted quad)");
  }
  if (looks_numeric(body)) {
    throw std::invalid_argument("numeric name that is not a valid IP address: " + in_quotes(body));
  }
  rule.pattern = normalize_domain_pattern(body);  // throws std::invalid_argument
  rule.kind =
      rule.pattern.starts_with("*.") ? NetworkRule::Kind::Wildcard : NetworkRule::Kind::Exact;
  return rule;
}

std::string NetworkRuleError::to_string() const {
  return std::string(in_denied ? "deniedDomains" : "allowedDomains") + "[" + std::to_string(index) +
         "] " + in_quotes(entry) + ": " + message;
}

NetworkPolicyBuild network_policy_from_strings(const std::vector<std::string>& allowed,
                                               const std::vector<std::string>& denied,
                                               bool allow_local_outbound) {
  NetworkPolicyBuild out;
  out.policy.allow_local_outbound = allow_local_outbound;
  auto parse_list = [&](const std::vector<std::string>& list, bool in_denied,
                        std::vector<NetworkRule>& into) {
    for (std::size_t i = 0; i < list.size(); ++i) {
      try {
        into.push_back(parse_network_rule(list[i]));
      } catch (const std::invalid_argument& e) {
        out.errors.push_back(NetworkRuleError{in_denied, i, list[i], e.what()});
      }
    }
  };
  parse_list(allowed, false, out.policy.allowed);
  parse_list(denied, true, out.policy.denied);
  return out;
}

bool OwnListeners::contains(const IpAddress& address, std::uint16_t port) const {
  if (classify(address) == AddressClass::Loopback &&
      std::find(loopback_ports.begin(), loopback_ports.end(), port) != loopback_ports.end())
    return true;
  const IpAddress reached = address.embedded_v4().value_or(address);
  return std::any_of(endpoints.begin(), endpoints.end(), [&](const auto& e) {
    return e.second == port && e.first.embedded_v4().value_or(e.first) == reached;
  });
}

Decision evaluate_local_forward(const NetworkPolicy& policy, std::uint16_t port) {
  const auto& ports = policy.local_outbound_ports;
  if (port == 0 || std::find(ports.begin(), ports.end(), port) == ports.end())
    return deny("default deny",
                "port " + std::to_string(port) + " is not in allowLocalOutboundPorts");
  const std::vector<IpAddress> addresses = local_forward_addresses(policy, port);
  if (addresses.empty()) return deny_own_listener(IpAddress::v4(127, 0, 0, 1), port);
  Decision d;
  d.allowed = true;
  d.rule = "allowLocalOutboundPorts";
  d.chosen = addresses.front();
  return d;
}

std::vector<IpAddress> local_forward_addresses(const NetworkPolicy& policy, std::uint16_t port) {
  in6_addr v6_loopback{};
  v6_loopback.s6_addr[15] = 1;
  std::vector<IpAddress> out;
  for (const IpAddress& a : {IpAddress::v4(127, 0, 0, 1), IpAddress::from(v6_loopback)})
    if (!policy.own_listeners.contains(a, port)) out.push_back(a);
  return out;
}

namespace {

// The rules for a valid, normalized `name`: deny rules, allow rules, allowLocalOutbound, then
// the IP rules (decided on the addresses later) or default deny. `port`: a connection's; none
// for a DNS question, which a rule for any port allows and only a rule for every port denies.
Decision decide_name(const NetworkPolicy& policy, const std::string& name,
                     std::optional<std::uint16_t> port) {
  auto on_port = [&](const NetworkRule& r) { return port ? r.matches_port(*port) : true; };
  for (const NetworkRule& r : policy.denied) {
    if ((port ? r.matches_port(*port) : !r.port) && r.matches_name(name)) {
      return deny(r.text, "denied by rule " + r.text);
    }
  }
  for (const NetworkRule& r : policy.allowed) {
    if (r.kind != NetworkRule::Kind::Cidr && on_port(r) && r.matches_name(name)) {
      return Decision{true, r.text, "allowed by rule " + r.text};
    }
  }
  if (policy.allow_local_outbound && is_local_name(name)) {
    return Decision{true, "allowLocalOutbound", "localhost allowed by allowLocalOutbound"};
  }
  const bool any_address_rule = std::any_of(
      policy.allowed.begin(), policy.allowed.end(),
      [&](const NetworkRule& r) { return r.kind == NetworkRule::Kind::Cidr && on_port(r); });
  if (any_address_rule) {
    Decision d{true, "", "no name rule; allowed only if every address matches an IP rule"};
    d.needs_address_rule = true;
    return d;
  }
  Decision d = deny("default deny", "no rule allows " + name);
  d.no_rule = true;
  return d;
}

}  // namespace

Decision evaluate_name(const NetworkPolicy& policy, std::string_view host, std::uint16_t port) {
  if (port == 0) return deny("default deny", "port 0");
  if (const auto literal = parse_ip_literal(host)) {
    Decision d = evaluate_literal(policy, *literal, port);
    d.literal = literal;
    return d;
  }

  const std::string name = lower_no_trailing_dot(host);
  if (!ipc::is_valid_target_host(host) || name == ".") {
    return deny("default deny", "invalid host name");
  }
  // SECURITY: a resolver may still read "1.2.3.256" or "0x1.0x2.3.4.5" as a number, or ask DNS
  // for it; neither is a name anyone can allow.
  if (looks_numeric(name)) {
    return deny("default deny", "numeric host that is not a valid IP address");
  }
  return decide_name(policy, name, port);
}

std::string normalized_host_name(std::string_view host) {
  return lower_no_trailing_dot(host);
}

Decision evaluate_lookup(const NetworkPolicy& policy, std::string_view host) {
  const std::string name = lower_no_trailing_dot(host);
  if (name.empty() || name == "." || !ipc::is_valid_target_host(host) || parse_ip_literal(host) ||
      looks_numeric(name))
    return deny("default deny", "not a name that can be allowed");
  return decide_name(policy, name, std::nullopt);
}

Decision evaluate_answer(const NetworkPolicy& policy, const Decision& by_name, std::uint16_t port,
                         const std::vector<IpAddress>& resolved,
                         const std::vector<IpAddress>& host_own) {
  if (!by_name.allowed) return by_name;
  if (resolved.empty()) return deny(by_name.rule, "no addresses");
  const std::string verb = by_name.literal ? "is " : "resolves to ";

  std::string first_rule;  // the rule that accepted the first address
  for (const IpAddress& a : resolved) {
    if (const NetworkRule* r = first_address_rule(policy.denied, a, port)) {
      return deny(r->text, verb + "a denied address (" + a.to_string() + ")");
    }
    const AddressClass c = classify(a, host_own);
    const NetworkRule* allow_rule = first_address_rule(policy.allowed, a, port);
    // An IP rule opens a non-public class only when it was written for that class.
    const bool explicit_opt_in =
        allow_rule != nullptr && opt_in_class(c) && classify(allow_rule->network) == c;
    std::string accepted_by;
    if (c == AddressClass::Public) {
      if (allow_rule) {
        accepted_by = allow_rule->text;
      } else if (!by_name.needs_address_rule) {
        accepted_by = by_name.rule;
      }
    } else if (opt_in_class(c)) {
      if (explicit_opt_in) {
        accepted_by = allow_rule->text;
      } else if (c == AddressClass::Loopback && policy.allow_local_outbound &&
                 !by_name.needs_address_rule) {
        accepted_by = by_name.rule;
      } else {
        return deny(by_name.rule, verb + class_phrase(c, a), true);
      }
    } else {
      // Metadata, Unspecified, LinkLocal, Multicast, Reserved, HostOwn: never.
      return deny(by_name.rule, verb + class_phrase(c, a), true);
    }
    if (accepted_by.empty()) {
      return deny("default deny", verb + a.to_string() + ", which no IP rule allows");
    }
    if (first_rule.empty()) first_rule = accepted_by;
  }
  Decision d;
  d.allowed = true;
  d.rule = first_rule;
  d.reason = by_name.needs_address_rule ? "allowed by rule " + first_rule : by_name.reason;
  d.literal = by_name.literal;
  d.chosen = resolved.front();
  return d;
}

Decision evaluate_endpoints(const NetworkPolicy& policy, Decision accepted, std::uint16_t port,
                            const std::vector<IpAddress>& addresses) {
  if (!accepted.allowed) return accepted;
  for (const IpAddress& a : addresses)
    if (policy.own_listeners.contains(a, port)) return deny_own_listener(a, port);
  return accepted;
}

Decision evaluate_addresses(const NetworkPolicy& policy, std::string_view host, std::uint16_t port,
                            const std::vector<IpAddress>& resolved,
                            const std::vector<IpAddress>& host_own) {
  return evaluate_answer(policy, evaluate_name(policy, host, port), port, resolved, host_own);
}

}  // namespace fence::supervisor
