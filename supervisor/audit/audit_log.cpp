#include "supervisor/audit/audit_log.hpp"

#include "platform/host_path.hpp"
#include "supervisor/policy/safe_text.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace fence::supervisor {

std::string rfc3339_utc_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  tm t{};
  ::gmtime_r(&ts.tv_sec, &t);
  char buf[96];  // sized for any int values, so the compiler can prove no truncation
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", t.tm_year + 1900,
                t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                static_cast<int>(ts.tv_nsec / 1000000));
  return buf;
}

std::optional<AuditLog> AuditLog::open(const std::string& path, std::string* error,
                                       std::string* resolved) {
  try {
    // SECURITY: never through a symlink or hard link an earlier sandboxed run could have planted
    // (platform/host_path.hpp): the records carry text the command controls.
    platform::HostFile file = platform::open_host_file_for_append(path, 0600);
    if (resolved) *resolved = file.path;
    return AuditLog(std::move(file.fd));
  } catch (const platform::HostPathError& e) {
    if (error) *error = "cannot open audit log " + in_quotes(path) + ": " + e.reason();
    return std::nullopt;
  }
}

bool AuditLog::write(const nlohmann::json& event) const {
  if (!fd_) return false;
  nlohmann::json line = event.is_object() ? event : nlohmann::json{{"data", event}};
  if (!line.contains("event")) line["event"] = "unknown";
  line["v"] = kAuditSchemaVersion;
  line["time"] = rfc3339_utc_now();
  // Several fence runs may share one file: the supervisor's pid ties every record to its run.
  if (!line.contains("pid")) line["pid"] = static_cast<long long>(::getpid());
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text += '\n';
  return append_line(fd_.get(), text);
}

bool append_line(int fd, std::string_view line) {
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace fence::supervisor
