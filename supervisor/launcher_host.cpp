#include "supervisor/launcher_host.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "ipc/handlers.hpp"
#include "platform/sys_error.hpp"
#include "supervisor/exit_codes.hpp"
#include "supervisor/network/worker_host.hpp"
#include "supervisor/policy/command_policy.hpp"
#include "supervisor/spawn.hpp"

namespace fence::supervisor {
namespace {

constexpr ipc::Route<LauncherHost> kRoutes[] = {
    ipc::route<&LauncherHost::on_listeners_ready>(),
    ipc::route<&LauncherHost::on_local_listener_ready>(),
    ipc::route<&LauncherHost::on_sandbox_ready>(),
    ipc::route<&LauncherHost::on_setup_failed>(),
    ipc::route<&LauncherHost::on_exec_failed>(),
    ipc::route<&LauncherHost::on_command_exited>(),
    ipc::route<&LauncherHost::on_inbound_ready>(),
    ipc::route<&LauncherHost::on_inbound_failed>(),
    ipc::route<&LauncherHost::on_exec_check>(),
    ipc::route<&LauncherHost::on_violation>(),
    ipc::route<&LauncherHost::on_unix_connect>(),
    ipc::route<&LauncherHost::on_transparent_ready>(),
};
static_assert(ipc::routes_complete(kRoutes, ipc::Role::Launcher, ipc::Role::Supervisor));

std::string describe_errno(int error) {
  return error ? std::strerror(error) : "failed";
}

RunOutcome failed(std::string error) {
  RunOutcome outcome;
  outcome.exit_code = kExitSetupFailed;
  outcome.error = std::move(error);
  return outcome;
}

platform::UniqueFd block_forwarded_signals(sigset_t& old_mask) {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : ipc::kForwardedSignals) sigaddset(&set, sig);
  sigaddset(&set, SIGCHLD);
  if (::sigprocmask(SIG_BLOCK, &set, &old_mask) != 0) throw platform::SysError("sigprocmask");
  platform::UniqueFd fd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!fd) throw platform::SysError("signalfd");
  return fd;
}

// fence's stdin, stdout and stderr, for the command (LaunchSpec's fds). A stream fence was
// started without is /dev/null for the command.
class CommandStdio {
 public:
  CommandStdio() {
    for (int fd = 0; fd < 3; ++fd) {
      if (::fcntl(fd, F_GETFD) >= 0) {
        fds_[fd] = fd;
        continue;
      }
      null_[fd].reset(::open("/dev/null", (fd == 0 ? O_RDONLY : O_WRONLY) | O_CLOEXEC));
      if (!null_[fd]) throw platform::SysError("open /dev/null");
      fds_[fd] = null_[fd].get();
    }
  }
  operator std::span<const int>() const { return fds_; }

 private:
  int fds_[3] = {-1, -1, -1};
  platform::UniqueFd null_[3];
};

}  // namespace

LauncherHost::LauncherHost(const ipc::LaunchSpec& spec, SessionParts parts, EventSink& events,
                           DebugSink debug)
    : spec_(spec), parts_(parts), events_(events), debug_(std::move(debug)) {}

RunOutcome LauncherHost::run(const std::string& launcher_path) {
  sigset_t old_mask;
  signal_fd_ = block_forwarded_signals(old_mask);
  auto [ours, theirs] = ipc::make_channel_pair();
  std::error_code spawn_error;
  launcher_pid_ = spawn_helper(launcher_path, theirs.get(), spawn_error);
  theirs.reset();
  if (launcher_pid_ < 0) {
    ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
    return failed("cannot start " + launcher_path + ": " + spawn_error.message());
  }
  channel_.emplace(std::move(ours), ipc::Role::Supervisor, ipc::Role::Launcher);
  try {
    send_launch_spec();
    // The worker, started first, sets itself up while the launcher builds the sandbox; the
    // command may start only once it has answered (without a worker it never runs).
    if (parts_.worker) {
      try {
        parts_.worker->await_worker();
      } catch (const std::exception& e) {
        end(failed(std::string("proxy worker: ") + e.what()));
      }
    }
    if (!outcome_) {
      send_start_command();
      serve();
    }
  } catch (const ipc::ProtocolError& e) {
    end(failed(std::string("protocol violation by the launcher: ") + e.what()));
  } catch (const std::exception& e) {
    end(failed(e.what()));
  }
  int status = 0;
  ::kill(launcher_pid_, SIGKILL);
  platform::retry_eintr([&] { return ::waitpid(launcher_pid_, &status, 0); });
  ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  return std::move(*outcome_);
}

