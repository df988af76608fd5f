// libFuzzer harness for the nested-run registration decoder (launcher/notify/nest_registration.hpp):
// decode_nest_registration() reads what any process inside a sandbox sends to its init on
// /run/fence/nest.sock. The input is the datagram. Any violation of the invariants aborts.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "launcher/notify/nest_registration.hpp"

namespace {

using fence::launcher::decode_nest_registration;
using fence::launcher::encode_nest_registration;

void require_at(bool condition, const char* what, int line) {
  if (condition) return;
  std::fprintf(stderr, "invariant violated at line %d: %s\n", line, what);
  std::abort();
}
#define require(condition) require_at((condition), #condition, __LINE__)

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto decoded = decode_nest_registration(text);
  if (!decoded) return 0;
  // Accepted: a pid that names another process than init, at most kMaxNestPaths absolute paths
  // without NUL or newline, and the same registration once encoded and decoded again.
  require(decoded->launcher > 1);
  require(text.size() <= fence::launcher::kMaxNestRegistration);
  require(decoded->policy.paths.size() <= fence::launcher::kMaxNestPaths);
  for (const auto& [path, access] : decoded->policy.paths) {
    require(!path.empty() && path[0] == '/');
    require(path.find('\n') == std::string::npos && path.find('\0') == std::string::npos);
  }
  const auto again = decode_nest_registration(encode_nest_registration(*decoded));
  require(again && again->launcher == decoded->launcher &&
          again->policy.paths == decoded->policy.paths);
  return 0;
}
