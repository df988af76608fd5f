// TCP sockets of fence: listeners on the loopback of the current network namespace (the proxy
// listeners inside the sandbox), the -p endpoints, and the congestion control of connections
// that stay on this host.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>

#include "platform/unique_fd.hpp"

namespace fence::platform {

// socket + SO_REUSEADDR + bind(127.0.0.1:port) + listen. Throws SysError.
UniqueFd listen_on_loopback(std::uint16_t port, int backlog = 512);

// A TCP socket bound to [::1]:port (IPV6_V6ONLY) and not listening: while it is open nobody
// else can listen there, and a client trying ::1 first (`localhost`) is refused at once and
// goes on to 127.0.0.1. Invalid when the namespace has no IPv6 loopback. Throws SysError for
// any other failure (the port taken).
UniqueFd reserve_ipv6_loopback_port(std::uint16_t port);

// socket + SO_REUSEADDR + bind(address:port) + listen, non-blocking, for an IPv4 or IPv6
// literal (IPv6 sockets are IPV6_V6ONLY). Throws SysError naming the address.
UniqueFd listen_on(const std::string& address, std::uint16_t port, int backlog = 512);

// Starts a non-blocking connect to 127.0.0.1:port in the current network namespace. Returns
// the socket with `in_progress` set when the kernel answered EINPROGRESS; throws SysError
// (ECONNREFUSED when nothing listens) otherwise.
UniqueFd connect_loopback(std::uint16_t port, bool& in_progress);

// True when a connection between these two endpoints never leaves this host: the peer is a
// loopback address (127/8, ::1, ::ffff:127/104) or equals the local address.
bool is_same_host_connection(const sockaddr_storage& local, const sockaddr_storage& peer);

// For a connected TCP socket whose peer is on this host (a loopback address, or the socket's
// own local address), switches its congestion control to reno; any other socket is left
// alone. Why: such a connection crosses lo, which has no queue to probe and no loss, and a
// pacing algorithm (BBR, a common host default) only makes each send wait for its pacing
// timer (docs/benchmarks.md). reno is allowed for every user. Best effort: returns whether
// it was switched.
bool use_unpaced_congestion_control_if_local(int fd);

// A UDP socket bound to 127.0.0.1:port (the transparent path's DNS socket). Throws SysError.
UniqueFd bind_udp_on_loopback(std::uint16_t port);
// Makes the close of a TCP socket a reset (SO_LINGER 0): the peer's connect or read fails at
// once instead of seeing an orderly end. Best effort.
void reset_on_close(int fd);

// True when `fd` is a listening AF_INET stream socket.
bool is_listening_tcp_socket(int fd);
// An AF_INET datagram socket (the transparent path's DNS socket).
bool is_udp_socket(int fd);
// The destination a redirected TCP connection was made to (SO_ORIGINAL_DST, or
// IP6T_SO_ORIGINAL_DST for an IPv6 socket), as netfilter's connection tracking recorded it;
// nullopt when `fd` has none.
std::optional<sockaddr_storage> original_destination(int fd);
// True when `fd` is a connected AF_INET/AF_INET6 stream socket.
bool is_connected_tcp_socket(int fd);

}  // namespace fence::platform
