// The sandboxed command's last steps before execve: run in the child of init, after the root
// filesystem is complete. Never returns; failures are written to `error_fd` as an ExecReport.
#pragma once

#include <cstdint>

#include "ipc/protocol.hpp"
#include "launcher/command_seccomp.hpp"
#include "platform/landlock.hpp"

namespace fence::launcher {

// What the child tells init through its CLOEXEC pipe when it cannot exec. EOF on the pipe means
// execve succeeded.
struct ExecReport {
  std::uint32_t step = 0;  // index into kCommandSteps, or kExecStep for execve itself
  std::int32_t error = 0;  // errno
};

struct CommandStepName {
  ipc::SetupStage stage;
  const char* name;
};
inline constexpr CommandStepName kCommandSteps[] = {
    {ipc::SetupStage::Command, "command: reset signals"},
    {ipc::SetupStage::Command, "command: chdir"},
    {ipc::SetupStage::Command, "command: stdio, close stray fds"},
    {ipc::SetupStage::Command, "command: drop capabilities"},
    {ipc::SetupStage::Command, "command: no_new_privs"},
    {ipc::SetupStage::Landlock, "command: landlock"},
    {ipc::SetupStage::Seccomp, "command: seccomp"},
    {ipc::SetupStage::Seccomp, "command: hand seccomp listener to init"},
    {ipc::SetupStage::Command, "command: execve"},
};
inline constexpr std::uint32_t kExecStep = 8;

struct CommandSetup {
  const ipc::LaunchSpec* spec = nullptr;
  platform::LandlockPolicy landlock;
  SeccompOptions seccomp;
  int listener_socket = -1;     // with seccomp.needs_listener(): where the listener fd goes
  int stdio[3] = {-1, -1, -1};  // the command's stdin, stdout, stderr (from the LaunchSpec)
};

[[noreturn]] void exec_command(const CommandSetup& setup, int error_fd);

// Builds the Landlock policy of the sandbox from the spec (paths in the new root).
platform::LandlockPolicy landlock_policy_for(const ipc::LaunchSpec& spec);

}  // namespace fence::launcher
