// The audit log (--audit-log FILE): JSON Lines, written only by the supervisor.
//
// Every line is one JSON object with at least:
//   "v": 1            schema version
//   "time": "2024-05-01T12:34:56.789Z"   RFC 3339, UTC, milliseconds
//   "event": "session_start" | "network" | "session_end" | ...
// Each line is written with ONE write(2) on an O_APPEND descriptor, so lines from several
// writers (threads, or processes sharing the file) never interleave. Strings that are not valid
// UTF-8 (argv may contain anything) are written with U+FFFD replacements.
// The schema of each event is documented in docs/audit-log.md; audit_events.hpp builds them.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "platform/unique_fd.hpp"

namespace fence::supervisor {

inline constexpr int kAuditSchemaVersion = 1;

class AuditLog {
 public:
  // Opens `path` for appending, created with mode 0600 when missing, as
  // platform::open_host_file_for_append does (no symlink or hard link a sandbox could have
  // planted). nullopt on failure, with the reason in *error when given ("cannot open audit log:
  // PATH: ..."); the path it reached in *resolved ("" for an inherited descriptor).
  static std::optional<AuditLog> open(const std::string& path, std::string* error = nullptr,
                                      std::string* resolved = nullptr);
  // Takes an already open descriptor (tests, or a log inherited by fd).
  explicit AuditLog(platform::UniqueFd fd) : fd_(std::move(fd)) {}

  // Adds "v", "time" (and "event": "unknown" if absent) to a copy of `event`, serializes it as
  // one line and writes it with one write(2). Returns false on I/O failure. Thread-safe.
  bool write(const nlohmann::json& event) const;

  int fd() const { return fd_.get(); }

 private:
  platform::UniqueFd fd_;
};

// "2024-05-01T12:34:56.789Z" for now (CLOCK_REALTIME).
std::string rfc3339_utc_now();

// Appends `line` (ending in '\n') to `fd` with one write(2): with O_APPEND the kernel places the
// whole buffer at the end of the file atomically with respect to other appenders, so lines of
// several writers never interleave. A short write is finished (the only case where another
// writer could slip in). False when the line could not be written whole.
bool append_line(int fd, std::string_view line);

}  // namespace fence::supervisor
