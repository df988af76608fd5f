// Init's steps, in order (Init::run). Each says why it sits where it does.
//   1. root filesystem, pivot_root   needs the new pid namespace for /proc (root_filesystem.cpp)
//   2. create_listeners              lo up, the proxy and transparent listeners handed to fence
//   3. prepare_command_setup         the command's Landlock policy and seccomp options, the
//                                    names the notifier guards (command_setup.cpp)
//      prepare_nest                  /run/fence for fence runs inside (nest_registry.hpp)
//   4. prepare_notifier              its restricted thread, the socket the notify fd comes on
//   5. require_landlock              fail closed without it
//   6. prepare_fork                  signals queued, the report pipe
//   7. await_start_command           the command starts only once fence's side is up
//   8. fork_command                  init stays outside the command's restrictions so it can
//                                    reap and signal; the child runs command_child.cpp
//   9. start_notifier                on the notify fd the child hands over
//  10. report_exec_outcome           SandboxReady, or SetupFailed / ExecFailed
//  11. serve                         until the command ends: CommandExited
#include "launcher/init.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "launcher/command_child.hpp"
#include "launcher/command_setup.hpp"
#include "launcher/inbound_client.hpp"
#include "launcher/notify/filesystem_guard.hpp"
#include "launcher/notify/nest_registry.hpp"
#include "launcher/notify/notifier.hpp"
#include "launcher/notify/restricted_thread.hpp"
#include "launcher/notify/unix_connect.hpp"
#include "launcher/root_filesystem.hpp"
#include "launcher/signals.hpp"
#include "launcher/step_error.hpp"
#include "platform/capabilities.hpp"
#include "platform/fd_passing.hpp"
#include "platform/landlock.hpp"
#include "platform/namespaces.hpp"
#include "platform/nftables.hpp"
#include "platform/process.hpp"
#include "platform/sys_error.hpp"
#include "platform/tcp_listener.hpp"

namespace fence::launcher {
namespace {

void append(std::vector<std::string>& lines, std::vector<std::string> more) {
  for (auto& line : more) lines.push_back(std::move(line));
}

std::vector<std::string> network_plan_lines(const ipc::LaunchSpec& spec) {
  std::vector<std::string> lines;
  lines.push_back("[fence:net] network namespace: lo only (up)");
  lines.push_back("[fence:net] proxy listeners 127.0.0.1:" + std::to_string(spec.http_proxy_port) +
                  " (HTTP) and 127.0.0.1:" + std::to_string(spec.socks_proxy_port) + " (SOCKS5)");
  for (std::uint16_t port : spec.local_outbound_ports)
    lines.push_back("[fence:net] forward 127.0.0.1:" + std::to_string(port) +
                    " to the host's 127.0.0.1:" + std::to_string(port) +
                    ", else [::1]:" + std::to_string(port) + " (allowLocalOutboundPorts)");
  for (std::uint16_t port : spec.inbound_ports)
    lines.push_back("[fence:net] inbound: host connections for -p " + std::to_string(port) +
                    " arrive from init at 127.0.0.1:" + std::to_string(port));
  return lines;
}

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
  int notify_fd = notifier.notify_fd();
  for (;;) {
    pollfd fds[2] = {{read_fd, POLLIN, 0}, {notify_fd, POLLIN, 0}};
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
      notify_fd = -1;
    }
  }
}

// The earlier of two poll timeouts (-1: none).
int earliest_timeout(int a, int b) {
  if (a < 0) return b;
  if (b < 0) return a;
  return a < b ? a : b;
}

class Init {
 public:
  Init(SupervisorLink& link, const ipc::LaunchSpec& spec, CommandStdio stdio)
      : link_(link), spec_(spec), stdio_(std::move(stdio)), inbound_(spec.inbound_ports, link) {}

  // Throws StepError (or anything else) when a step fails: the command then never runs.
  [[noreturn]] void run() {
    platform::set_parent_death_signal(SIGKILL, 0);
    const int stdio[] = {stdio_.fds[0].get(), stdio_.fds[1].get(), stdio_.fds[2].get()};
    plan_lines_ = build_root_filesystem(spec_, stdio, creatable_roots_, nest_listener_);
    create_listeners();
    prepare_command_setup();
    prepare_nest();
    prepare_notifier();
    require_landlock();
    prepare_fork();
    await_start_command();
    fork_command();
    start_notifier();
    report_exec_outcome();
    ::_exit(serve());
  }

