// fence inside fence: the launcher's plan when the LaunchSpec is nested (spec.nested), that is
// when fence runs inside another sandbox that allows no namespaces (see
// platform::nested_sandbox_evidence). There is no user, mount, pid or network namespace of its
// own, no mount and no listener: the command runs under the spec's Landlock ruleset and a
// seccomp profile without a listener, both stacked on the outer sandbox's (the kernel keeps
// every earlier domain and filter, so nothing here can loosen them).
//
//   1. child subreaper             every orphan of the command comes back here, so that the
//                                  end of the run ends all of them (there is no pid namespace
//                                  whose end would)
//   2. Landlock ABI, signal fd     fail closed without Landlock; signals queued from here on
//   3. await StartCommand
//   4. fork the command            command_child.cpp, with drop_remaining_capabilities
//   5. SandboxReady / ExecFailed / SetupFailed from the report pipe
//   6. serve                       forward signals, reap; when the command ends or the
//                                  supervisor is gone, kill every remaining descendant
#pragma once

#include "ipc/protocol.hpp"
#include "launcher/init.hpp"
#include "launcher/supervisor_link.hpp"

namespace fence::launcher {

// Returns the launcher's exit code; the command's status travels in CommandExited. Throws
// StepError when a step before the command fails (the command then never runs).
int run_nested(SupervisorLink& link, const ipc::LaunchSpec& spec, CommandStdio stdio);

}  // namespace fence::launcher
