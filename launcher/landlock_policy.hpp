// The command's Landlock policy, built from the LaunchSpec: the ruleset the command child
// applies before exec (command_child.cpp), and the same one the notifier's restricted threads
// act under (notify/restricted_thread.hpp).
#pragma once

#include "ipc/protocol.hpp"
#include "platform/landlock.hpp"

namespace fence::launcher {

// Paths are those of the new root (after pivot_root). The writable ones are
// writable_roots(spec) (writable_roots.hpp), plus /tmp and /dev/shm, which are always the
// sandbox's to write (a private tmpfs, or the host's /tmp when allowWrite names it).
platform::LandlockPolicy landlock_policy_for(const ipc::LaunchSpec& spec);

}  // namespace fence::launcher
