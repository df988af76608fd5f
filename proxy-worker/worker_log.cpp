#include "proxy-worker/worker_log.hpp"

#include <unistd.h>

#include <string>

namespace fence::proxy {

void log_line(std::string_view text) {
  std::string line = "[fence:proxy] ";
  line.append(text);
  line.push_back('\n');
  // One write per line so lines of concurrent processes on the same terminal do not mix.
  [[maybe_unused]] const auto n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace fence::proxy
