// The launcher's life: receive the LaunchSpec, build the sandbox in order, run the command
// under an init, report the outcome. See the ordered plan in sandbox.cpp.
#pragma once

#include "ipc/channel.hpp"

namespace fence::launcher {

// Runs the whole launcher on an established channel (after the Hello exchange). Returns the
// launcher process's exit code; the command's own status travels in CommandExited.
int run_launcher(ipc::Channel& channel);

}  // namespace fence::launcher
