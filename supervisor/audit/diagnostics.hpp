// Where the -m and -d lines go: stderr, or the file of --fence-log-file / FENCE_LOG_FILE, so a
// program that draws on the terminal (a TUI agent) is not drawn over. fence's own error lines
// ("fence: ...") always go to stderr.
#pragma once

#include <string>

#include "platform/unique_fd.hpp"

namespace fence::supervisor {

// From now on, lines go to `fd` (opened for appending) instead of stderr.
void send_diagnostics_to(platform::UniqueFd fd);

// Writes `line` as one line (control characters escaped, safe_text.hpp) with one write(2), so
// lines of several fence runs appending to one file never interleave. Thread-safe.
void write_diagnostic_line(const std::string& line);

}  // namespace fence::supervisor
