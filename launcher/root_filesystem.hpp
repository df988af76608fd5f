// Builds the sandbox's root filesystem inside the new mount namespace and pivots into it.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "ipc/protocol.hpp"
#include "launcher/notify/creatable_roots.hpp"
#include "platform/unique_fd.hpp"

namespace fence::launcher {

// Mount steps, in this order (each step's "why" is in root_filesystem.cpp):
//   private propagation, staging tmpfs, read-only copy of the host tree, /proc, /dev, /tmp,
//   /run, allowWrite binds, pins of protected paths' parents, read-only binds, denyRead masks,
//   clones held for creatable allowWrite entries (into `creatable`), pivot_root. Returns
//   human-readable plan lines. Throws StepError.
// `stdio` are the command's stdin, stdout and stderr: a terminal of the host among them keeps
// its name inside (/dev/pts/N), so tty and ttyname work. `nest_listener` gets the socket that
// fence runs inside listen on (ipc::kNestSocket; notify/nest_registry.hpp), made with
// /run/fence on the private /run's fresh tmpfs (none when the sandbox has no /run of its own).
std::vector<std::string> build_root_filesystem(const ipc::LaunchSpec& spec,
                                               std::span<const int> stdio,
                                               std::vector<CreatableRoot>& creatable,
                                               platform::UniqueFd& nest_listener);

}  // namespace fence::launcher
