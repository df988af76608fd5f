// How the proxy worker starts and then locks itself in (DESIGN §1): an ordered list of steps,
// each with a one-line why. Everything here runs before the first untrusted byte is read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ipc/channel.hpp"
#include "ipc/protocol.hpp"
#include "platform/unique_fd.hpp"

namespace fence::proxy_worker {

// The worker's channel end, inherited from the supervisor at this fd.
using ipc::kChannelFd;

// Everything the supervisor hands the worker at startup.
struct WorkerStart {
  ipc::Channel channel;
  platform::UniqueFd http_listener;   // listening, 127.0.0.1 inside the sandbox's netns
  platform::UniqueFd socks_listener;  // idem
  ipc::ProxyStart limits;
};

// Process hygiene, then the handshake on fd 3: Hello both ways, then ProxyStart with its two
// listening fds. The channel and listeners are left non-blocking for the event loop.
// Throws (platform::SysError, ipc::ProtocolError, std::runtime_error) on any failure.
WorkerStart start_worker();

// Irreversibly restricts this process: own user + empty network namespace, no capabilities,
// rlimits, no_new_privs, Landlock with no filesystem access and no TCP bind/connect, and the
// seccomp allowlist last. Returns one line per step (for debug output). Throws on any failure
// (fail closed: the worker exits and the sandbox has no network).
std::vector<std::string> restrict_worker(const ipc::ProxyStart& limits);

// RLIMIT_NOFILE the worker asks for: per tunnel a client socket, an upstream socket and two
// splice pipes (4 fds), plus slack for the channel, listeners and the event loop.
std::uint64_t worker_fd_limit(std::uint32_t max_tunnels);

// RLIMIT_AS of the worker (0 = not set: sanitizer builds reserve terabytes of address space).
std::uint64_t worker_address_space_limit();

}  // namespace fence::proxy_worker
