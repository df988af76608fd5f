#include "supervisor/sandbox_run.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include "ipc/channel.hpp"
#include "platform/sys_error.hpp"
#include "supervisor/exit_codes.hpp"
#include "supervisor/network/inbound_forwarder.hpp"
#include "supervisor/network/network_broker.hpp"
#include "supervisor/spawn.hpp"

namespace fence::supervisor {
namespace {

std::string describe_errno(int error) {
  return error ? std::strerror(error) : "failed";
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

std::string find_helper(const std::string& name) {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw platform::SysError("readlink /proc/self/exe", ec.value());
  const auto dir = self.parent_path();
  for (const auto& candidate : {dir / name, dir / ".." / "libexec" / "fence" / name}) {
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.lexically_normal().string();
  }
  throw std::runtime_error("cannot find " + name + " next to " + self.string() +
                           " or in ../libexec/fence");
}

RunOutcome run_sandboxed(const std::string& launcher_path, const ipc::LaunchSpec& spec,
                         const DebugSink& debug, const SandboxServices& services) {
  NetworkBroker* broker = services.broker;
  InboundForwarder* inbound = services.inbound;
  std::set<std::uint16_t> local_ports_seen;
  RunOutcome outcome;
  auto [ours, theirs] = ipc::make_channel_pair();
  sigset_t old_mask;
  platform::UniqueFd signal_fd = block_forwarded_signals(old_mask);

  std::error_code spawn_error;
  const pid_t launcher_pid = spawn_helper(launcher_path, theirs.get(), spawn_error);
  theirs.reset();
  if (launcher_pid < 0) {
    outcome.exit_code = kExitSetupFailed;
    outcome.error = "cannot start " + launcher_path + ": " + spawn_error.message();
    return outcome;
  }

  auto finish = [&](RunOutcome result) {
    int status = 0;
    ::kill(launcher_pid, SIGKILL);
    platform::retry_eintr([&] { return ::waitpid(launcher_pid, &status, 0); });
    ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
    return result;
  };

  ipc::Channel channel(std::move(ours), ipc::Role::Supervisor, ipc::Role::Launcher);
  bool ready = false;
  try {
    channel.send_hello();
    channel.send(spec, CommandStdio());
    // The worker, started first, sets itself up while the launcher builds the sandbox; the
    // command may start only once it has answered (without a worker it never runs).
    if (broker) {
      try {
        broker->await_worker();
      } catch (const std::exception& e) {
        RunOutcome failed;
        failed.exit_code = kExitSetupFailed;
        failed.error = std::string("proxy worker: ") + e.what();
        return finish(failed);
      }
    }
    // A launcher that is gone already (a step failed) left its SetupFailed for the loop below.
    channel.send_unless_gone(ipc::StartCommand{});
    for (;;) {
      // The broker's descriptors change when its worker dies, so the set is rebuilt each turn.
      std::vector<pollfd> fds = {{channel.fd(), POLLIN, 0}, {signal_fd.get(), POLLIN, 0}};
      if (broker)
        for (int fd : broker->poll_fds()) {
          const bool out = broker->wants_write() && fd == broker->channel_fd();
          fds.push_back({fd, static_cast<short>(POLLIN | (out ? POLLOUT : 0)), 0});
        }
      // -p connections are accepted only once the sandbox exists (no launcher to ask before).
      if (inbound && ready) inbound->add_poll_fds(fds, broker ? broker->relay_count() : 0);
      const int timeout = inbound ? inbound->next_timeout_ms() : -1;
      if (::poll(fds.data(), fds.size(), timeout) < 0) {
        if (errno == EINTR) continue;
        throw platform::SysError("poll");
      }
      for (std::size_t i = 2; i < fds.size(); ++i) {
        if (inbound && inbound->owns(fds[i].fd)) {
          if (fds[i].revents & POLLIN) inbound->on_readable(fds[i].fd, channel);
          continue;
        }
        if (fds[i].revents & POLLOUT) broker->on_writable();
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) broker->on_readable(fds[i].fd);
      }
      if (inbound) inbound->on_timer(channel);
      if (fds[1].revents & POLLIN) {
        struct signalfd_siginfo info {};
        while (::read(signal_fd.get(), &info, sizeof info) == sizeof info) {
          // Terminal-generated signals (SI_KERNEL) already reach the command's process group.
          if (info.ssi_signo != SIGCHLD && static_cast<int>(info.ssi_code) <= 0)
            ::kill(launcher_pid, static_cast<int>(info.ssi_signo));
        }
      }
      if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      auto incoming = channel.receive();
      if (!incoming) {
        outcome.exit_code = kExitSetupFailed;
        outcome.error = "the sandbox launcher exited unexpectedly";
        return finish(outcome);
      }
      switch (incoming->type) {
        case ipc::MessageType::Hello:
          break;
        case ipc::MessageType::ListenersReady: {
          auto msg = incoming->decode<ipc::ListenersReady>();
          if (msg.http_port != spec.http_proxy_port || msg.socks_port != spec.socks_proxy_port)
            throw ipc::ProtocolError("ListenersReady: ports differ from the LaunchSpec");
          if (broker) broker->attach_listeners(std::move(incoming->fds));
          // Without a broker the listeners close here: nothing answers inside the sandbox.
          break;
        }
        case ipc::MessageType::LocalListenerReady: {
          auto msg = incoming->decode<ipc::LocalListenerReady>();
          const auto& ports = spec.local_outbound_ports;
          if (std::find(ports.begin(), ports.end(), msg.port) == ports.end() ||
              !local_ports_seen.insert(msg.port).second)
            throw ipc::ProtocolError("LocalListenerReady: port " + std::to_string(msg.port) +
                                     " not asked for, or reported twice");
          if (broker) broker->attach_local_listener(msg.port, std::move(incoming->fds.at(0)));
          break;
        }
        case ipc::MessageType::InboundReady: {
          auto msg = incoming->decode<ipc::InboundReady>();
          if (!inbound) throw ipc::ProtocolError("InboundReady without -p");
          inbound->on_ready(msg.id, std::move(incoming->fds.at(0)), broker);
          break;
        }
        case ipc::MessageType::InboundFailed: {
          auto msg = incoming->decode<ipc::InboundFailed>();
          if (!inbound) throw ipc::ProtocolError("InboundFailed without -p");
          inbound->on_failed(msg.id, msg.error);
          break;
        }
        case ipc::MessageType::Violation: {
          auto msg = incoming->decode<ipc::Violation>();
          if (!spec.report_violations) throw ipc::ProtocolError("Violation report not asked for");
          if (services.on_violation) services.on_violation(msg);
          break;
        }
        case ipc::MessageType::UnixConnect: {
          auto msg = incoming->decode<ipc::UnixConnect>();
          if (!spec.report_violations) throw ipc::ProtocolError("UnixConnect report not asked for");
          // SECURITY: only a listed socket is ever reported as reached.
          if (std::find(spec.unix_sockets.begin(), spec.unix_sockets.end(), msg.path) ==
              spec.unix_sockets.end())
            throw ipc::ProtocolError("UnixConnect for an unlisted path");
          if (services.on_unix_connect) services.on_unix_connect(msg);
          break;
        }
        case ipc::MessageType::ExecCheck: {
          auto msg = incoming->decode<ipc::ExecCheck>();
          if (!spec.check_exec) throw ipc::ProtocolError("ExecCheck not asked for");
          // SECURITY: without a policy to ask, nothing is let through.
          const bool allowed = services.on_exec_check && services.on_exec_check(msg);
          // The sandbox may have ended meanwhile; its CommandExited is then queued.
          channel.send_unless_gone(ipc::ExecVerdict{msg.id, allowed});
          break;
        }
        case ipc::MessageType::SandboxReady: {
          auto msg = incoming->decode<ipc::SandboxReady>();
          ready = true;
          if (services.on_ready) services.on_ready(msg);
          if (debug)
            for (const auto& line : msg.plan) debug(line);
          break;
        }
        case ipc::MessageType::SetupFailed: {
          auto msg = incoming->decode<ipc::SetupFailed>();
          outcome.exit_code = kExitSetupFailed;
          outcome.failed_stage = msg.stage;
          outcome.error = "sandbox setup failed at \"" + msg.step +
                          "\": " + describe_errno(msg.error) +
                          (msg.detail.empty() ? "" : " (" + msg.detail + ")");
          return finish(outcome);
        }
        case ipc::MessageType::ExecFailed: {
          auto msg = incoming->decode<ipc::ExecFailed>();
          const bool not_found = msg.error == ENOENT || msg.error == ENOTDIR;
          outcome.exit_code = not_found ? kExitNotFound : kExitNotExecutable;
          outcome.error = spec.argv.front() + ": " +
                          (not_found ? std::string("command not found in the sandbox")
                                     : "cannot execute: " + describe_errno(msg.error));
          return finish(outcome);
        }
        case ipc::MessageType::CommandExited: {
          auto msg = incoming->decode<ipc::CommandExited>();
          outcome.exit_code = msg.signaled ? 128 + msg.status : msg.status;
          outcome.signal = msg.signaled ? msg.status : 0;
          (void)ready;
          return finish(outcome);
        }
        default:
          throw ipc::ProtocolError("unexpected message from launcher");
      }
    }
  } catch (const ipc::ProtocolError& e) {
    outcome.exit_code = kExitSetupFailed;
    outcome.error = std::string("protocol violation by the launcher: ") + e.what();
    return finish(outcome);
  } catch (const std::exception& e) {
    outcome.exit_code = kExitSetupFailed;
    outcome.error = e.what();
    return finish(outcome);
  }
}

}  // namespace fence::supervisor
