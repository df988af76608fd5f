#include "supervisor/audit/diagnostics.hpp"

#include <unistd.h>

#include <cerrno>
#include <mutex>

#include "supervisor/audit/audit_log.hpp"
#include "supervisor/policy/safe_text.hpp"

namespace fence::supervisor {
namespace {

std::mutex& output_mutex() {
  static std::mutex mutex;
  return mutex;
}

platform::UniqueFd& output_file() {
  static platform::UniqueFd fd;
  return fd;
}

}  // namespace

void send_diagnostics_to(platform::UniqueFd fd) {
  std::lock_guard lock(output_mutex());
  output_file() = std::move(fd);
}

void write_diagnostic_line(const std::string& line) {
  // SECURITY: paths, comm, argv and host names in these lines come from the sandbox.
  std::string text = one_line(line);
  text += '\n';
  std::lock_guard lock(output_mutex());
  // A diagnostic that cannot be written is dropped, never fatal.
  append_line(output_file() ? output_file().get() : STDERR_FILENO, text);
}

}  // namespace fence::supervisor
