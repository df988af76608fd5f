// libFuzzer harness for the HTTP proxy front end (proxy-worker/http_request.hpp).
// Feeds the input in random pieces and checks the parser's invariants; any violation aborts.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "ipc/grammar.hpp"
#include "proxy-worker/http_request.hpp"

namespace {

using fence::proxy_worker::HttpRequestParser;
using fence::proxy_worker::ParseStatus;

void require_at(bool condition, const char* what, int line) {
  if (condition) return;
  std::fprintf(stderr, "invariant violated at line %d: %s\n", line, what);
  std::abort();
}
#define require(condition) require_at((condition), #condition, __LINE__)

char to_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool line_starts_with(std::string_view line, std::string_view lower_prefix) {
  if (line.size() < lower_prefix.size()) return false;
  for (std::size_t i = 0; i < lower_prefix.size(); ++i) {
    if (to_lower(line[i]) != lower_prefix[i]) return false;
  }
  return true;
}

// The upstream head of an absolute-form request: CRLF lines only, exactly one Host line equal
// to the target, no Proxy-* line, ends with "Connection: close" and the empty line.
void check_upstream_head(const fence::proxy_worker::HttpTarget& target) {
  const std::string& head = target.upstream_head;
  require(head.size() >= 4 && head.compare(head.size() - 4, 4, "\r\n\r\n") == 0);
  require(head.find('\0') == std::string::npos);
  std::size_t host_lines = 0;
  std::size_t pos = 0;
  bool first = true;
  std::string_view last_header;
  while (pos < head.size()) {
    const std::size_t cr = head.find("\r\n", pos);
    require(cr != std::string::npos);
    const std::string_view line(head.data() + pos, cr - pos);
    require(line.find('\r') == std::string_view::npos && line.find('\n') == std::string_view::npos);
    if (first) {
      require(line.find(" /") != std::string_view::npos);
      first = false;
    } else if (!line.empty()) {
      require(line.front() != ' ' && line.front() != '\t');
      require(!line_starts_with(line, "proxy-"));
      if (line_starts_with(line, "host:")) {
        ++host_lines;
        std::string expected = "Host: ";
        const bool ipv6 = target.host.find(':') != std::string::npos;
        expected += ipv6 ? "[" + target.host + "]" : target.host;
        if (target.port != 80) expected += ":" + std::to_string(target.port);
        require(line == expected);
      }
      last_header = line;
    }
    pos = cr + 2;
  }
  require(host_lines == 1);
  require(last_header == "Connection: close");
}

struct Result {
  ParseStatus status;
  std::size_t head_bytes = 0;
  std::string host;
  std::uint16_t port = 0;
  std::string upstream_head;
  int error_status = 0;
};

Result result_of(const HttpRequestParser& p, ParseStatus status) {
  Result r{status};
  if (status == ParseStatus::Done) {
    r.head_bytes = p.head_bytes();
    r.host = p.target().host;
    r.port = p.target().port;
    r.upstream_head = p.target().upstream_head;
  } else if (status == ParseStatus::Bad) {
    r.error_status = p.error_status();
  }
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider provider(data, size);
  const bool small_limits = provider.ConsumeBool();
  const std::size_t max_bytes =
      small_limits ? provider.ConsumeIntegralInRange<std::size_t>(0, 256) : 8192;
  const std::size_t max_count =
      small_limits ? provider.ConsumeIntegralInRange<std::size_t>(0, 8) : 100;
  const std::size_t split_seed = provider.ConsumeIntegral<std::uint32_t>();
  const std::string input = provider.ConsumeRemainingBytesAsString();

  // In random pieces.
  HttpRequestParser split(max_bytes, max_count);
  ParseStatus status = ParseStatus::NeedMore;
  std::size_t fed = 0;
  std::size_t seed = split_seed;
  while (fed < input.size()) {
    const std::size_t piece = 1 + seed % 17;
    seed = seed * 1103515245u + 12345u;
    const std::size_t n = std::min(piece, input.size() - fed);
    const ParseStatus previous = status;
    status = split.feed(std::string_view(input).substr(fed, n));
    fed += n;
    // Done and Bad are final.
    if (previous != ParseStatus::NeedMore) require(status == previous);
  }
  // In one piece: the same result.
  HttpRequestParser whole(max_bytes, max_count);
  const Result a = result_of(split, status);
  const Result b = result_of(whole, whole.feed(input));
  require(a.status == b.status && a.head_bytes == b.head_bytes && a.host == b.host &&
          a.port == b.port && a.upstream_head == b.upstream_head &&
          a.error_status == b.error_status);

  if (status == ParseStatus::Done) {
    const auto& target = split.target();
    require(!target.host.empty());
    require(target.port != 0);
    require(split.head_bytes() > 0 && split.head_bytes() <= input.size());
    require(split.head_bytes() <= max_bytes);
    require(input.compare(split.head_bytes() - 4, 4, "\r\n\r\n") == 0);
    // The host is already normal: normalizing again changes nothing.
    const auto again = fence::proxy_worker::normalize_target_host(target.host, true);
    require(again.has_value() && *again == target.host);
    // The channel's check of ConnectRequest, the one check on the worker's sending side.
    require(fence::ipc::is_valid_target_host(target.host));
    if (target.is_connect) {
      require(target.upstream_head.empty());
    } else {
      check_upstream_head(target);
      require(!(target.chunked && target.content_length != 0));
    }
  } else if (status == ParseStatus::Bad) {
    const int s = split.error_status();
    require(s == 400 || s == 405 || s == 431 || s == 501 || s == 505);
    require(!split.error_text().empty());
    require(split.error_text().find_first_of("\r\n") == std::string::npos);
  }
  return 0;
}
