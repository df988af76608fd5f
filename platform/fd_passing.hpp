// Passing one file descriptor over a unix socket (SCM_RIGHTS), for the launcher's internal
// hand-offs (the command's seccomp listener to init). The IPC channel has its own framing.
#pragma once

#include "platform/unique_fd.hpp"

namespace fence::platform {

// Sends `fd` with a one-byte datagram. Throws SysError.
void send_fd(int socket, int fd);

// Receives one fd sent by send_fd (O_CLOEXEC). Returns an invalid fd when the peer closed
// without sending, or sent anything other than exactly one fd.
UniqueFd receive_fd(int socket);

}  // namespace fence::platform
