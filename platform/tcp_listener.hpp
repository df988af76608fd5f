// Listening TCP sockets on the loopback of the current network namespace (the proxy
// listeners inside the sandbox).
#pragma once

#include <cstdint>
#include <string>

#include "platform/unique_fd.hpp"

namespace fence::platform {

// socket + SO_REUSEADDR + bind(127.0.0.1:port) + listen. Throws SysError.
UniqueFd listen_on_loopback(std::uint16_t port, int backlog = 512);

// socket + SO_REUSEADDR + bind(address:port) + listen, non-blocking, for an IPv4 or IPv6
// literal (IPv6 sockets are IPV6_V6ONLY). Throws SysError naming the address.
UniqueFd listen_on(const std::string& address, std::uint16_t port, int backlog = 512);

// Starts a non-blocking connect to 127.0.0.1:port in the current network namespace. Returns
// the socket with `in_progress` set when the kernel answered EINPROGRESS; throws SysError
// (ECONNREFUSED when nothing listens) otherwise.
UniqueFd connect_loopback(std::uint16_t port, bool& in_progress);

// True when `fd` is a listening AF_INET stream socket.
bool is_listening_tcp_socket(int fd);
// True when `fd` is a connected AF_INET/AF_INET6 stream socket.
bool is_connected_tcp_socket(int fd);

}  // namespace fence::platform
