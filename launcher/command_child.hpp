// The sandboxed command's last steps before execve: run in the child of init, after the root
// filesystem is complete. Never returns; a failed step is written to `report_fd` as an
// ExecReport, which init turns into SetupFailed (or ExecFailed, for execve itself).
#pragma once

#include <cstdint>
#include <string_view>

#include "ipc/protocol.hpp"
#include "launcher/command_seccomp.hpp"
#include "platform/landlock.hpp"

namespace fence::launcher {

// The command child's steps, in the order it runs them (command_child.cpp says why).
enum class CommandStep : std::uint32_t {
  ResetSignals,
  Chdir,
  Stdio,
  NewSession,
  DropCapabilities,
  NoNewPrivs,
  Landlock,
  Seccomp,
  HandOverNotifyFd,
  Execve,  // the last: its failure is ExecFailed, not SetupFailed
};

struct CommandStepInfo {
  ipc::SetupStage stage;  // what the supervisor's advice for a failure depends on
  std::string_view name;  // SetupFailed::step
};

constexpr CommandStepInfo command_step_info(CommandStep step) {
  using ipc::SetupStage;
  switch (step) {
    case CommandStep::ResetSignals:
      return {SetupStage::Command, "command: reset signals"};
    case CommandStep::Chdir:
      return {SetupStage::Command, "command: chdir"};
    case CommandStep::Stdio:
      return {SetupStage::Command, "command: stdio, close stray fds"};
    case CommandStep::NewSession:
      return {SetupStage::Command, "command: new session (forceNewSession)"};
    case CommandStep::DropCapabilities:
      return {SetupStage::Command, "command: drop capabilities"};
    case CommandStep::NoNewPrivs:
      return {SetupStage::Command, "command: no_new_privs"};
    case CommandStep::Landlock:
      return {SetupStage::Landlock, "command: landlock"};
    case CommandStep::Seccomp:
      return {SetupStage::Seccomp, "command: seccomp"};
    case CommandStep::HandOverNotifyFd:
      return {SetupStage::Seccomp, "command: hand seccomp listener to init"};
    case CommandStep::Execve:
      return {SetupStage::Command, "command: execve"};
  }
  return {SetupStage::Command, "command: unknown step"};
}

constexpr std::string_view to_string(CommandStep step) {
  return command_step_info(step).name;
}

constexpr ipc::SetupStage stage_of(CommandStep step) {
  return command_step_info(step).stage;
}

// What the child tells init through its CLOEXEC pipe when a step fails. EOF on the pipe means
// execve succeeded. Only fence's own code writes it (the command never holds the pipe); init
// still checks that `step` is a CommandStep before using it.
struct ExecReport {
  CommandStep step = CommandStep::ResetSignals;
  std::int32_t error = 0;  // errno
};

// Everything the child is given by init.
struct CommandSetup {
  const ipc::LaunchSpec* spec = nullptr;
  platform::LandlockPolicy landlock;
  SeccompOptions seccomp;
  int notify_fd_socket = -1;    // with seccomp.needs_listener(): where the notify fd goes
  int stdio[3] = {-1, -1, -1};  // the command's stdin, stdout, stderr (from the LaunchSpec)
};

[[noreturn]] void exec_command(const CommandSetup& setup, int report_fd);

}  // namespace fence::launcher