 private:
  // Why here: the listeners must exist inside this network namespace before the command
  // starts, so its very first connection finds them (no startup race). The supervisor hands
  // them to the proxy worker; init keeps no copy. Transparent listeners
  // (allowLocalOutboundPorts), for the same reason and in the same place: a program connecting
  // to 127.0.0.1:PORT reaches the proxy worker, which asks the supervisor for the host's
  // 127.0.0.1:PORT.
  void create_listeners() {
    run_step(Stage::Network, "net: loopback up", [] { platform::bring_up_loopback(); });
    run_step(Stage::Network, "net: proxy listeners", [&] {
      platform::UniqueFd http = platform::listen_on_loopback(spec_.http_proxy_port);
      platform::UniqueFd socks = platform::listen_on_loopback(spec_.socks_proxy_port);
      link_.send_listeners_ready(spec_.http_proxy_port, http.get(), spec_.socks_proxy_port,
                                 socks.get());
    });
    // SECURITY: `localhost` may resolve to ::1 first; the command must not listen there on a
    // port that stands for one of fence's listeners. Init holds [::1] of each such port.
    run_step(Stage::Network, "net: reserve [::1] of the listener ports", [&] {
      std::vector<std::uint16_t> ports = {spec_.http_proxy_port, spec_.socks_proxy_port};
      ports.insert(ports.end(), spec_.local_outbound_ports.begin(),
                   spec_.local_outbound_ports.end());
      for (std::uint16_t port : ports)
        if (platform::UniqueFd fd = platform::reserve_ipv6_loopback_port(port))
          reserved_ports_.push_back(std::move(fd));
    });
    for (std::uint16_t port : spec_.local_outbound_ports) {
      run_step(Stage::Network, "net: local listener " + std::to_string(port), [&] {
        platform::UniqueFd fd = platform::listen_on_loopback(port);
        link_.send_local_listener_ready(port, fd.get());
      });
    }
    append(plan_lines_, network_plan_lines(spec_));
    if (spec_.transparent) set_up_transparent_path();
  }

  // Why here: with the proxy listeners, before the command exists, so its first connection or
  // query already meets the redirects. The rules go in before the routes: a route without its
  // redirect would let a connection hang instead of failing. Where the kernel refuses (no
  // nf_tables, no nat), nothing is installed and the sandbox keeps no route out, as without
  // the transparent path; -d says so.
  void set_up_transparent_path() {
    try {
      platform::install_transparent_rules(spec_.transparent_port, spec_.dns_port);
      platform::add_default_routes_over_loopback();
      platform::UniqueFd tcp = platform::listen_on_loopback(spec_.transparent_port);
      platform::UniqueFd dns = platform::bind_udp_on_loopback(spec_.dns_port);
      platform::UniqueFd dns_streams = platform::listen_on_loopback(spec_.dns_port);
      link_.send_transparent_ready(spec_.transparent_port, tcp.get(), spec_.dns_port, dns.get(),
                                   dns_streams.get());
      plan_lines_.push_back(
          "[fence:net] transparent path: TCP leaving loopback redirected to 127.0.0.1:" +
          std::to_string(spec_.transparent_port) +
          ", DNS (UDP and TCP port 53, any address) to 127.0.0.1:" +
          std::to_string(spec_.dns_port) + ", other UDP and protocols refused at once");
    } catch (const platform::SysError& e) {
      plan_lines_.push_back(std::string("[fence:net] transparent path unavailable (") + e.what() +
                            "): programs that ignore the proxy variables get no network");
    }
  }

  void prepare_command_setup() {
    prep_ = launcher::prepare_command_setup(spec_);
    for (int i = 0; i < 3; ++i) prep_.setup.stdio[i] = stdio_.fds[i].get();
    append(plan_lines_, std::move(prep_.plan_lines));
  }

  // Fence runs inside register here (nest_registry.hpp); the listener was made with the root.
  void prepare_nest() {
    if (nest_listener_)
      nests_ = std::make_unique<NestRegistry>(std::move(nest_listener_), prep_.setup.landlock);
  }

  // One notify fd for every notifying rule, answered by init; none at all when nothing needs
  // it (the plain profile costs nothing more). The restricted thread, which performs the
  // filesystem syscalls, is started before the fork so the child is forked from an idle thread.
  void prepare_notifier() {
    const SeccompOptions& seccomp = prep_.setup.seccomp;
    if (seccomp.notifies_filesystem()) {
      // The thread opens files for the command: it may reopen the command's stdio by path too,
      // held here as init's copies (still open: the thread restricts itself before returning).
      platform::LandlockPolicy policy = prep_.setup.landlock;
      policy.held_files = {prep_.setup.stdio[0], prep_.setup.stdio[1], prep_.setup.stdio[2]};
      run_step(Stage::Notifier, "seccomp notifier: restricted thread",
               [&] { restricted_ = std::make_unique<RestrictedThread>(policy); });
    }
    if (seccomp.needs_listener()) {
      int sv[2];
      if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        throw StepError(Stage::Notifier, "seccomp notifier: socketpair", errno);
      notify_fd_from_child_.reset(sv[0]);
      notify_fd_to_init_.reset(sv[1]);
      prep_.setup.notify_fd_socket = notify_fd_to_init_.get();
    }
  }

