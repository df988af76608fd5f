#include "launcher/init.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "launcher/command_child.hpp"
#include "launcher/command_seccomp.hpp"
#include "launcher/inbound_client.hpp"
#include "launcher/notify/filesystem_guard.hpp"
#include "launcher/notify/notifier.hpp"
#include "launcher/notify/restricted_thread.hpp"
#include "launcher/root_filesystem.hpp"
#include "launcher/step_error.hpp"
#include "platform/capabilities.hpp"
#include "platform/fd_passing.hpp"
#include "platform/landlock.hpp"
#include "platform/namespaces.hpp"
#include "platform/process.hpp"
#include "platform/sys_error.hpp"
#include "platform/tcp_listener.hpp"

// The sandbox plan, in order. Each step says why it sits where it does.
//
//  outer launcher (host pid namespace, child of the supervisor)
//   1. user namespace, uid/gid mapped 1:1   — first: it grants the capabilities that every
//                                             later namespace and mount step needs, unprivileged.
//   2. mount/pid/net/ipc/uts/cgroup ns      — owned by the new user namespace.
//   3. fork init                            — the pid namespace applies to the next child.
//   4. wait for init, forward signals       — the supervisor's only handle on the sandbox.
//  init (pid 1 of the sandbox)
//   5. root filesystem, pivot_root          — needs the new pid ns for /proc (root_filesystem.cpp).
//   6. loopback up                          — the only interface; the proxies live on it.
//   7. fork the command                     — init stays outside the command's restrictions so
//                                             it can reap and signal; the command then runs
//                                             command.cpp: chdir, close fds, drop caps,
//                                             no_new_privs, Landlock, seccomp (last), execve.
//   8. report SandboxReady / SetupFailed / ExecFailed, then CommandExited.

namespace fence::launcher {
namespace {

// Signals sent by a process (kill, sigqueue, tgkill) carry si_code <= 0. Terminal-generated
// ones (Ctrl-C) carry SI_KERNEL and already reach the command through its process group, so
// forwarding them would deliver them twice.
bool sent_by_process(int si_code) {
  return si_code <= 0;
}

void send_setup_failed(ipc::Channel& channel, const StepError& e) {
  ipc::SetupFailed msg;
  msg.stage = e.stage();
  msg.step = e.step().substr(0, ipc::kMaxTextLen);
  msg.error = e.error();
  msg.detail = e.detail().substr(0, ipc::kMaxTextLen);
  channel.send(msg);
}

void noop_handler(int) {}

// Blocks the signals init waits for and returns a signalfd for them. A handler is installed
// first because the kernel drops default-action signals sent to a pid namespace's init.
platform::UniqueFd make_signal_fd(std::initializer_list<int> extra) {
  sigset_t set;
  sigemptyset(&set);
  struct sigaction sa {};
  sa.sa_handler = noop_handler;
  for (int sig : ipc::kForwardedSignals) {
    ::sigaction(sig, &sa, nullptr);
    sigaddset(&set, sig);
  }
  for (int sig : extra) {
    ::sigaction(sig, &sa, nullptr);
    sigaddset(&set, sig);
  }
  if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) throw platform::SysError("sigprocmask");
  platform::UniqueFd fd(::signalfd(-1, &set, SFD_CLOEXEC));
  if (!fd) throw platform::SysError("signalfd");
  return fd;
}

ipc::CommandExited exit_message(int wait_status) {
  ipc::CommandExited msg;
  if (WIFSIGNALED(wait_status)) {
    msg.signaled = true;
    msg.status = WTERMSIG(wait_status);
  } else {
    msg.status = WEXITSTATUS(wait_status);
  }
  return msg;
}

std::vector<std::string> clipped(std::vector<std::string> lines) {
  if (lines.size() > ipc::kMaxPlanLines) lines.resize(ipc::kMaxPlanLines);
  for (auto& line : lines)
    if (line.size() > ipc::kMaxTextLen) line.resize(ipc::kMaxTextLen);
  return lines;
}

// The notifier's findings go to the supervisor. Reports are best effort; a question that
// cannot be sent throws, and the notifier then refuses the exec.
class ChannelSink final : public NotifierSink {
 public:
  explicit ChannelSink(ipc::Channel& channel) : channel_(channel) {}
  void report(const ipc::Violation& violation) override { send_report(violation); }
  void report(const ipc::UnixConnect& connect) override { send_report(connect); }
  void ask(const ipc::ExecCheck& check) override { channel_.send(check); }

