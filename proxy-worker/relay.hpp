// The bytes of one allowed tunnel, both ways, between the client's socket and the upstream
// socket the supervisor connected (DESIGN §3 step 4).
//
// - Zero-copy: each direction splices socket -> pipe -> socket through its own pipe; a
//   direction falls back to read/write when splice is refused (EINVAL) or no pipe could be
//   made, and always for a request body that must be framed (absolute-form).
// - Half-close: EOF from one side becomes shutdown(SHUT_WR) on the other, and the opposite
//   direction keeps running. The tunnel ends when both directions saw EOF, on any error, or
//   after idle_timeout without a byte either way. There is NO cap on total duration.
// - Absolute-form requests (one request per client connection): `head_up` (the head the parser
//   rewrote) goes upstream first, then exactly one request body as framed by `body`; client
//   bytes after that body are read and dropped, never forwarded (see body_framer.hpp). The
//   rewritten head says "Connection: close", so the origin ends the response with EOF, which
//   reaches the client as EOF.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "platform/unique_fd.hpp"
#include "proxy-worker/body_framer.hpp"

namespace fence::proxy {

struct RelayStats {
  std::uint64_t bytes_up = 0;    // written to upstream (client -> upstream, head included)
  std::uint64_t bytes_down = 0;  // written to the client (upstream -> client)
  std::uint32_t duration_ms = 0;
};

struct RelayOptions {
  std::chrono::milliseconds idle_timeout{300000};
  std::string head_up;              // sent upstream first, as is
  std::string early_up;             // client bytes already read past the request: client data
  std::optional<BodyFramer> body;   // set: client -> upstream carries this one body only
};

// Starts relaying; `on_end` is called exactly once, from the event loop, when the tunnel has
// ended and both sockets are closed. Both fds are switched to non-blocking.
void start_relay(boost::asio::io_context& io, platform::UniqueFd client,
                 platform::UniqueFd upstream, RelayOptions options,
                 std::function<void(const RelayStats&)> on_end);

}  // namespace fence::proxy
