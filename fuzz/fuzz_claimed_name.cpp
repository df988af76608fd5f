// libFuzzer harness for the worker's claimed-name reader (proxy-worker/claimed_name.hpp):
// find_claimed_name() reads the first bytes a program in the sandbox sends on a TCP connection.
// The input is those bytes. Any violation of the invariants aborts.
#include <arpa/inet.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "proxy-worker/claimed_name.hpp"

namespace {

using namespace fence::proxy_worker;

void require_at(bool condition, const char* what, int line) {
  if (condition) return;
  std::fprintf(stderr, "invariant violated at line %d: %s\n", line, what);
  std::abort();
}
#define require(condition) require_at((condition), #condition, __LINE__)

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

bool same(const Claim& a, const Claim& b) {
  return a.status == b.status && a.name == b.name && a.why == b.why;
}

// A Found name is normal: an IPv6 address as inet_ntop prints it, or a host name of 1..253
// bytes with labels of 1..63 bytes, lower case, no trailing dot.
bool normal_name(const std::string& name) {
  if (name.find(':') != std::string::npos) {
    in6_addr addr{};
    char text[INET6_ADDRSTRLEN] = {};
    return inet_pton(AF_INET6, name.c_str(), &addr) == 1 &&
           inet_ntop(AF_INET6, &addr, text, sizeof text) != nullptr && name == text;
  }
  if (name.empty() || name.size() > 253 || name.front() == '.' || name.back() == '.') return false;
  std::size_t label = 0;
  for (const char c : name) {
    if (!name_char(c)) return false;
    label = c == '.' ? 0 : label + 1;
    if (label > 63) return false;
  }
  return name.find("..") == std::string::npos;
}

bool is_ipv4(const std::string& name) {
  in_addr addr{};
  return inet_pton(AF_INET, name.c_str(), &addr) == 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  const Claim claim = find_claimed_name(bytes);
  require(same(claim, find_claimed_name(bytes)));  // deterministic
  switch (claim.status) {
    case ClaimStatus::NeedMore:
      require(size < kMaxClaimBytes && claim.name.empty() && claim.why.empty());
      break;
    case ClaimStatus::Found:
      require(claim.why.empty() && normal_name(claim.name));
      // RFC 6066: no address in server_name; from TLS only a host name is found.
      if (data[0] == 0x16)
        require(claim.name.find(':') == std::string::npos && !is_ipv4(claim.name));
      break;
    case ClaimStatus::None:
      require(claim.name.empty() && !claim.why.empty() && claim.why.size() <= 80);
      for (const char c : claim.why) require(c >= ' ' && c <= '~');
      break;
  }
  // Found and None are final: decided by bytes that are present, never by where the input
  // ends. So a prefix is NeedMore or has the whole input's result, and bytes appended to an
  // input that is not NeedMore change nothing.
  const std::size_t cuts[] = {size / 2, size - size / 8, size > 0 ? size - 1 : 0,
                              size > 0 ? data[size - 1] % size : 0};
  for (const std::size_t cut : cuts) {
    const Claim prefix = find_claimed_name(bytes.first(cut));
    require(prefix.status == ClaimStatus::NeedMore || same(prefix, claim));
  }
  if (claim.status != ClaimStatus::NeedMore) {
    std::vector<std::uint8_t> longer(data, data + size);
    longer.insert(longer.end(), {0x16, 0x03, 0x01, 0x00, 0x01, '\r', '\n', 0x00});
    require(same(find_claimed_name(longer), claim));
  }
  return 0;
}
