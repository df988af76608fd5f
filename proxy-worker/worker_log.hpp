// Diagnostics of the worker. Its standard streams are /dev/null: the process that parses
// hostile bytes holds no handle on fence's terminal, CI log or redirected files. Each line goes
// to the supervisor as a WorkerLog message instead, and the supervisor displays it (escaped,
// prefixed "[fence:proxy] ", a bounded number of them), as OpenSSH's monitor does with the
// log lines of its unprivileged child.
#pragma once

#include <string_view>

#include "ipc/channel.hpp"

namespace fence::proxy_worker {

// Where log_line() sends from now on (nullptr: lines are dropped). The worker is one thread.
void attach_log_channel(ipc::Channel* channel);

// Sends one line (cut to ipc::kMaxTextLen bytes, NULs replaced); best effort: a full or
// broken channel drops it. Never throws.
void log_line(std::string_view text);

}  // namespace fence::proxy_worker
