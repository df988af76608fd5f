// libFuzzer harness for the SOCKS5 parser (proxy-worker/socks5.hpp).
// Feeds the input in random pieces and checks the parser's invariants; any violation aborts.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "ipc/grammar.hpp"
#include "proxy-worker/socks5.hpp"

namespace {

using fence::proxy_worker::ParseStatus;
using fence::proxy_worker::Socks5Parser;

void require_at(bool condition, const char* what, int line) {
  if (condition) return;
  std::fprintf(stderr, "invariant violated at line %d: %s\n", line, what);
  std::abort();
}
#define require(condition) require_at((condition), #condition, __LINE__)

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider provider(data, size);
  std::size_t seed = provider.ConsumeIntegral<std::uint32_t>();
  const std::string input = provider.ConsumeRemainingBytesAsString();

  Socks5Parser split;
  ParseStatus status = ParseStatus::NeedMore;
  std::size_t fed = 0;
  while (fed < input.size()) {
    const std::size_t n = std::min<std::size_t>(1 + seed % 9, input.size() - fed);
    seed = seed * 1103515245u + 12345u;
    const ParseStatus previous = status;
    const std::size_t consumed_before = split.consumed();
    status = split.feed(std::string_view(input).substr(fed, n));
    fed += n;
    if (previous != ParseStatus::NeedMore) {
      require(status == previous);
      require(split.consumed() == consumed_before);  // nothing consumed after the end
    }
    require(split.consumed() <= fed);
  }

  Socks5Parser whole;
  const ParseStatus whole_status = whole.feed(input);
  require(whole_status == status);
  require(whole.greeting_complete() == split.greeting_complete());

  if (split.greeting_complete()) {
    const std::string reply = split.greeting_reply();
    require(reply.size() == 2 && reply[0] == 5);
    require(reply[1] == 0 || static_cast<unsigned char>(reply[1]) == 0xFF);
    if (static_cast<unsigned char>(reply[1]) == 0xFF) require(status == ParseStatus::Bad);
  }
  if (status == ParseStatus::Done) {
    require(split.greeting_complete() && split.greeting_reply()[1] == 0);
    require(!split.host().empty() && split.host().size() <= fence::ipc::kMaxHostLen);
    require(split.port() != 0);
    require(split.host() == whole.host() && split.port() == whole.port());
    require(split.consumed() == whole.consumed());
    // Minimum: greeting of 3 bytes + a one-byte DOMAINNAME request of 8; maximum:
    // 2+255 + 4+1+255+2.
    require(split.consumed() >= 11 && split.consumed() <= 519);
    const auto again = fence::proxy_worker::normalize_target_host(split.host(), true);
    require(again.has_value() && *again == split.host());
    // The channel's check of ConnectRequest, the one check on the worker's sending side.
    require(fence::ipc::is_valid_target_host(split.host()));
  } else if (status == ParseStatus::Bad) {
    const auto code = split.error_reply_code();
    require(code == 0x01 || code == 0x07 || code == 0x08);
    require(code == whole.error_reply_code());
    require(split.host().empty());
  }
  return 0;
}
