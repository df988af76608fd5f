// libFuzzer harness for the worker's DNS query reader (proxy-worker/dns_message.hpp):
// parse_dns_query() reads every datagram a program in the sandbox sends to port 53. The input
// is the message. Any violation of the invariants aborts.
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "proxy-worker/dns_message.hpp"

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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> message(data, size);
  const DnsParse parse = parse_dns_query(message);
  if (!parse.query) {
    // A refusal is a bare header with the query's id, marked as a response; none for a message
    // whose header is unreadable or that is itself a response.
    if (!parse.refusal.empty()) {
      require(size >= kDnsHeaderSize && (data[2] & 0x80) == 0);
      require(parse.refusal.size() == kDnsHeaderSize);
      require(parse.refusal[0] == data[0] && parse.refusal[1] == data[1]);
      require((parse.refusal[2] & 0x80) != 0 && (parse.refusal[3] & 0x0f) != 0);
    }
    return 0;
  }
  const DnsQuery& q = *parse.query;
  require(parse.refusal.empty());
  require(q.name.size() <= 253);
  for (const char c : q.name) require(name_char(c));
  require(q.name.find("..") == std::string::npos && (q.name.empty() || q.name.front() != '.'));
  require(q.klass == kDnsClassIn);
  require(q.question.size() >= 5 && q.question.size() + kDnsHeaderSize <= size);
  // The answer echoes the question and holds one 16-byte record per address for type A only,
  // and is never read back as a query.
  const std::array<std::uint8_t, 4> addresses[2] = {{198, 18, 0, 1}, {198, 18, 0, 2}};
  const std::vector<std::uint8_t> answer = dns_answer(q, DnsRcode::NoError, addresses, 60);
  const std::size_t records = q.type == kDnsTypeA ? 2 : 0;
  require(answer.size() == kDnsHeaderSize + q.question.size() + 16 * records);
  require(!parse_dns_query(answer).query && parse_dns_query(answer).refusal.empty());
  return 0;
}
