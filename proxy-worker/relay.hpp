// The bytes of one allowed tunnel, both ways, between the client's socket and the upstream
// socket the supervisor connected (DESIGN §3 step 4).
//
// Used for CONNECT, SOCKS5 and transparent (LocalForward) tunnels and for inbound (-p)
// relays; absolute-form requests are forwarded one by one by HttpForwarder instead.
//
// Trust: the bytes are hostile both ways (the sandboxed program on one side, a server it chose
// on the other) and are never parsed: they are moved as they are, with no buffer beyond one
// chunk per direction. The two sockets are trusted to be what the supervisor's answer made
// them (ConnectAllowed, RelayStart).
// - Zero-copy: each direction splices socket -> pipe -> socket through its own 1 MiB pipe; a
//   direction falls back to read/write when splice is refused (EINVAL) or no pipe could be
//   made.
// - Half-close: EOF from one side becomes shutdown(SHUT_WR) on the other, and the opposite
//   direction keeps running. The tunnel ends when both directions saw EOF, on any error, or
//   after idle_timeout without a byte either way. There is NO cap on total duration.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "ipc/protocol.hpp"
#include "platform/unique_fd.hpp"

namespace fence::proxy_worker {

struct RelayStats {
  std::uint64_t bytes_up = 0;    // written to upstream (client -> upstream)
  std::uint64_t bytes_down = 0;  // written to the client (upstream -> client)
  std::uint32_t duration_ms = 0;
};

struct RelayOptions {
  std::chrono::milliseconds idle_timeout{ipc::ProxyStart{}.idle_timeout_ms};
  std::string early_up;  // client bytes already read past the request: tunnel data
};

// Starts relaying; `on_end` is called exactly once, from the event loop, when the tunnel has
// ended and both sockets are closed. Both fds are switched to non-blocking.
void start_relay(boost::asio::io_context& io, platform::UniqueFd client,
                 platform::UniqueFd upstream, RelayOptions options,
                 std::function<void(const RelayStats&)> on_end);

}  // namespace fence::proxy_worker