  void require_landlock() {
    abi_ = platform::landlock_abi();
    if (abi_ <= 0)
      throw StepError(Stage::Landlock, "landlock: not available in this kernel", ENOSYS);
    if (spec_.debug) append(plan_lines_, filter_plan_lines(prep_.setup, abi_));
  }

  // From here on the signals init forwards or reaps are queued: one sent while init waits for
  // StartCommand reaches the command once it runs. The report pipe: see report_exec_outcome.
  void prepare_fork() {
    signal_fd_ = make_signal_fd({SIGCHLD});
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw StepError(Stage::Command, "command: pipe", errno);
    report_read_.reset(pipe_fds[0]);
    report_write_.reset(pipe_fds[1]);
  }

  // Why last before the fork: everything above overlaps with the proxy worker's start.
  void await_start_command() { link_.await_start_command(); }

  void fork_command() {
    command_pid_ = ::fork();
    if (command_pid_ < 0) throw StepError(Stage::Command, "command: fork", errno);
    if (command_pid_ == 0) {
      report_read_.reset();
      exec_command(prep_.setup, report_write_.get());
    }
    report_write_.reset();
    // Init never writes to the command's streams: only the command keeps them.
    for (auto& fd : stdio_.fds) fd.reset();
  }

  void start_notifier() {
    const SeccompOptions& seccomp = prep_.setup.seccomp;
    if (!seccomp.needs_listener()) return;
    notify_fd_to_init_.reset();
    // Invalid when the child failed before handing it over: its report says why.
    platform::UniqueFd notify_fd = platform::receive_fd(notify_fd_from_child_.get());
    if (!notify_fd) return;
    if (!creatable_roots_.empty()) {
      platform::LandlockPolicy policy = prep_.setup.landlock;
      policy.held_files.clear();
      creatable_ = std::make_unique<CreatableRoots>(std::move(creatable_roots_), std::move(policy));
    }
    if (restricted_) {
      filesystem_ = std::make_unique<FilesystemGuard>(std::move(prep_.guarded),
                                                      std::move(prep_.names), *restricted_,
                                                      creatable_.get(), spec_.report_violations);
      filesystem_->set_nests(nests_.get());
    }
    if (seccomp.mediates_connect())
      connect_guard_ = std::make_unique<ConnectGuard>(spec_.unix_sockets, spec_.report_violations);
    // Connect threads start later, when init no longer holds the command's stdio: their fd
    // numbers could name other files by then.
    prep_.setup.landlock.held_files.clear();
    notifier_ = std::make_unique<Notifier>(std::move(notify_fd), seccomp, filesystem_.get(), link_,
                                           connect_guard_.get(), &prep_.setup.landlock);
    notifier_->set_nests(nests_.get());
  }

  // The command's exec outcome on the report pipe: EOF means execve succeeded.
  void report_exec_outcome() {
    std::vector<seccomp_notif> deferred;
    if (notifier_) deferred = answer_startup(*notifier_, report_read_.get(), command_pid_);
    ExecReport report{};
    ssize_t n =
        platform::retry_eintr([&] { return ::read(report_read_.get(), &report, sizeof report); });
    if (n == 0) {
      link_.send_sandbox_ready(command_pid_, abi_,
                               spec_.debug ? plan_lines_ : std::vector<std::string>{});
      for (const auto& req : deferred) notifier_->handle(req);
      return;
    }
    if (n != static_cast<ssize_t>(sizeof report) || report.step > CommandStep::Execve)
      throw StepError(Stage::Command, "command: report pipe", EPROTO);
    if (report.step == CommandStep::Execve)
      return link_.send_exec_failed(report.error == 0 ? ENOENT : report.error);
    throw StepError(stage_of(report.step), std::string(to_string(report.step)), report.error);
  }

