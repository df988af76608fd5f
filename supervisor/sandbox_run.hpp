// Runs one sandboxed command: spawns fence-launcher with Boost.Process (its channel end at
// fd 3, nothing else inherited but stdio), sends the LaunchSpec, forwards signals, and turns
// the launcher's reports into fence's exit status.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ipc/protocol.hpp"

namespace fence::supervisor {

struct RunOutcome {
  int exit_code = 0;  // what fence should exit with
  int signal = 0;     // the signal that killed the command, 0 if it exited
  std::string error;  // set when fence itself failed: one line naming the cause
  // The part of the sandbox's construction that failed (SetupFailed), when one did.
  std::optional<ipc::SetupStage> failed_stage;
  std::vector<std::string> plan;  // sandbox plan lines (debug)
};

// Prints debug lines as they arrive when set.
using DebugSink = std::function<void(const std::string&)>;

class NetworkBroker;
class InboundForwarder;

// What else the run's event loop serves while the command runs (all optional).
struct SandboxServices {
  // Receives the sandbox's proxy and transparent listeners; its worker is served here.
  NetworkBroker* broker = nullptr;
  // -p: host listeners whose connections the launcher carries into the sandbox.
  InboundForwarder* inbound = nullptr;
  // The sandbox is complete and the command is being executed: what is actually enforced.
  std::function<void(const ipc::SandboxReady&)> on_ready;
  // Violation reports from init (only sent when LaunchSpec::report_violations).
  std::function<void(const ipc::Violation&)> on_violation;
  // A connect to a listed host socket, performed by init (only sent when
  // LaunchSpec::report_violations and allowUnixSockets).
  std::function<void(const ipc::UnixConnect&)> on_unix_connect;
  // The runtime command policy: true = the execve may proceed. Only asked when
  // LaunchSpec::check_exec; without a handler every exec is refused.
  std::function<bool(const ipc::ExecCheck&)> on_exec_check;
};

RunOutcome run_sandboxed(const std::string& launcher_path, const ipc::LaunchSpec& spec,
                         const DebugSink& debug, const SandboxServices& services = {});

// The launcher executable: next to this binary in the build tree, or
// ../libexec/fence/fence-launcher when installed.
std::string find_helper(const std::string& name);

}  // namespace fence::supervisor
