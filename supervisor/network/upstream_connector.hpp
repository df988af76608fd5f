// The supervisor's upstream connector: decide, resolve once (dns_resolver.hpp), check every
// answer, connect to exactly a checked address. Blocking; called from a thread of the connect
// pool (connect_pool.hpp), one call per ConnectRequest. Thread-safe.
//
//   evaluate_name -> denied: Policy, and the name is NOT resolved (SECURITY-RULES 3)
//   literal IP?   -> that address; else getaddrinfo(AF_UNSPEC, SOCK_STREAM) in a helper
//                    thread, bounded by resolve_timeout_ms and by a process-wide cap of
//                    kMaxConcurrentResolutions lookups in flight (over it: Overloaded)
//   evaluate_answer -> refused: NonPublicAddress (or Policy for a deny rule)
//   evaluate_endpoints (fence's own listeners: the proxies, the -p ports) -> Policy
//   connect: non-blocking socket, poll with the remaining connect_timeout_ms, SO_ERROR; the
//            checked addresses are tried in order (all of them passed the policy), never a
//            re-resolved one; the returned fd is connected, blocking, close-on-exec.
//   no rule decided, and an upstream proxy configured (defaultAction "proxy") -> resolved and
//            checked as above (evaluate_answer, evaluate_endpoints), then connect to the proxy
//            (never one of fence's own listeners) and CONNECT the checked address:port; a 2xx
//            answer within the connect deadline makes the fd the tunnel. Only the status line
//            is read (the header block, at most kMaxProxyAnswer bytes, peeked, so no byte of
//            the tunnel is taken).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "ipc/protocol.hpp"
#include "platform/unique_fd.hpp"
#include "supervisor/network/dns_resolver.hpp"
#include "supervisor/policy/address_class.hpp"
#include "supervisor/policy/network_policy.hpp"

namespace fence::supervisor {

struct ConnectOptions {
  int resolve_timeout_ms = 5000;
  int connect_timeout_ms = 10000;
  std::vector<IpAddress> host_own;  // host_addresses(), gathered once by the caller
  DnsResolver resolver;             // empty: resolve_name
  // network.defaultAction "proxy": a connection no rule decides goes through this HTTP proxy
  // (CONNECT host:port) instead of being refused. Port 0: none.
  std::string upstream_proxy_host;
  std::uint16_t upstream_proxy_port = 0;
};

struct ConnectOutcome {
  platform::UniqueFd fd;                             // connected socket when allowed
  ipc::DenyReason reason = ipc::DenyReason::Policy;  // meaningful when !fd
  std::string text;                                  // for the client (<= ipc::kMaxReasonLen bytes)
  Decision decision;                                 // the policy's decision (rule, reason)
  std::string resolved;           // printable answer, "198.51.100.10, 2001:db8::10"
  std::string connected_address;  // printable address actually connected to, without port
  std::string route;              // "" direct; "upstream_proxy" through ConnectOptions' proxy

  bool ok() const { return fd.valid(); }
};

ConnectOutcome establish(const NetworkPolicy& policy, const std::string& host, std::uint16_t port,
                         const ConnectOptions& options);

// A transparent connection: evaluate_local_forward, then connect to the host's 127.0.0.1:port,
// else [::1]:port (local_forward_addresses: never one of fence's own listeners).
ConnectOutcome establish_local(const NetworkPolicy& policy, std::uint16_t port,
                               const ConnectOptions& options);

// The addresses of this host's interfaces (getifaddrs, AF_INET and AF_INET6, zone dropped).
// Empty on failure.
std::vector<IpAddress> host_addresses();

}  // namespace fence::supervisor