// --- supervisor -> launcher -------------------------------------------------------------------

void LauncherHost::send_launch_spec() {
  channel_->send_hello();
  channel_->send(spec_, CommandStdio());
}

void LauncherHost::send_start_command() {
  // A launcher that is gone already (a step failed) left its SetupFailed for the loop.
  channel_->send_unless_gone(ipc::StartCommand{});
}

void LauncherHost::send_inbound_open(std::uint64_t id, std::uint16_t port) {
  channel_->send_unless_gone(ipc::InboundOpen{id, port});
}

void LauncherHost::send_exec_verdict(std::uint64_t id, bool allowed) {
  // The sandbox may have ended meanwhile; its CommandExited is then queued.
  channel_->send_unless_gone(ipc::ExecVerdict{id, allowed});
}

// --- the event loop ---------------------------------------------------------------------------

void LauncherHost::serve() {
  while (!outcome_) poll_once();
}

void LauncherHost::poll_once() {
  WorkerHost* worker = parts_.worker;
  InboundForwarder* inbound = parts_.inbound;
  // The worker host's descriptors change when its worker dies, so the set is rebuilt each turn.
  std::vector<pollfd> fds = {{channel_->fd(), POLLIN, 0}, {signal_fd_.get(), POLLIN, 0}};
  if (worker)
    for (int fd : worker->poll_fds()) {
      const bool out = worker->wants_write() && fd == worker->channel_fd();
      fds.push_back({fd, static_cast<short>(POLLIN | (out ? POLLOUT : 0)), 0});
    }
  // -p connections are accepted only once the sandbox exists (no launcher to ask before).
  if (inbound && ready_) inbound->add_poll_fds(fds, worker ? worker->relay_count() : 0);
  const int timeout = inbound ? inbound->next_timeout_ms() : -1;
  if (::poll(fds.data(), fds.size(), timeout) < 0) {
    if (errno == EINTR) return;
    throw platform::SysError("poll");
  }
  for (std::size_t i = 2; i < fds.size(); ++i) {
    if (inbound && inbound->owns(fds[i].fd)) {
      if (fds[i].revents & POLLIN) inbound->on_readable(fds[i].fd, *this);
      continue;
    }
    if (fds[i].revents & POLLOUT) worker->on_writable();
    if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) worker->on_readable(fds[i].fd);
  }
  if (inbound) inbound->on_timer(*this);
  if (fds[1].revents & POLLIN) forward_signals();
  if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) receive_from_launcher();
}

void LauncherHost::forward_signals() {
  struct signalfd_siginfo info {};
  while (::read(signal_fd_.get(), &info, sizeof info) == sizeof info) {
    // Terminal-generated signals (SI_KERNEL) already reach the command's process group.
    if (info.ssi_signo != SIGCHLD && static_cast<int>(info.ssi_code) <= 0)
      ::kill(launcher_pid_, static_cast<int>(info.ssi_signo));
  }
}

void LauncherHost::receive_from_launcher() {
  auto incoming = channel_->receive();
  if (!incoming) return end(failed("the sandbox launcher exited unexpectedly"));
  ipc::dispatch(kRoutes, *this, *incoming);
}

// --- launcher -> supervisor -------------------------------------------------------------------

void LauncherHost::on_listeners_ready(const ipc::ListenersReady& msg,
                                      std::vector<platform::UniqueFd> fds) {
  if (msg.http_port != spec_.http_proxy_port || msg.socks_port != spec_.socks_proxy_port)
    throw ipc::ProtocolError("ListenersReady: ports differ from the LaunchSpec");
  // Without a worker the listeners close here: nothing answers inside the sandbox.
  if (parts_.worker) parts_.worker->send_proxy_start(std::move(fds));
}

