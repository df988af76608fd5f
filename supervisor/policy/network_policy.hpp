// The network policy: a PURE function from (rules, target, resolved addresses) to a decision.
// No I/O here; network/upstream_connector.hpp does the resolving and connecting.
//
// Semantics (fence's): deniedDomains first, then allowedDomains, then deny.
//   example.com        exactly this name (case-insensitive, one trailing dot ignored)
//   *.example.com      any name strictly below example.com, at any depth; NOT example.com
// Extensions (documented in docs/configuration.md):
//   example.com:443    a rule may carry a port; it then matches only that port
//   *.example.com:8080 (also "*:443", "203.0.113.7:22", "[2001:db8::1]:443", "10.0.0.0/8:5432")
//   203.0.113.7        an IP rule: matches the literal target 203.0.113.7 AND any name whose
//   198.51.100.0/24    resolved addresses fall in it (CIDR, host bits must be zero);
//   2001:db8::/32      IPv6 literals may be written with or without brackets.
//   *                  any destination whose addresses are all public (never private, loopback,
//                      link-local, metadata, ...). In deniedDomains: deny everything.
// SSRF guard (SECURITY-RULES 2-3):
//   - a name matching a deny rule is refused before any resolution (never resolved);
//   - every resolved address must be acceptable, or the whole answer is refused (a mixed
//     public + private answer is refused);
//   - Private, CGNAT, ULA and Loopback answers are accepted only when an IP/CIDR allow rule
//     written for that range covers them (e.g. "10.0.0.0/8", "127.0.0.1"; the rule's own
//     network address must be in the same class, so "0.0.0.0/0" opts into nothing), or, for
//     Loopback, when allowLocalOutbound is in effect (then "localhost", "127.0.0.1" and "::1"
//     are also allowed as names without a rule);
//   - Metadata, Unspecified, LinkLocal, Multicast, Reserved and the host's own addresses are
//     refused whatever the rules say;
//   - IP literal targets go through IP rules only, never through name rules. Strings that a
//     resolver would read as numbers ("127.1", "0x7f000001") are literals (address_class.hpp);
//     a name whose last label is numeric but is no valid address ("1.2.3.256") is refused.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ipc/protocol.hpp"
#include "supervisor/policy/address_class.hpp"

namespace fence::supervisor {

struct NetworkRule {
  enum class Kind : std::uint8_t {
    Exact,     // pattern = "example.com"
    Wildcard,  // pattern = "*.example.com"
    Any,       // "*"
    Cidr,      // network/prefix (a single IP is /32 or /128)
  };
  Kind kind = Kind::Exact;
  std::string text;                   // the rule as written (for decisions and logs)
  std::string pattern;                // normalized domain pattern (Exact, Wildcard)
  IpAddress network;                  // Cidr
  int prefix = 0;                     // Cidr
  std::optional<std::uint16_t> port;  // only this port when set

  bool matches_port(std::uint16_t p) const { return !port || *port == p; }
  bool matches_name(std::string_view normalized_host) const;  // Exact/Wildcard/Any
  bool matches_address(const IpAddress& a) const;             // Cidr (v4 rules also match
                                                              // the v4 a v6 address embeds)
};

// Parses one rule string. Throws std::invalid_argument saying what is wrong (empty, bad port,
// host bits set in a CIDR, an IP written in a non-canonical form such as "127.1", a malformed
// domain pattern, ...).
NetworkRule parse_network_rule(std::string_view text);

// fence's own listeners: never a target, whatever the rules allow (SECURITY-RULES 3).
struct OwnListeners {
  // The sandbox's proxy ports and the -p ports: refused on ANY loopback address (a listener on
  // 0.0.0.0 or 127.0.0.1 answers on all of 127/8, and ::ffff:127.x.y.z reaches a v4 one).
  std::vector<std::uint16_t> loopback_ports;
  // The -p listeners' exact endpoints; a v4-mapped address counts as the v4 address it reaches.
  std::vector<std::pair<IpAddress, std::uint16_t>> endpoints;

