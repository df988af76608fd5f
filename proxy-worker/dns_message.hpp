// DNS queries from the sandbox (RFC 1035), for the transparent network path's DNS
// (docs/architecture.md; dns_server.hpp, dns_stream.hpp): reads one query, and writes the answer to
// it from a decision about the one name it holds. No query is ever forwarded. Pure: no I/O.
//
// Trust: every byte is hostile (any program in the sandbox sends them). Only a query that is
// exactly what a resolver library (glibc's, musl's) sends is accepted: QR 0, opcode QUERY, one
// question, no answer or authority records, at most one additional record, which must be an EDNS(0)
// OPT record with the root name; the question name uncompressed, labels of 1..63 bytes of letters,
// digits, '-' and '_', the whole name at most 253 characters as text; class IN. Anything else is
// refused (FORMERR, REFUSED or NOTIMP with the query's id when the header could be read, else no
// answer at all).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ipc/protocol.hpp"

namespace fence::proxy_worker {

inline constexpr std::size_t kDnsHeaderSize = 12;
inline constexpr std::size_t kMaxDnsQuerySize = 4096;  // a UDP datagram or a TCP message
using ipc::DnsRcode;
using ipc::kDnsTypeA;
inline constexpr std::uint16_t kDnsTypeAaaa = 28;
inline constexpr std::uint16_t kDnsTypeOpt = 41;
inline constexpr std::uint16_t kDnsClassIn = 1;

struct DnsQuery {
  std::uint16_t id = 0;
  bool recursion_desired = false;
  std::string name;  // lower case, no trailing dot ("" for the root)
  std::uint16_t type = 0;
  std::uint16_t klass = 0;
  // The question section exactly as received (echoed in the answer).
  std::vector<std::uint8_t> question;
};

struct DnsParse {
  std::optional<DnsQuery> query;  // set: a query to decide
  // Otherwise: the answer to send (empty: send nothing, the header itself was unreadable or
  // the message was a response).
  std::vector<std::uint8_t> refusal;
};

DnsParse parse_dns_query(std::span<const std::uint8_t> message);

// The answer to `query`: `rcode`, and with NOERROR one A record per address (type A only).
std::vector<std::uint8_t> dns_answer(const DnsQuery& query, DnsRcode rcode,
                                     std::span<const std::array<std::uint8_t, 4>> addresses,
                                     std::uint32_t ttl);

}  // namespace fence::proxy_worker