void LauncherHost::on_local_listener_ready(const ipc::LocalListenerReady& msg,
                                           std::vector<platform::UniqueFd> fds) {
  const auto& ports = spec_.local_outbound_ports;
  if (std::find(ports.begin(), ports.end(), msg.port) == ports.end() ||
      !local_ports_seen_.insert(msg.port).second)
    throw ipc::ProtocolError("LocalListenerReady: port " + std::to_string(msg.port) +
                             " not asked for, or reported twice");
  if (parts_.worker) parts_.worker->send_local_listener(msg.port, std::move(fds.at(0)));
}

void LauncherHost::on_transparent_ready(const ipc::TransparentReady& msg,
                                        std::vector<platform::UniqueFd> fds) {
  if (!spec_.transparent || msg.tcp_port != spec_.transparent_port ||
      msg.dns_port != spec_.dns_port)
    throw ipc::ProtocolError("TransparentReady: not asked for, or other ports than the spec's");
  // Without a worker the sockets close here: nothing answers inside the sandbox.
  if (parts_.worker) parts_.worker->send_transparent_start(msg.tcp_port, msg.dns_port, std::move(fds));
}

void LauncherHost::on_sandbox_ready(const ipc::SandboxReady& msg) {
  ready_ = true;
  events_.sandbox_ready(msg);
  if (debug_)
    for (const auto& line : msg.plan) debug_(line);
}

void LauncherHost::on_setup_failed(const ipc::SetupFailed& msg) {
  RunOutcome outcome =
      failed("sandbox setup failed at \"" + msg.step + "\": " + describe_errno(msg.error) +
             (msg.detail.empty() ? "" : " (" + msg.detail + ")"));
  outcome.failed_stage = msg.stage;
  end(std::move(outcome));
}

void LauncherHost::on_exec_failed(const ipc::ExecFailed& msg) {
  const bool not_found = msg.error == ENOENT || msg.error == ENOTDIR;
  RunOutcome outcome;
  outcome.exit_code = not_found ? kExitNotFound : kExitNotExecutable;
  outcome.error = spec_.argv.front() + ": " +
                  (not_found ? std::string("command not found in the sandbox")
                             : "cannot execute: " + describe_errno(msg.error));
  end(std::move(outcome));
}

void LauncherHost::on_command_exited(const ipc::CommandExited& msg) {
  RunOutcome outcome;
  outcome.exit_code = msg.signaled ? 128 + msg.status : msg.status;
  outcome.signal = msg.signaled ? msg.status : 0;
  end(std::move(outcome));
}

void LauncherHost::on_inbound_ready(const ipc::InboundReady& msg,
                                    std::vector<platform::UniqueFd> fds) {
  if (!parts_.inbound) throw ipc::ProtocolError("InboundReady without -p");
  parts_.inbound->on_ready(msg.id, std::move(fds.at(0)), parts_.worker);
}

void LauncherHost::on_inbound_failed(const ipc::InboundFailed& msg) {
  if (!parts_.inbound) throw ipc::ProtocolError("InboundFailed without -p");
  parts_.inbound->on_failed(msg.id, msg.error);
}

void LauncherHost::on_exec_check(const ipc::ExecCheck& msg) {
  if (!spec_.check_exec) throw ipc::ProtocolError("ExecCheck not asked for");
  // SECURITY: the argv is whole (init never sends part of one) and hostile text. Without a
  // policy to ask, nothing is let through.
  bool allowed = false;
  if (parts_.commands) {
    const CommandPolicy::Verdict v = parts_.commands->check_exec(msg.path, msg.argv);
    events_.command({"exec", msg.argv, msg.path, v.blocked, v.rule, v.command, msg.pid, msg.comm});
    allowed = !v.blocked;
  }
  send_exec_verdict(msg.id, allowed);
}

void LauncherHost::on_violation(const ipc::Violation& msg) {
  if (!spec_.report_violations) throw ipc::ProtocolError("Violation report not asked for");
  events_.violation(msg);
}

void LauncherHost::on_unix_connect(const ipc::UnixConnect& msg) {
  if (!spec_.report_violations) throw ipc::ProtocolError("UnixConnect report not asked for");
  // SECURITY: only a listed socket is ever reported as reached.
  if (std::find(spec_.unix_sockets.begin(), spec_.unix_sockets.end(), msg.path) ==
      spec_.unix_sockets.end())
    throw ipc::ProtocolError("UnixConnect for an unlisted path");
  events_.unix_connect(msg);
}

}  // namespace fence::supervisor
