// The proxy worker's own seccomp profile: an ALLOWLIST, installed last (worker_sandbox.cpp).
//
// The worker only ever needs to move bytes between fds it already holds (or receives over its
// channel) and to run a single-threaded epoll loop. Everything else — socket, connect, bind,
// listen, open*, exec*, clone/fork, ptrace, mount, ... — is not in the list.
#pragma once

#include <string>
#include <vector>

namespace fence::proxy_worker {

// Loads the filter for the calling (only) thread. The caller has set no_new_privs.
// Default action: KILL_PROCESS. Why kill rather than EPERM: the worker's code never issues a
// syscall outside this list, so one that arrives means the parser was subverted (or a bug we
// want loud); the supervisor sees the channel close and the sandbox's network fails closed.
// Other architectures (i386 via int 0x80, x32) are killed too. Throws platform::SysError.
void install_worker_seccomp();

// One line per rule group, written from the tables the filter is built from (the worker's
// sandbox steps with `fence -d`).
std::vector<std::string> describe_worker_seccomp();

}  // namespace fence::proxy_worker
