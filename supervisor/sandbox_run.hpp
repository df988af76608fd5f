// Runs one sandboxed command: spawns fence-launcher with Boost.Process (its channel end at
// fd 3, nothing else inherited but stdio), sends the LaunchSpec, forwards signals, and turns
// the launcher's reports into fence's exit status.
#pragma once

#include <functional>
#include <string>

#include "ipc/protocol.hpp"

namespace fence::supervisor {

struct RunOutcome {
  int exit_code = 0;       // what fence should exit with
  int signal = 0;          // the signal that killed the command, 0 if it exited
  std::string error;       // set when fence itself failed: one line naming the cause
  std::vector<std::string> plan;  // sandbox plan lines (debug)
};

// Prints debug lines as they arrive when set.
using DebugSink = std::function<void(const std::string&)>;

class NetworkBroker;

// `broker` (optional) receives the sandbox's proxy listeners and is served from the same event
// loop while the command runs.
RunOutcome run_sandboxed(const std::string& launcher_path, const ipc::LaunchSpec& spec,
                         const DebugSink& debug, NetworkBroker* broker = nullptr);

// The launcher executable: next to this binary in the build tree, or
// ../libexec/fence/fence-launcher when installed.
std::string find_helper(const std::string& name);

}  // namespace fence::supervisor
