#include "launcher/supervisor_link.hpp"

#include <sys/wait.h>

#include <cerrno>
#include <span>
#include <utility>

#include "ipc/errors.hpp"
#include "launcher/inbound_client.hpp"

namespace fence::launcher {
namespace {

constexpr const char* kWaitForFence = "command: wait for fence";

std::vector<std::string> clipped(std::vector<std::string> lines) {
  if (lines.size() > ipc::kMaxPlanLines) lines.resize(ipc::kMaxPlanLines);
  for (auto& line : lines)
    if (line.size() > ipc::kMaxTextLen) line.resize(ipc::kMaxTextLen);
  return lines;
}

// A report the supervisor may never read (it is gone, or the report is malformed): what was
// decided stands either way.
template <typename Report>
void send_report(ipc::Channel& channel, const Report& report) {
  try {
    channel.send(report);
  } catch (const std::exception&) {
  }
}

}  // namespace

// --- the launcher's steps that wait for the supervisor -------------------------------------------

std::optional<ReceivedLaunchSpec> SupervisorLink::receive_launch_spec() {
  auto incoming = channel_.receive();
  if (!incoming) return std::nullopt;
  ipc::dispatch(kRoutes, *this, *incoming);
  return std::exchange(launch_spec_, std::nullopt);
}

void SupervisorLink::await_start_command() {
  phase_ = Phase::AwaitingStart;
  run_step(Stage::Command, kWaitForFence, [&] {
    auto incoming = channel_.receive();
    if (!incoming) throw StepError(Stage::Command, kWaitForFence, EPROTO);
    ipc::dispatch(kRoutes, *this, *incoming);
  });
}

void SupervisorLink::serve_command(InboundClient* inbound, Notifier* notifier) {
  inbound_ = inbound;
  notifier_ = notifier;
  phase_ = Phase::Serving;
}

bool SupervisorLink::receive() {
  auto incoming = channel_.receive();
  if (!incoming) return false;
  ipc::dispatch(kRoutes, *this, *incoming);
  return true;
}

// --- supervisor -> launcher ----------------------------------------------------------------------

void SupervisorLink::on_launch_spec(const ipc::LaunchSpec& spec,
                                    std::vector<platform::UniqueFd> stdio) {
  if (phase_ != Phase::AwaitingLaunchSpec) out_of_order(ipc::MessageType::LaunchSpec);
  launch_spec_ = ReceivedLaunchSpec{spec, std::move(stdio)};
  phase_ = Phase::Building;
}

// Why init waits for it: the command starts only when fence says its side is up (the proxy
// worker answers); any other message, or none, means it never starts.
void SupervisorLink::on_start_command(const ipc::StartCommand&) {
  if (phase_ != Phase::AwaitingStart) out_of_order(ipc::MessageType::StartCommand);
  phase_ = Phase::Started;
}

void SupervisorLink::on_exec_verdict(const ipc::ExecVerdict& verdict) {
  if (phase_ != Phase::Serving) out_of_order(ipc::MessageType::ExecVerdict);
  // SECURITY: an answer to an ExecCheck this init sent and has not had answered; any other id
  // is a protocol violation (the notifier lets nothing through for it).
  if (!notifier_ || !notifier_->on_verdict(verdict))
    throw ipc::ProtocolError("ExecVerdict for id " + std::to_string(verdict.id) +
                             ", which is not pending");
}

void SupervisorLink::on_inbound_open(const ipc::InboundOpen& request) {
  if (phase_ != Phase::Serving) out_of_order(ipc::MessageType::InboundOpen);
  if (!inbound_)
    throw ipc::ProtocolError("InboundOpen for port " + std::to_string(request.port) +
                             ", which this run does not serve");
  inbound_->open(request);
}

void SupervisorLink::out_of_order(ipc::MessageType type) const {
  const std::string name(ipc::message_name(type));
  switch (phase_) {
    case Phase::AwaitingLaunchSpec:
      throw ipc::ProtocolError("expected LaunchSpec, got " + name);
    case Phase::AwaitingStart:
      throw StepError(Stage::Command, kWaitForFence, EPROTO);
    case Phase::Building:
    case Phase::Started:
    case Phase::Serving:
      break;
  }
  throw ipc::ProtocolError(name + " out of order");
}

// --- launcher -> supervisor ----------------------------------------------------------------------

void SupervisorLink::send_listeners_ready(std::uint16_t http_port, int http_fd,
                                          std::uint16_t socks_port, int socks_fd) {
  const int fds[] = {http_fd, socks_fd};
  channel_.send(ipc::ListenersReady{http_port, socks_port}, fds);
}

void SupervisorLink::send_local_listener_ready(std::uint16_t port, int listener_fd) {
  channel_.send(ipc::LocalListenerReady{port}, std::span<const int>(&listener_fd, 1));
}

void SupervisorLink::send_transparent_ready(std::uint16_t tcp_port, int tcp_fd,
                                            std::uint16_t dns_port, int dns_fd, int dns_stream_fd) {
  const int fds[] = {tcp_fd, dns_fd, dns_stream_fd};
  channel_.send(ipc::TransparentReady{tcp_port, dns_port}, fds);
}

void SupervisorLink::send_sandbox_ready(pid_t command_pid, int landlock_abi,
                                        std::vector<std::string> plan_lines) {
  ipc::SandboxReady ready;
  ready.command_pid = static_cast<std::uint32_t>(command_pid);
  ready.landlock_abi = static_cast<std::uint32_t>(landlock_abi);
  ready.seccomp = true;
  ready.plan = clipped(std::move(plan_lines));
  channel_.send(ready);
}

void SupervisorLink::send_setup_failed(const StepError& failure) {
  ipc::SetupFailed msg;
  msg.stage = failure.stage();
  msg.step = failure.step().substr(0, ipc::kMaxTextLen);
  msg.error = failure.error();
  msg.detail = failure.detail().substr(0, ipc::kMaxDetailLen);  // may be a long path
  channel_.send(msg);
}

void SupervisorLink::send_setup_failed(const std::exception& unexpected) {
  ipc::SetupFailed msg;
  msg.step = "launcher";
  msg.detail = std::string(unexpected.what()).substr(0, ipc::kMaxDetailLen);
  channel_.send_unless_gone(msg);
}

void SupervisorLink::send_exec_failed(int error) {
  channel_.send(ipc::ExecFailed{error});
}

void SupervisorLink::send_command_exited(int wait_status) {
  ipc::CommandExited msg;
  if (WIFSIGNALED(wait_status)) {
    msg.signaled = true;
    msg.status = WTERMSIG(wait_status);
  } else {
    msg.status = WEXITSTATUS(wait_status);
  }
  channel_.send(msg);
}

void SupervisorLink::send_inbound_ready(std::uint64_t id, int connected_fd) {
  channel_.send(ipc::InboundReady{id}, std::span<const int>(&connected_fd, 1));
}

void SupervisorLink::send_inbound_failed(std::uint64_t id, int error) {
  channel_.send(ipc::InboundFailed{id, error});
}

void SupervisorLink::send_exec_check(const ipc::ExecCheck& check) {
  channel_.send(check);
}

void SupervisorLink::send_violation(const ipc::Violation& violation) {
  send_report(channel_, violation);
}

void SupervisorLink::send_unix_connect(const ipc::UnixConnect& connect) {
  send_report(channel_, connect);
}

}  // namespace fence::launcher