  bool contains(const IpAddress& address, std::uint16_t port) const;
};

struct NetworkPolicy {
  std::vector<NetworkRule> denied;
  std::vector<NetworkRule> allowed;
  bool allow_local_outbound = false;
  // allowLocalOutboundPorts: transparent connections to the host's 127.0.0.1:PORT (or [::1]).
  std::vector<std::uint16_t> local_outbound_ports;
  OwnListeners own_listeners;
};

struct NetworkRuleError {
  bool in_denied = false;  // deniedDomains (else allowedDomains)
  std::size_t index = 0;
  std::string entry;
  std::string message;
  // "allowedDomains[2] \"foo:0\": port must be 1..65535"
  std::string to_string() const;
};

struct NetworkPolicyBuild {
  NetworkPolicy policy;                  // meaningful only when errors is empty
  std::vector<NetworkRuleError> errors;  // every bad entry, in order
  bool ok() const { return errors.empty(); }
};

NetworkPolicyBuild network_policy_from_strings(const std::vector<std::string>& allowed,
                                               const std::vector<std::string>& denied,
                                               bool allow_local_outbound);

struct Decision {
  bool allowed = false;
  std::string rule;    // the matching rule text, "allowLocalOutbound", or "default deny"
  std::string reason;  // why, in words fit for the user
  // When refused: Policy (a rule, the default, fence's own listeners) or NonPublicAddress (an
  // address's class). The proxy answers 403 for the first and 502 for the second.
  ipc::DenyReason deny_reason = ipc::DenyReason::Policy;
  // evaluate_name: the target is this IP literal (it is then its only address).
  std::optional<IpAddress> literal;
  // Set by evaluate_answer when allowed: the address to connect to (first acceptable).
  std::optional<IpAddress> chosen;
  // evaluate_name only: no name rule allowed the host, but IP/CIDR allow rules exist; it is
  // allowed iff every resolved address is covered by one (evaluate_answer decides).
  bool needs_address_rule = false;
  // Refused because no rule decided (not a deny rule, not an address class): what
  // network.defaultAction "proxy" sends to the upstream proxy instead.
  bool no_rule = false;
};

// A transparent connection (allowLocalOutboundPorts) to the host's loopback: allowed exactly
// for the listed ports; chosen = the first of local_forward_addresses.
Decision evaluate_local_forward(const NetworkPolicy& policy, std::uint16_t port);

// Where a transparent port is reached on the host, in order: 127.0.0.1, then ::1 (a service
// bound to `localhost` may listen on either; Node.js picks ::1 first), leaving out fence's own
// listeners.
std::vector<IpAddress> local_forward_addresses(const NetworkPolicy& policy, std::uint16_t port);

// A host name as the rules compare it: lower case, without a trailing dot.
std::string normalized_host_name(std::string_view host);

// A DNS query of the transparent path, before any port is known: allowed when the name could
// be allowed for some port (an allow rule names it, allowLocalOutbound for a local name, or IP
// rules exist that its addresses may match at connect time), unless a deny rule without a port
// names it. The connection's own check (evaluate_name with its port) still follows.
Decision evaluate_lookup(const NetworkPolicy& policy, std::string_view name);

// A request's first step: decides on the name alone (no resolution). A denied result is final.
Decision evaluate_name(const NetworkPolicy& policy, std::string_view host, std::uint16_t port);

// A request's second step, after resolution: decides on every address of the answer (for a
// literal target, the literal is the only address), given the name's decision `by_name` (a
// denied name stays denied).
Decision evaluate_answer(const NetworkPolicy& policy, const Decision& by_name, std::uint16_t port,
                         const std::vector<IpAddress>& resolved,
                         const std::vector<IpAddress>& host_own);

// The last step before connecting: `accepted` (an allowed answer), unless one of the addresses
// at `port` is one of fence's own listeners (policy.own_listeners).
Decision evaluate_endpoints(const NetworkPolicy& policy, Decision accepted, std::uint16_t port,
                            const std::vector<IpAddress>& addresses);

// Both steps at once: evaluate_answer(policy, evaluate_name(policy, host, port), ...).
Decision evaluate_addresses(const NetworkPolicy& policy, std::string_view host, std::uint16_t port,
                            const std::vector<IpAddress>& resolved,
                            const std::vector<IpAddress>& host_own);

}  // namespace fence::supervisor