 private:
  // The supervisor gone or a malformed report: what was decided stands either way.
  template <typename Report>
  void send_report(const Report& report) {
    try {
      channel_.send(report);
    } catch (const std::exception&) {
    }
  }

  ipc::Channel& channel_;
};

// The write end of the report pipe is still open in the command child and nothing was written:
// the child has not exec'd yet (a successful execve closes it, CLOEXEC, before the new program
// runs a single instruction) and has not failed.
bool command_not_started(int read_fd) {
  pollfd p{read_fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 0;
}

// Until the command's first successful execve, its child runs fence's own code: exec_in_path
// trying the PATH candidates with exactly the argv the supervisor checked before start. Those
// execs are let through here without a round trip. Anything else that arrives meanwhile comes
// from the new program (the pipe is then closed) and is kept for after SandboxReady.
// DEADLOCK: without this loop the child would wait for init in execve while init waits for
// the pipe's EOF.
std::vector<seccomp_notif> answer_startup(Notifier& notifier, int read_fd, pid_t command_pid) {
  std::vector<seccomp_notif> deferred;
  int listener = notifier.notify_fd();
  for (;;) {
    pollfd fds[2] = {{read_fd, POLLIN, 0}, {listener, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      throw StepError(Stage::Command, "command: wait for exec", errno);
    }
    if (fds[0].revents) return deferred;
    if (fds[1].revents & POLLIN) {
      seccomp_notif req{};
      const Notifier::Received r = notifier.receive(req);
      // The child may be waiting for an answer: never wait for it in turn.
      if (r == Notifier::Received::ListenerGone)
        throw StepError(Stage::Notifier, "seccomp notifier: receive", errno);
      if (r != Notifier::Received::Notification) continue;
      const bool startup = command_not_started(read_fd);
      if (startup && Notifier::is_exec(req) && static_cast<pid_t>(req.pid) == command_pid)
        notifier.allow_startup_exec(req);
      else if (startup)
        notifier.handle(req);  // unexpected before exec; answered, never left waiting
      else
        deferred.push_back(req);
    } else if (fds[1].revents & (POLLHUP | POLLERR | POLLNVAL)) {
      listener = -1;
    }
  }
}

// Waits for the command's exec outcome on the report pipe: EOF means execve succeeded.
void report_exec_outcome(ipc::Channel& channel, int read_fd, pid_t command_pid, int abi,
                         std::vector<std::string> plan, Notifier* notifier) {
  std::vector<seccomp_notif> deferred;
  if (notifier) deferred = answer_startup(*notifier, read_fd, command_pid);
  ExecReport report{};
  ssize_t n = platform::retry_eintr([&] { return ::read(read_fd, &report, sizeof report); });
  if (n == 0) {
    ipc::SandboxReady ready;
    ready.command_pid = static_cast<std::uint32_t>(command_pid);
    ready.landlock_abi = static_cast<std::uint32_t>(abi);
    ready.seccomp = true;
    ready.plan = clipped(std::move(plan));
    channel.send(ready);
    for (const auto& req : deferred) notifier->handle(req);
    return;
  }
  if (n != static_cast<ssize_t>(sizeof report) || report.step > kExecStep)
    throw StepError(Stage::Command, "command: report pipe", EPROTO);
  if (report.step == kExecStep) {
    channel.send(ipc::ExecFailed{report.error == 0 ? ENOENT : report.error});
    return;
  }
  throw StepError(kCommandSteps[report.step].stage, kCommandSteps[report.step].name, report.error);
}

// The earlier of two poll timeouts (-1: none).
int earliest_timeout(int a, int b) {
  if (a < 0) return b;
  if (b < 0) return a;
  return a < b ? a : b;
}

// PID 1 of the sandbox: forwards signals to the command, reaps every orphan, answers the
// seccomp notifier (creation guard, violation reports, exec checks) and the supervisor's
// inbound requests, and ends the sandbox when the command ends (the kernel then kills whatever
// is left in the namespace).
int init_loop(ipc::Channel& channel, const ipc::LaunchSpec& spec, int signal_fd, pid_t command_pid,
              Notifier* notifier) {
  InboundConnector inbound(spec.inbound_ports);
  int notifier_fd = notifier ? notifier->notify_fd() : -1;
  for (;;) {
    std::vector<pollfd> fds = {
        {signal_fd, POLLIN, 0}, {channel.fd(), POLLIN, 0}, {notifier_fd, POLLIN, 0}};
    inbound.add_poll_fds(fds);
    const int timeout =
        earliest_timeout(inbound.next_timeout_ms(), notifier ? notifier->next_timeout_ms() : -1);
    if (::poll(fds.data(), fds.size(), timeout) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (fds[2].revents & POLLIN) {
      if (!notifier->handle_one()) notifier_fd = -1;
    } else if (fds[2].revents & (POLLHUP | POLLERR | POLLNVAL)) {
      notifier_fd = -1;  // no process uses the filter any more
    }
    if (notifier) notifier->on_timer();
    try {
      for (std::size_t i = 3; i < fds.size(); ++i)
        if (fds[i].revents) inbound.on_ready(channel, fds[i].fd);
      inbound.expire(channel);
      if (fds[1].revents & (POLLHUP | POLLERR | POLLIN)) {
        // SECURITY: when the supervisor is gone (or breaks the protocol) nothing in the
        // sandbox may outlive it. Exiting as init kills every process of the pid namespace.
        auto incoming = channel.receive();
        if (!incoming) return 1;
        if (incoming->type == ipc::MessageType::ExecVerdict) {
          // An answer to an ExecCheck this init sent; any other id is a protocol violation.
          if (!notifier || !notifier->on_verdict(incoming->decode<ipc::ExecVerdict>())) return 1;
        } else {
          if (incoming->type != ipc::MessageType::InboundOpen) return 1;
          inbound.open(channel, incoming->decode<ipc::InboundOpen>());
        }
      }
    } catch (const std::exception&) {
      return 1;
    }
    if (!(fds[0].revents & POLLIN)) continue;
    struct signalfd_siginfo info {};
    if (::read(signal_fd, &info, sizeof info) != sizeof info) continue;
    if (info.ssi_signo != SIGCHLD) {
      if (sent_by_process(info.ssi_code)) ::kill(command_pid, static_cast<int>(info.ssi_signo));
      continue;
    }
    for (;;) {
      int status = 0;
      pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
      if (pid == command_pid) {
        channel.send(exit_message(status));
        return 0;
      }
    }
  }
}

// The command's standard streams, as they came with the LaunchSpec. Each is moved above 2 so
// that the child's dup2 onto 0, 1, 2 never overwrites one it still has to place.
struct CommandStdio {
  platform::UniqueFd fds[3];
};

CommandStdio take_stdio(std::vector<platform::UniqueFd>& fds) {
  CommandStdio stdio;
  for (std::size_t i = 0; i < 3; ++i) {
    if (fds.at(i).get() < 3) {
      platform::UniqueFd moved(::fcntl(fds[i].get(), F_DUPFD_CLOEXEC, 3));
      if (!moved) throw StepError(Stage::Launcher, "launcher: stdio", errno);
      fds[i] = std::move(moved);
    }
    stdio.fds[i] = std::move(fds[i]);
  }
  return stdio;
}

[[noreturn]] void run_init(ipc::Channel& channel, const ipc::LaunchSpec& spec, CommandStdio stdio) {
  try {
    platform::set_parent_death_signal(SIGKILL, 0);
    std::vector<std::string> plan = build_root_filesystem(spec);
    run_step(Stage::Network, "net: loopback up", [] { platform::bring_up_loopback(); });
    plan.push_back("[fence:net] network namespace: lo only (up)");
    // Why here: the listeners must exist inside this network namespace before the command
    // starts, so its very first connection finds them (no startup race). The supervisor hands
    // them to the proxy worker; init keeps no copy.
    run_step(Stage::Network, "net: proxy listeners", [&] {
      platform::UniqueFd http = platform::listen_on_loopback(spec.http_proxy_port);
      platform::UniqueFd socks = platform::listen_on_loopback(spec.socks_proxy_port);
      const int fds[] = {http.get(), socks.get()};
      channel.send(ipc::ListenersReady{spec.http_proxy_port, spec.socks_proxy_port}, fds);
    });
    plan.push_back("[fence:net] proxy listeners 127.0.0.1:" + std::to_string(spec.http_proxy_port) +
                   " (HTTP) and 127.0.0.1:" + std::to_string(spec.socks_proxy_port) + " (SOCKS5)");
    // Transparent listeners (allowLocalOutboundPorts), for the same reason and in the same
    // place: a program connecting to 127.0.0.1:PORT reaches the worker, which asks the
    // supervisor for the host's 127.0.0.1:PORT.
    for (std::uint16_t port : spec.local_outbound_ports) {
      run_step(Stage::Network, "net: local listener " + std::to_string(port), [&] {
        platform::UniqueFd fd = platform::listen_on_loopback(port);
        const int raw = fd.get();
        channel.send(ipc::LocalListenerReady{port}, std::span<const int>(&raw, 1));
      });
      plan.push_back("[fence:net] forward 127.0.0.1:" + std::to_string(port) +
                     " to the host's 127.0.0.1:" + std::to_string(port) +
                     " (allowLocalOutboundPorts)");
    }
    for (std::uint16_t port : spec.inbound_ports)
      plan.push_back("[fence:net] inbound: host connections for -p " + std::to_string(port) +
                     " arrive from init at 127.0.0.1:" + std::to_string(port));

    CommandSetup setup;
    setup.spec = &spec;
    for (int i = 0; i < 3; ++i) setup.stdio[i] = stdio.fds[i].get();
    setup.landlock = landlock_policy_for(spec);
    setup.seccomp.unix_sockets = spec.allow_all_unix_sockets ? UnixSockets::All
                                 : spec.unix_sockets.empty() ? UnixSockets::PairsOnly
                                                             : UnixSockets::Listed;
    setup.seccomp.report_violations = spec.report_violations;
    setup.seccomp.check_exec = spec.check_exec;
    // Protected names at any depth of a writable tree, and protected paths that do not exist
    // yet, are guarded by init (filesystem_guard.hpp).
    ProtectedNames names = protected_names_for(spec);
    GuardedNames guarded = find_guarded_names(spec, names);
    setup.seccomp.notify_creations = !guarded.empty();
    setup.seccomp.notify_writes = !names.empty();
    for (const auto& name : guarded.names)
      plan.push_back("[fence:fs] guard " + name + " (missing: creation refused)");
    if (!names.empty()) {
      std::string line = "[fence:fs] protected at any depth of a writable tree:";
      for (const auto& p : spec.protected_names) line += " " + p;
      for (const auto& p : spec.protected_files) line += " " + p + " (unless a directory)";
      plan.push_back(line);
    }
    // One listener for every notifying rule, answered by init; none at all when nothing needs
    // it (the plain profile costs nothing more). The restricted worker, which performs the
    // filesystem syscalls, is started before the fork so the child is forked from an idle
    // thread.
    std::unique_ptr<RestrictedThread> worker;
    platform::UniqueFd listener_ours, listener_theirs;
    if (setup.seccomp.notifies_filesystem()) {
      run_step(Stage::Notifier, "seccomp notifier: restricted worker",
               [&] { worker = std::make_unique<RestrictedThread>(setup.landlock); });
    }
    if (setup.seccomp.needs_listener()) {
      int sv[2];
      if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        throw StepError(Stage::Notifier, "seccomp notifier: socketpair", errno);
      listener_ours.reset(sv[0]);
      listener_theirs.reset(sv[1]);
      setup.listener_socket = listener_theirs.get();
    }
    if (spec.check_exec)
      plan.push_back(
          "[fence:cmd] runtime command policy: every execve/execveat inside is held until fence "
          "has checked its argv (the command's own exec excepted: checked before start); best "
          "effort against a process that rewrites its argv from another thread meanwhile");
    if (setup.seccomp.mediates_connect())
      plan.push_back(
          "[fence:net] connect() performed by init: a unix socket file only if listed in "
          "allowUnixSockets or bound inside the sandbox (datagram unix sockets refused)");
    if (spec.report_violations)
      plan.push_back(
          "[fence:seccomp] violations reported: denied syscalls, and writes refused by the "
          "filesystem policy (with their path)");
    const int abi = platform::landlock_abi();
    if (abi <= 0)
      throw StepError(Stage::Landlock, "landlock: not available in this kernel", ENOSYS);
    if (spec.debug) {
      for (auto& line : platform::describe_landlock(setup.landlock, abi))
        plan.push_back("[fence:landlock] " + line);
      for (auto& line : describe_seccomp(setup.seccomp)) plan.push_back("[fence:seccomp] " + line);
    }
    platform::UniqueFd signal_fd = make_signal_fd({SIGCHLD});
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw StepError(Stage::Command, "command: pipe", errno);
    platform::UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
    // Why last: everything above overlaps with the proxy worker's start. The command starts
    // only when fence says its side is up (StartCommand); any other message, or none, means
    // it never starts.
    run_step(Stage::Command, "command: wait for fence", [&] {
      auto go = channel.receive();
      if (!go || go->type != ipc::MessageType::StartCommand)
        throw StepError(Stage::Command, "command: wait for fence", EPROTO);
    });
    pid_t pid = ::fork();
    if (pid < 0) throw StepError(Stage::Command, "command: fork", errno);
    if (pid == 0) {
      read_end.reset();
      exec_command(setup, write_end.get());
    }
    write_end.reset();
    // Init never writes to the command's streams: only the command keeps them.
    for (auto& fd : stdio.fds) fd.reset();
    ChannelSink sink(channel);
    std::unique_ptr<FilesystemGuard> filesystem;
    std::unique_ptr<ConnectGuard> connect_guard;
    std::unique_ptr<Notifier> notifier;
    if (setup.seccomp.needs_listener()) {
      listener_theirs.reset();
      // Invalid when the child failed before handing it over: its report says why.
      platform::UniqueFd listener = platform::receive_fd(listener_ours.get());
      if (listener) {
        if (worker)
          filesystem = std::make_unique<FilesystemGuard>(std::move(guarded), std::move(names),
                                                         *worker, spec.report_violations);
        if (setup.seccomp.mediates_connect())
          connect_guard = std::make_unique<ConnectGuard>(spec.unix_sockets, spec.report_violations);
        notifier = std::make_unique<Notifier>(std::move(listener), setup.seccomp, filesystem.get(),
                                              sink, connect_guard.get(), &setup.landlock);
      }
    }
    report_exec_outcome(channel, read_end.get(), pid, abi,
                        spec.debug ? plan : std::vector<std::string>{}, notifier.get());
    ::_exit(init_loop(channel, spec, signal_fd.get(), pid, notifier.get()));
  } catch (const StepError& e) {
    try {
      send_setup_failed(channel, e);
    } catch (...) {
    }
    ::_exit(1);
  } catch (const std::exception& e) {
    try {
      send_setup_failed(channel, StepError(Stage::Launcher, "launcher: init", 0, e.what()));
    } catch (...) {
    }
    ::_exit(1);
  }
}

// The outer launcher stays in the host pid namespace as the supervisor's child, so that the
// supervisor can signal it and learn when the sandbox is gone.
int wait_for_init(pid_t init_pid) {
  platform::UniqueFd signal_fd = make_signal_fd({SIGCHLD});
  for (;;) {
    struct signalfd_siginfo info {};
    if (::read(signal_fd.get(), &info, sizeof info) != sizeof info) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (info.ssi_signo == SIGCHLD) {
      int status = 0;
      pid_t pid = ::waitpid(init_pid, &status, WNOHANG);
      if (pid == init_pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
      continue;
    }
    if (sent_by_process(info.ssi_code)) ::kill(init_pid, static_cast<int>(info.ssi_signo));
  }
}

}  // namespace

int run_launcher(ipc::Channel& channel) {
  auto incoming = channel.receive();
  if (!incoming) return 1;
  const ipc::LaunchSpec spec = incoming->decode<ipc::LaunchSpec>();
  CommandStdio stdio = take_stdio(incoming->fds);
  try {
    run_step(Stage::UserNamespace, "namespaces: user namespace",
             [] { platform::enter_user_namespace(::getuid(), ::getgid()); });
    run_step(Stage::Namespaces, "namespaces: mount, pid, net, ipc, uts, cgroup",
             [] { platform::enter_sandbox_namespaces(); });
  } catch (const StepError& e) {
    send_setup_failed(channel, e);
    return 1;
  }
  pid_t init_pid = ::fork();
  if (init_pid < 0) {
    send_setup_failed(channel, StepError(Stage::Namespaces, "namespaces: fork init", errno));
    return 1;
  }
  if (init_pid == 0) run_init(channel, spec, std::move(stdio));
  for (auto& fd : stdio.fds) fd.reset();
  return wait_for_init(init_pid);
}

}  // namespace fence::launcher
