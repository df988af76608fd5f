// Starting fence's helper processes: Boost.Process with an empty environment, /dev/null as
// stdin, stdout and stderr, the channel end at fd 3 and nothing else (SECURITY-RULES 13, 16).
#pragma once

#include <sys/types.h>

#include <string>
#include <system_error>

#include "ipc/protocol.hpp"

namespace fence::supervisor {

// Returns the child's pid (the caller reaps it), or -1 with `error` set.
pid_t spawn_helper(const std::string& executable, int channel_fd, std::error_code& error);

// A helper executable (fence-launcher, fence-proxy-worker): next to this binary in the build
// tree, or ../libexec/fence/NAME when installed. Throws when it is in neither place.
std::string find_helper(const std::string& name);

}  // namespace fence::supervisor
