// The supervisor's DNS resolution: getaddrinfo on a detached helper thread with a timeout and
// a process-wide cap, with the resolver's state set so that the name resolved is exactly the
// name the policy decided on (no search list, no aliases).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "supervisor/policy/address_class.hpp"

namespace fence::supervisor {

inline constexpr std::size_t kMaxConcurrentResolutions = 16;

struct ResolveResult {
  // 0 on success, else an EAI_* code (EAI_AGAIN for a timeout is reported as Timeout only when
  // `timed_out` is set).
  int error = 0;
  std::string error_text;
  bool timed_out = false;
  bool overloaded = false;
  std::vector<IpAddress> addresses;  // deduplicated, in resolver order
};

// A resolver: name -> addresses, honoring the timeout. The default (empty function) is
// resolve_name() below; tests inject fakes.
using DnsResolver = std::function<ResolveResult(const std::string& host, int timeout_ms)>;

// getaddrinfo(host, AF_UNSPEC, SOCK_STREAM) in a detached helper thread; waits at most
// timeout_ms. The helper holds one of kMaxConcurrentResolutions slots until getaddrinfo
// returns (even after a timeout), so a stuck resolver cannot multiply threads.
ResolveResult resolve_name(const std::string& host, int timeout_ms);

// Number of resolve_name() calls that reached getaddrinfo since the process started (tests
// prove with it that a denied name was never resolved).
std::uint64_t resolver_call_count();

// Unsets HOSTALIASES, RES_OPTIONS, LOCALDOMAIN and the other environment variables through
// which glibc's resolver can be steered (SECURITY-RULES 16). Call once at supervisor start,
// before any thread exists and before the first resolution (glibc reads them at resolver
// initialization).
void scrub_resolver_environment();

}  // namespace fence::supervisor
