// Passing file descriptors over a unix socket (SCM_RIGHTS): one datagram with its fds (the IPC
// channel's frames), and one fd alone for the launcher's internal hand-offs (the command's
// seccomp listener to init).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <span>

#include "platform/unique_fd.hpp"

namespace fence::platform {

// The most fds one send_with_fds call carries.
inline constexpr std::size_t kMaxFdsPerDatagram = 16;

// One sendmsg(MSG_NOSIGNAL) of `bytes` with `fds` (at most kMaxFdsPerDatagram) as SCM_RIGHTS,
// retried on EINTR. Returns sendmsg's result, errno kept; throws std::invalid_argument for
// too many fds.
ssize_t send_with_fds(int socket, std::span<const std::byte> bytes, std::span<const int> fds);

// Sends `fd` with a one-byte datagram. Throws SysError.
void send_fd(int socket, int fd);

// Receives one fd sent by send_fd (O_CLOEXEC). Returns an invalid fd when the peer closed
// without sending, or sent anything other than exactly one fd.
UniqueFd receive_fd(int socket);

}  // namespace fence::platform
