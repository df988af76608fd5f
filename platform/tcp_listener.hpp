// Listening TCP sockets on the loopback of the current network namespace (the proxy
// listeners inside the sandbox).
#pragma once

#include <cstdint>

#include "platform/unique_fd.hpp"

namespace fence::platform {

// socket + SO_REUSEADDR + bind(127.0.0.1:port) + listen. Throws SysError.
UniqueFd listen_on_loopback(std::uint16_t port, int backlog = 512);

// True when `fd` is a listening AF_INET stream socket.
bool is_listening_tcp_socket(int fd);

}  // namespace fence::platform
