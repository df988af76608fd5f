// Builds the sandbox's root filesystem inside the new mount namespace and pivots into it.
#pragma once

#include <string>
#include <vector>

#include "ipc/protocol.hpp"

namespace fence::launcher {

// Mount steps, in this order (each step's "why" is in root_filesystem.cpp):
//   private propagation, staging tmpfs, read-only copy of the host tree, /proc, /dev, /tmp,
//   /run, allowWrite binds, pins of protected paths' parents, read-only binds, denyRead masks,
//   pivot_root. Returns human-readable plan lines. Throws StepError.
std::vector<std::string> build_root_filesystem(const ipc::LaunchSpec& spec);

}  // namespace fence::launcher
