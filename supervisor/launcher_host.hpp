// The supervisor's end of the launcher's channel, and the run's event loop. It starts
// fence-launcher, sends the LaunchSpec and (once the proxy worker has answered) StartCommand,
// then serves, until the command ends: the launcher's messages, the worker's host, the -p
// listeners and the signals fence forwards to the sandbox.
//
// One function per message, mirrored in the launcher's launcher/supervisor_link:
//   send_launch_spec, send_start_command, send_inbound_open, send_exec_verdict;
//   on_listeners_ready, on_local_listener_ready, on_sandbox_ready, on_setup_failed,
//   on_exec_failed, on_command_exited, on_inbound_ready, on_inbound_failed, on_exec_check,
//   on_violation, on_unix_connect (routed by kRoutes).
//
// Trust: the launcher is fence's own and trusted to report what it did, but what it relays
// from the sandbox (ExecCheck's argv, Violation's paths, comm) is hostile text, and every
// report is checked against what this run asked for (a Violation when none were asked for, a
// LocalListenerReady for a port not in the LaunchSpec, ... end the run as a protocol violation).
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ipc/channel.hpp"
#include "ipc/protocol.hpp"
#include "platform/unique_fd.hpp"
#include "supervisor/audit/events.hpp"
#include "supervisor/network/inbound_forwarder.hpp"

namespace fence::supervisor {

class CommandPolicy;
class WorkerHost;

struct RunOutcome {
  int exit_code = 0;  // what fence should exit with
  int signal = 0;     // the signal that killed the command, 0 if it exited
  std::string error;  // set when fence itself failed: one line naming the cause
  // The part of the sandbox's construction that failed (SetupFailed), when one did.
  std::optional<ipc::SetupStage> failed_stage;
};

// Prints the sandbox plan's lines (-d).
using DebugSink = std::function<void(const std::string&)>;

// What the session serves besides the launcher. Any pointer may be null: no proxy worker (its
// listeners then close unserved), no -p listeners, no runtime command policy (every exec the
// launcher asks about is refused).
struct SessionParts {
  WorkerHost* worker = nullptr;
  InboundForwarder* inbound = nullptr;
  const CommandPolicy* commands = nullptr;
};

class LauncherHost final : public InboundOpener {
 public:
  LauncherHost(const ipc::LaunchSpec& spec, SessionParts parts, EventSink& events, DebugSink debug);

  // The whole session; returns when the command has ended or the sandbox could not be built.
  RunOutcome run(const std::string& launcher_path);

  // --- supervisor -> launcher
  void send_launch_spec();
  void send_start_command();
  void send_inbound_open(std::uint64_t id, std::uint16_t port) override;
  void send_exec_verdict(std::uint64_t id, bool allowed);

  // --- launcher -> supervisor (routed by kRoutes; ipc::ProtocolError ends the run)
  void on_listeners_ready(const ipc::ListenersReady& msg, std::vector<platform::UniqueFd> fds);
  void on_transparent_ready(const ipc::TransparentReady& msg, std::vector<platform::UniqueFd> fds);
  void on_local_listener_ready(const ipc::LocalListenerReady& msg,
                               std::vector<platform::UniqueFd> fds);
  void on_sandbox_ready(const ipc::SandboxReady& msg);
  void on_setup_failed(const ipc::SetupFailed& msg);
  void on_exec_failed(const ipc::ExecFailed& msg);
  void on_command_exited(const ipc::CommandExited& msg);
  void on_inbound_ready(const ipc::InboundReady& msg, std::vector<platform::UniqueFd> fds);
  void on_inbound_failed(const ipc::InboundFailed& msg);
  void on_exec_check(const ipc::ExecCheck& msg);
  void on_violation(const ipc::Violation& msg);
  void on_unix_connect(const ipc::UnixConnect& msg);

 private:
  void serve();
  void poll_once();
  void forward_signals();
  void receive_from_launcher();
  void end(RunOutcome outcome) { outcome_ = std::move(outcome); }

  const ipc::LaunchSpec& spec_;
  SessionParts parts_;
  EventSink& events_;
  DebugSink debug_;
  std::optional<ipc::Channel> channel_;
  pid_t launcher_pid_ = -1;
  platform::UniqueFd signal_fd_;
  bool ready_ = false;  // SandboxReady received: the command runs
  std::set<std::uint16_t> local_ports_seen_;
  std::optional<RunOutcome> outcome_;  // set: the session is over
};

}  // namespace fence::supervisor
