// Init: pid 1 of the sandbox, forked by the outer launcher inside the new namespaces. It builds
// the inside of the sandbox, forks the command, reports the outcome and serves the command until
// it ends (init.cpp lists the steps).
#pragma once

#include "ipc/protocol.hpp"
#include "launcher/supervisor_link.hpp"
#include "platform/unique_fd.hpp"

namespace fence::launcher {

// The command's standard streams, as they came with the LaunchSpec, each above fd 2 so that the
// child's dup2 onto 0, 1, 2 never overwrites one it still has to place.
struct CommandStdio {
  platform::UniqueFd fds[3];
};

// Never returns: exits with 0 when the command has ended and CommandExited is sent, 1 when
// anything failed (after SetupFailed, when it could still be sent). Exiting as init ends every
// process of the sandbox.
[[noreturn]] void run_init(SupervisorLink& link, const ipc::LaunchSpec& spec, CommandStdio stdio);

}  // namespace fence::launcher
