// Domain patterns of network.allowedDomains / network.deniedDomains.
//
// Accepted forms (case-insensitive, one trailing dot ignored):
//   example.com          exactly this host name
//   *.example.com        any host strictly below example.com (not example.com itself), as in fence
// Rejected: schemes, paths, ports, userinfo, spaces, IP literals, "*" anywhere but a leading
// "*." followed by at least two labels, labels that are not LDH (letters, digits, hyphen; no
// leading/trailing hyphen; 1..63 bytes), names longer than 253 bytes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "ipc/protocol.hpp"

namespace fence::supervisor {

inline constexpr std::size_t kMaxDomainLength = ipc::kMaxHostLen;
inline constexpr std::size_t kMaxLabelLength = 63;

// Validates a pattern and returns its canonical form (lowercase, no trailing dot).
// Throws std::invalid_argument with a message saying what is wrong.
std::string normalize_domain_pattern(std::string_view pattern);

// True if `host` matches a pattern previously returned by normalize_domain_pattern(). The host is
// compared case-insensitively with one trailing dot ignored; no other normalization happens, so
// callers must pass a host name they have already validated.
bool domain_matches(std::string_view normalized_pattern, std::string_view host);

}  // namespace fence::supervisor
