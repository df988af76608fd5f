// How the proxy worker starts and then locks itself in (DESIGN §1): an ordered list of steps,
// each with a one-line why. Everything here runs before the first untrusted byte is read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ipc/protocol.hpp"

namespace fence::proxy_worker {

// Steps 1-3, before the first message: non-dumpable, dies with the supervisor, holds exactly
// stdio and its channel end (ipc::kChannelFd). Step 4, the handshake, is SupervisorClient's.
// Throws platform::SysError.
void prepare_process();

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
