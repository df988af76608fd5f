#include "launcher/nested.hpp"

#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ipc/grammar.hpp"
#include "launcher/command_child.hpp"
#include "launcher/command_setup.hpp"
#include "launcher/landlock_policy.hpp"
#include "launcher/notify/nest_registry.hpp"
#include "launcher/signals.hpp"
#include "launcher/step_error.hpp"
#include "launcher/writable_roots.hpp"
#include "platform/fd_passing.hpp"
#include "platform/landlock.hpp"
#include "platform/process.hpp"

namespace fence::launcher {
namespace {

constexpr int kNestReplyMs = 10000;

// The outer sandbox decides every unix socket connect and every exec: this profile has no
// listener (the kernel allows one per filter chain, and the outer sandbox's holds it).
//
// SECURITY: the connects of its unix sockets are performed by the outer init, outside this
// run's Landlock scoping: the outer init lets a process restricted by a nested run reach
// nothing but the registration socket (notify/nest_registry.hpp). Metadata: see
// add_nested_metadata_rules.
SeccompOptions nested_seccomp_options() {
  SeccompOptions options;
  options.unix_sockets = UnixSockets::StreamsOuterMediated;
  options.nested_metadata = true;
  return options;
}

// Removes `dir` and everything in it, never following a symlink nor crossing a mount.
void remove_tree(const std::string& dir) {
  ::nftw(
      dir.c_str(),
      [](const char* path, const struct stat*, int, struct FTW*) {
        ::remove(path);
        return 0;
      },
      16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

// SECURITY: nothing the command started outlives the run. As child subreaper this process
// inherits every orphan below it; each round kills the children it has now and reaps one, so
// the grandchildren of a killed child arrive as children of the next round. Ends when no child
// is left.
void end_descendants() {
  for (;;) {
    for (pid_t child : platform::child_processes()) ::kill(child, SIGKILL);
    int status = 0;
    if (::waitpid(-1, &status, 0) < 0) {
      if (errno == EINTR) continue;
      return;  // ECHILD
    }
  }
}

std::vector<std::string> nested_plan_lines(const CommandSetup& setup, int abi) {
  std::vector<std::string> lines = {
      "[fence:nested] inside another fence sandbox: no namespaces, mounts or listeners of this "
      "run; its Landlock ruleset and seccomp profile are added to the outer sandbox's",
      "[fence:nested] child subreaper: every process the command starts ends with the run"};
  for (auto& line : filter_plan_lines(setup, abi)) lines.push_back(std::move(line));
  return lines;
}

class NestedRun {
 public:
  NestedRun(SupervisorLink& link, const ipc::LaunchSpec& spec, CommandStdio stdio)
      : link_(link), spec_(spec), stdio_(std::move(stdio)) {}

  int run() {
    // SECURITY: the launcher's usual parent-death SIGKILL would leave the command's processes
    // behind; here the supervisor's end closes the channel, and serve() ends them all.
    run_step(Stage::Launcher, "nested: child subreaper", [] {
      platform::become_child_subreaper();
      if (::prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0) != 0)
        throw platform::SysError("prctl(PR_SET_PDEATHSIG)");
    });
    prepare_setup();
    register_with_outer();
    signal_fd_ = make_signal_fd({SIGCHLD});
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw StepError(Stage::Command, "command: pipe", errno);
    platform::UniqueFd report_read(pipe_fds[0]), report_write(pipe_fds[1]);
    link_.await_start_command();
    command_pid_ = ::fork();
    if (command_pid_ < 0) throw StepError(Stage::Command, "command: fork", errno);
    if (command_pid_ == 0) {
      report_read.reset();
      exec_command(setup_, report_write.get());
    }
    report_write.reset();
    for (auto& fd : stdio_.fds) fd.reset();
    if (!report_exec_outcome(report_read.get())) {
      finish();
      return 1;
    }
    const int code = serve();
    finish();
    if (exit_status_) link_.send_command_exited(*exit_status_);
    return code;
  }

 private:
  // SECURITY: the outer sandbox's /tmp, /dev/shm and runtime directory are the outer run's
  // (its files, its allowWrite binds): none is granted unless the policy lists it. The command
  // gets a private directory instead, as TMPDIR, with XDG_RUNTIME_DIR inside it, removed at the
  // end. It is made in /dev/shm first: a fence sandbox's own tmpfs, never the host's, so even a
  // launcher killed before its end leaves nothing on the host.
  void prepare_setup() {
    spec_copy_ = spec_;
    platform::LandlockPolicy policy = landlock_policy_for(spec_);
    const std::vector<std::string> roots = writable_roots(spec_);
    auto listed = [&](const std::string& path) {
      return std::find(roots.begin(), roots.end(), path) != roots.end();
    };
    // SECURITY: the outer /dev holds the outer /dev/shm (and other nested runs' directories):
    // only the device nodes a command needs, not the tree.
    std::erase_if(policy.paths, [](const auto& entry) { return entry.first == "/dev"; });
    for (const char* node : {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
                             "/dev/tty", "/dev/ptmx", "/dev/pts"})
      policy.paths.emplace_back(node, platform::PathAccess::Device);
    std::erase_if(policy.paths, [&](const auto& entry) {
      const auto& [path, access] = entry;
      if (access != platform::PathAccess::Write) return false;
      return (path == "/tmp" || path == "/dev/shm" ||
              path == ipc::private_runtime_dir(::getuid())) &&
             !listed(path);
    });
    std::vector<std::string> places = {"/dev/shm"};
    for (const std::string& e : spec_.env)
      if (e.starts_with("TMPDIR=/") && e.size() > 8) places.push_back(e.substr(7));
    places.emplace_back("/tmp");
    for (const std::string& place : places) {
      std::string tmp_template = place + "/fence-nested.XXXXXX";
      if (::mkdtemp(tmp_template.data()) == nullptr) continue;
      private_tmp_ = tmp_template;
      policy.paths.emplace_back(private_tmp_, platform::PathAccess::Write);
      set_tmpdir(roots);
      const std::string runtime = private_tmp_ + "/run";
      if (::mkdir(runtime.c_str(), 0700) == 0) set_env("XDG_RUNTIME_DIR", runtime);
      break;
    }
    setup_.spec = &spec_copy_;
    setup_.landlock = std::move(policy);
    // In the command child, stdin, stdout and stderr are fds 0, 1 and 2 (command_child.cpp).
    setup_.landlock.held_files = {0, 1, 2};
    setup_.seccomp = nested_seccomp_options();
    for (int i = 0; i < 3; ++i) setup_.stdio[i] = stdio_.fds[i].get();
    abi_ = platform::landlock_abi();
    if (abi_ <= 0)
      throw StepError(Stage::Landlock, "landlock: not available in this kernel", ENOSYS);
  }

  void set_env(const std::string& name, const std::string& value) {
    auto& env = spec_copy_.env;
    std::erase_if(env, [&](const std::string& e) {
      return e.size() > name.size() && e.compare(0, name.size(), name) == 0 &&
             e[name.size()] == '=';
    });
    env.push_back(name + "=" + value);
  }

  // SECURITY: the outer sandbox's init performs some filesystem syscalls for the processes in
  // it; it must apply this run's ruleset to those of the command's (nest_registry.hpp). No run
  // without that: the registration stays open until every descendant has ended.
  void register_with_outer() {
    const std::string step =
        std::string("nested: register with the outer sandbox at ") + ipc::kNestSocket;
    nest_.reset(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (!nest_) throw StepError(Stage::Launcher, step, errno);
    // Our credentials travel with the registration: init checks that it names this process.
    const int one = 1;
    if (::setsockopt(nest_.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0)
      throw StepError(Stage::Launcher, step, errno);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, ipc::kNestSocket, sizeof addr.sun_path - 1);
    if (::connect(nest_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
      throw StepError(Stage::Launcher, step, errno,
                      "the outer sandbox is not a fence sandbox of this version");
    NestRegistration registration{::getpid(), setup_.landlock};
    registration.policy.held_files.clear();
    const std::string text = encode_nest_registration(registration);
    // The standard streams that are files or terminals: the ruleset grants them by descriptor
    // (pipes and sockets need no grant).
    std::vector<int> stdio;
    for (const auto& fd : stdio_.fds) {
      struct stat st {};
      if (::fstat(fd.get(), &st) == 0 && (S_ISREG(st.st_mode) || S_ISCHR(st.st_mode)))
        stdio.push_back(fd.get());
    }
    if (platform::send_with_fds(nest_.get(), std::as_bytes(std::span(text)), stdio) !=
        static_cast<ssize_t>(text.size()))
      throw StepError(Stage::Launcher, step, errno ? errno : EIO);
    pollfd p{nest_.get(), POLLIN, 0};
    char reply[256] = {};
    const int ready = platform::retry_eintr([&] { return ::poll(&p, 1, kNestReplyMs); });
    const ssize_t n = ready > 0 ? ::recv(nest_.get(), reply, sizeof reply - 1, 0) : -1;
    const std::string answer = n > 0 ? std::string(reply, static_cast<std::size_t>(n)) : "";
    if (answer != "ok")
      throw StepError(Stage::Launcher, step, EPERM,
                      answer.empty() ? "no answer from the outer sandbox" : answer);
  }

  // TMPDIR stays when it lies in a tree this run may write; else it is the private directory.
  void set_tmpdir(const std::vector<std::string>& roots) {
    auto& env = spec_copy_.env;
    auto it = std::find_if(env.begin(), env.end(),
                           [](const std::string& e) { return e.starts_with("TMPDIR="); });
    if (it != env.end()) {
      const std::string value = it->substr(7);
      if (std::any_of(roots.begin(), roots.end(),
                      [&](const std::string& root) { return ipc::is_within(value, root); }))
        return;
      env.erase(it);
    }
    env.push_back("TMPDIR=" + private_tmp_);
  }

  // False when the command did not start (SetupFailed or ExecFailed is sent).
  bool report_exec_outcome(int read_fd) {
    ExecReport report{};
    const ssize_t n =
        platform::retry_eintr([&] { return ::read(read_fd, &report, sizeof report); });
    if (n == 0) {
      link_.send_sandbox_ready(
          command_pid_, abi_,
          spec_.debug ? nested_plan_lines(setup_, abi_) : std::vector<std::string>{});
      return true;
    }
    if (n != static_cast<ssize_t>(sizeof report) || report.step > CommandStep::Execve)
      throw StepError(Stage::Command, "command: report pipe", EPROTO);
    if (report.step == CommandStep::Execve) {
      link_.send_exec_failed(report.error == 0 ? ENOENT : report.error);
      return false;
    }
    throw StepError(stage_of(report.step), std::string(to_string(report.step)), report.error);
  }

  // Until the command ends (CommandExited sent: 0) or the supervisor is gone (1).
  int serve() {
    link_.serve_command(nullptr, nullptr);
    for (;;) {
      pollfd fds[2] = {{signal_fd_.get(), POLLIN, 0}, {link_.fd(), POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return 1;
      }
      try {
        // SECURITY: when the supervisor is gone (or breaks the protocol), the run ends.
        if ((fds[1].revents & (POLLHUP | POLLERR | POLLIN)) && !link_.receive()) return 1;
      } catch (const std::exception&) {
        return 1;
      }
      if ((fds[0].revents & POLLIN) && on_signal()) return 0;
    }
  }

  // What remains when the command has ended, before CommandExited: the supervisor ends this
  // launcher as soon as it has the status.
  void finish() {
    end_descendants();
    if (!private_tmp_.empty()) remove_tree(private_tmp_);
  }

  // Forwards a signal sent by a process to the command; on SIGCHLD reaps every ended child.
  // True once the command itself has ended (its status kept for CommandExited).
  bool on_signal() {
    struct signalfd_siginfo info {};
    if (::read(signal_fd_.get(), &info, sizeof info) != sizeof info) return false;
    if (info.ssi_signo != SIGCHLD) {
      if (sent_by_process(info.ssi_code)) ::kill(command_pid_, static_cast<int>(info.ssi_signo));
      return false;
    }
    for (;;) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) return false;
      if (pid == command_pid_) {
        exit_status_ = status;
        return true;
      }
    }
  }

  SupervisorLink& link_;
  const ipc::LaunchSpec& spec_;
  CommandStdio stdio_;
  ipc::LaunchSpec spec_copy_;  // the spec with the command's TMPDIR
  std::string private_tmp_;    // the command's TMPDIR in the outer /tmp ("" if none)
  CommandSetup setup_;
  int abi_ = 0;
  platform::UniqueFd nest_;  // the registration with the outer sandbox, open until the end
  platform::UniqueFd signal_fd_;
  pid_t command_pid_ = -1;
  std::optional<int> exit_status_;  // the command's wait status, once it has ended
};

}  // namespace

int run_nested(SupervisorLink& link, const ipc::LaunchSpec& spec, CommandStdio stdio) {
  return NestedRun(link, spec, std::move(stdio)).run();
}

}  // namespace fence::launcher