  // PID 1 of the sandbox: forwards signals to the command, reaps every orphan, answers the
  // seccomp notifier (creation guard, violation reports, exec checks) and the supervisor's
  // inbound requests, and ends the sandbox when the command ends (the kernel then kills
  // whatever is left in the namespace). Returns init's exit code.
  int serve() {
    link_.serve_command(&inbound_, notifier_.get());
    int notify_fd = notifier_ ? notifier_->notify_fd() : -1;
    for (;;) {
      std::vector<pollfd> fds = {
          {signal_fd_.get(), POLLIN, 0}, {link_.fd(), POLLIN, 0}, {notify_fd, POLLIN, 0}};
      inbound_.add_poll_fds(fds);
      const std::size_t nest_from = fds.size();
      if (nests_)
        for (int fd : nests_->poll_fds()) fds.push_back({fd, POLLIN, 0});
      const int timeout =
          earliest_timeout(earliest_timeout(inbound_.next_timeout_ms(),
                                            notifier_ ? notifier_->next_timeout_ms() : -1),
                           nests_ ? nests_->next_timeout_ms() : -1);
      if (::poll(fds.data(), fds.size(), timeout) < 0) {
        if (errno == EINTR) continue;
        return 1;
      }
      if (notifier_) serve_notifier(fds[2].revents, notify_fd);
      try {
        for (std::size_t i = 3; i < nest_from; ++i)
          if (fds[i].revents) inbound_.on_ready(fds[i].fd);
        for (std::size_t i = nest_from; i < fds.size(); ++i)
          if (fds[i].revents) nests_->on_ready(fds[i].fd);
        if (nests_) nests_->expire();
        inbound_.expire();
        // SECURITY: when the supervisor is gone (or breaks the protocol) nothing in the
        // sandbox may outlive it. Exiting as init kills every process of the pid namespace.
        if ((fds[1].revents & (POLLHUP | POLLERR | POLLIN)) && !link_.receive()) return 1;
      } catch (const std::exception&) {
        return 1;
      }
      if ((fds[0].revents & POLLIN) && on_signal()) return 0;
    }
  }

  void serve_notifier(short revents, int& notify_fd) {
    if (revents & POLLIN) {
      if (!notifier_->handle_one()) notify_fd = -1;
    } else if (revents & (POLLHUP | POLLERR | POLLNVAL)) {
      notify_fd = -1;  // no process uses the filter any more
    }
    notifier_->on_timer();
  }

  // One signal: forwarded to the command, or (SIGCHLD) every ended child reaped. True when the
  // command itself has ended: CommandExited is sent.
  bool on_signal() {
    struct signalfd_siginfo info {};
    if (::read(signal_fd_.get(), &info, sizeof info) != sizeof info) return false;
    if (info.ssi_signo != SIGCHLD) {
      if (sent_by_process(info.ssi_code)) ::kill(command_pid_, static_cast<int>(info.ssi_signo));
      return false;
    }
    for (;;) {
      int status = 0;
      pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) return false;
      if (pid == command_pid_) {
        link_.send_command_exited(status);
        return true;
      }
    }
  }

  SupervisorLink& link_;
  const ipc::LaunchSpec& spec_;
  CommandStdio stdio_;
  std::vector<platform::UniqueFd> reserved_ports_;  // [::1] of the listener ports
  InboundClient inbound_;
  std::vector<std::string> plan_lines_;
  CommandPreparation prep_;
  int abi_ = 0;
  std::unique_ptr<RestrictedThread> restricted_;
  platform::UniqueFd notify_fd_from_child_;  // init's end of the notify fd's socket pair
  platform::UniqueFd notify_fd_to_init_;     // the child's end
  platform::UniqueFd signal_fd_;
  platform::UniqueFd report_read_;  // the command child's ExecReport, or EOF on exec
  platform::UniqueFd report_write_;
  pid_t command_pid_ = -1;
  std::vector<CreatableRoot> creatable_roots_;  // held by the root build, until the notifier
  std::unique_ptr<CreatableRoots> creatable_;
  platform::UniqueFd nest_listener_;     // from the root build, until prepare_nest
  std::unique_ptr<NestRegistry> nests_;  // before filesystem_, which points to it
  std::unique_ptr<FilesystemGuard> filesystem_;
  std::unique_ptr<ConnectGuard> connect_guard_;
  std::unique_ptr<Notifier> notifier_;
};

}  // namespace

void run_init(SupervisorLink& link, const ipc::LaunchSpec& spec, CommandStdio stdio) {
  try {
    Init(link, spec, std::move(stdio)).run();
  } catch (const StepError& e) {
    try {
      link.send_setup_failed(e);
    } catch (...) {
    }
    ::_exit(1);
  } catch (const std::exception& e) {
    try {
      link.send_setup_failed(StepError(Stage::Launcher, "launcher: init", 0, e.what()));
    } catch (...) {
    }
    ::_exit(1);
  }
}

}  // namespace fence::launcher
