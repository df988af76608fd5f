// What init derives from the LaunchSpec, in the finished root and before the fork, for the
// command child (its Landlock policy and seccomp options) and for the notifier (the names its
// filesystem guard protects), with the plan lines that describe them for -d.
#pragma once

#include <string>
#include <vector>

#include "ipc/protocol.hpp"
#include "launcher/command_child.hpp"
#include "launcher/notify/filesystem_guard.hpp"
#include "launcher/notify/protected_names.hpp"

namespace fence::launcher {

struct CommandPreparation {
  CommandSetup setup;    // spec, Landlock policy, seccomp options (fds: filled in by init)
  ProtectedNames names;  // protected at any depth of a writable tree
  GuardedNames guarded;  // protected paths missing inside a writable tree
  std::vector<std::string> plan_lines;
};

// Pure but for lstat(2) of the missing protected paths (after pivot_root).
CommandPreparation prepare_command_setup(const ipc::LaunchSpec& spec);

// The -d lines that describe the command's Landlock policy (at `abi`) and seccomp profile.
std::vector<std::string> filter_plan_lines(const CommandSetup& setup, int abi);

// The names protected at any depth of the writable trees of `spec`.
ProtectedNames protected_names_for(const ipc::LaunchSpec& spec);

// The protected paths of `spec` that are missing inside a writable tree and that no protected
// name covers, computed in the finished sandbox root (after pivot_root).
GuardedNames find_guarded_names(const ipc::LaunchSpec& spec, const ProtectedNames& names);

}  // namespace fence::launcher
