// The launcher's whole end of its channel to the supervisor, mirrored by the supervisor's end
// of the launcher channel: one send_<message> per message the launcher sends, one on_<message>
// handler per message it receives, routed through kRoutes (ipc/handlers.hpp). Hello belongs to
// the channel (launcher_main.cpp exchanges it before the link starts).
//
// Trust: the supervisor is fence itself, the launcher's parent; what it sends is the policy and
// is acted on as such once ipc has decoded and validated it (bounds, normalized absolute paths,
// known enums). What the launcher still checks here is the ORDER, against its own state:
//   LaunchSpec    first, and once                         the outer launcher waits for it
//   StartCommand  once, only while init waits for it      init forks the command on it
//   ExecVerdict   only for an ExecCheck init has pending  the notifier answers the exec
//   InboundOpen   only once the command has started, and only for a -p port (InboundClient)
// Anything else is a protocol violation and ends the launcher as the supervisor's death would:
// the outer launcher reports it (SetupFailed), init exits, and with it the whole sandbox.
//
// What the launcher sends may carry data from inside the sandbox (Violation, UnixConnect and
// ExecCheck name processes, paths and argv read there; InboundReady's socket reaches a sandboxed
// server): the supervisor treats those fields as hostile.
#pragma once

#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "ipc/channel.hpp"
#include "ipc/handlers.hpp"
#include "ipc/protocol.hpp"
#include "launcher/notify/notifier.hpp"
#include "launcher/step_error.hpp"
#include "platform/unique_fd.hpp"

namespace fence::launcher {

class InboundClient;

// The LaunchSpec as it arrived: the spec and the command's stdin, stdout and stderr.
struct ReceivedLaunchSpec {
  ipc::LaunchSpec spec;
  std::vector<platform::UniqueFd> stdio;
};

class SupervisorLink final : public NotifierSink {
 public:
  // `channel`: after the Hello exchange.
  explicit SupervisorLink(ipc::Channel& channel) : channel_(channel) {}

  int fd() const { return channel_.fd(); }

  // --- the launcher's steps that wait for the supervisor --------------------------------------

  // Outer launcher: the LaunchSpec. nullopt when the supervisor is gone first; throws
  // ipc::ProtocolError when anything else comes first.
  std::optional<ReceivedLaunchSpec> receive_launch_spec();

  // Init: waits for StartCommand. Throws StepError(Command, "command: wait for fence"): EPROTO
  // when the supervisor is gone or sends anything else first, errno 0 with the violation as
  // detail when the message breaks the protocol.
  void await_start_command();

  // Init, once the command runs: InboundOpen goes to `inbound`, ExecVerdict to `notifier` (none:
  // nothing is ever asked or served, and such a message is a violation).
  void serve_command(InboundClient* inbound, Notifier* notifier);

  // Init, while serving: handles the one message that is ready. False when the supervisor is
  // gone; throws on a protocol violation.
  bool receive();

  // --- launcher -> supervisor --------------------------------------------------------------------

  void send_listeners_ready(std::uint16_t http_port, int http_fd, std::uint16_t socks_port,
                            int socks_fd);
  void send_local_listener_ready(std::uint16_t port, int listener_fd);
  void send_transparent_ready(std::uint16_t tcp_port, int tcp_fd, std::uint16_t dns_port,
                              int dns_fd, int dns_stream_fd);
  // `plan_lines`: the sandbox plan for -d (empty unless LaunchSpec::debug); clipped to the
  // protocol's bounds.
  void send_sandbox_ready(pid_t command_pid, int landlock_abi, std::vector<std::string> plan_lines);
  // A plan step failed, the command will not run: its stage, name and errno, and the detail
  // (the name and detail cut to ipc::kMaxTextLen).
  void send_setup_failed(const StepError& failure);
  // The outer launcher failed outside any step (e.g. a LaunchSpec that does not decode): step
  // "launcher", the error's text as detail. Best effort: a supervisor that is gone is not told.
  void send_setup_failed(const std::exception& unexpected);
  void send_exec_failed(int error);
  void send_command_exited(int wait_status);
  void send_inbound_ready(std::uint64_t id, int connected_fd);
  void send_inbound_failed(std::uint64_t id, int error);
  // The notifier's messages (NotifierSink). Violation and UnixConnect are best effort (a lost
  // report never changes an answer); an ExecCheck that cannot be sent throws, and the notifier
  // then refuses the exec.
  void send_exec_check(const ipc::ExecCheck& check) override;
  void send_violation(const ipc::Violation& violation) override;
  void send_unix_connect(const ipc::UnixConnect& connect) override;

  // --- supervisor -> launcher: one handler per message ----------------------------------------

  void on_launch_spec(const ipc::LaunchSpec& spec, std::vector<platform::UniqueFd> stdio);
  void on_start_command(const ipc::StartCommand& start);
  void on_exec_verdict(const ipc::ExecVerdict& verdict);
  void on_inbound_open(const ipc::InboundOpen& request);

  static constexpr ipc::Route<SupervisorLink> kRoutes[] = {
      ipc::route<&SupervisorLink::on_launch_spec>(),
      ipc::route<&SupervisorLink::on_start_command>(),
      ipc::route<&SupervisorLink::on_exec_verdict>(),
      ipc::route<&SupervisorLink::on_inbound_open>(),
  };

 private:
  // Where the launcher is in its life: what it may receive now.
  enum class Phase {
    AwaitingLaunchSpec,  // outer launcher, after Hello
    Building,            // the sandbox is being built: nothing is read from the channel
    AwaitingStart,       // init waits for StartCommand
    Started,             // StartCommand came; the command is being forked
    Serving,             // the command runs: ExecVerdict and InboundOpen
  };

  // The message came when the launcher's state does not allow it.
  [[noreturn]] void out_of_order(ipc::MessageType type) const;

  ipc::Channel& channel_;
  Phase phase_ = Phase::AwaitingLaunchSpec;
  std::optional<ReceivedLaunchSpec> launch_spec_;  // set by on_launch_spec until taken
  InboundClient* inbound_ = nullptr;               // set while Serving
  Notifier* notifier_ = nullptr;                   // set while Serving, when there is one
};

static_assert(ipc::routes_complete(SupervisorLink::kRoutes, ipc::Role::Supervisor,
                                   ipc::Role::Launcher));

}  // namespace fence::launcher
