// The host name a program claims on a new TCP connection, read from the first bytes it sends:
// the server_name of a TLS ClientHello (RFC 8446 §4.1.2, RFC 6066 §3) or the Host header of an
// HTTP/1.x request. Used by the transparent network path with network.verifyTls
// (docs/architecture.md; ClientSession::claim_progress): the supervisor compares the claim with
// the name the connection's address stands for, so that a program cannot connect to an allowed
// name's address and then ask the server behind it for another name (domain fronting). Pure: no
// I/O, no state between calls.
//
// Trust: every byte is hostile (any program in the sandbox sends them). Only a claim that is
// exactly what a TLS library or an HTTP client sends is Found; anything malformed, ambiguous
// (two names, lengths that disagree, a request target naming another host) or oversized is
// None, and the caller treats None as "no claim it can check".
//
// Caller protocol: call find_claimed_name() with every byte received so far on the connection;
// on NeedMore, read more, append, and call again. Found and None are final.
// SECURITY: the result is decided only by bytes that are present, never by where the input
// ends: once a prefix gives Found or None, every longer input that starts with it gives the same
// result (fuzz/fuzz_claimed_name.cpp checks this). At most kMaxClaimBytes bytes are examined;
// NeedMore is returned only while fewer than that have arrived.
//
// What a claim cannot show: the HTTP request inside a TLS connection (its Host may still name
// another site behind the same server), the real name of an Encrypted Client Hello (the
// server_name read here is then the outer, public one), and the later requests of a kept-alive
// plain HTTP connection. Only the first request or ClientHello is read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace fence::proxy_worker {

inline constexpr std::size_t kMaxClaimBytes = 16384;  // bytes examined at most

enum class ClaimStatus { NeedMore, Found, None };

struct Claim {
  ClaimStatus status = ClaimStatus::NeedMore;
  // Found: a host name in lower case without trailing dot (letters, digits, '-', '_'; labels of
  // 1..63 bytes; at most 253 bytes; a name whose last label is numeric only as a dotted-quad
  // IPv4 address), or, from an HTTP Host header only, an IPv4 address or an IPv6 address
  // without brackets, printed canonically (RFC 5952). No port.
  std::string name;
  // None: why, one short line of ASCII ("two Host headers"). Empty otherwise.
  std::string why;
};

// `bytes`: everything received so far from the client, from the connection's first byte.
// TLS when the first byte is 0x16 (a handshake record), HTTP when it is an upper-case letter (a
// request method), None at once for anything else.
Claim find_claimed_name(std::span<const std::uint8_t> bytes);

}  // namespace fence::proxy_worker
