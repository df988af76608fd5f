#include "launcher/command_child.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "platform/capabilities.hpp"
#include "platform/fd_passing.hpp"
#include "platform/process.hpp"
#include "platform/sys_error.hpp"

namespace fence::launcher {
namespace {

[[noreturn]] void fail(int report_fd, CommandStep step, int error) {
  ExecReport report{step, error};
  // Best effort: if init is gone there is nobody to tell.
  [[maybe_unused]] auto n = ::write(report_fd, &report, sizeof report);
  ::_exit(127);
}

// Runs a step that fails by throwing: a SysError's errno, EINVAL for anything else.
template <typename Fn>
void run_child_step(int report_fd, CommandStep step, Fn&& fn) {
  try {
    fn();
  } catch (const platform::SysError& e) {
    fail(report_fd, step, e.error_code());
  } catch (const std::exception&) {
    fail(report_fd, step, EINVAL);
  }
}

std::string env_value(const std::vector<std::string>& env, const std::string& key) {
  for (const auto& entry : env)
    if (entry.size() > key.size() && entry.compare(0, key.size(), key) == 0 &&
        entry[key.size()] == '=')
      return entry.substr(key.size() + 1);
  return {};
}

// execvp semantics with the sandbox's PATH (not the launcher's): the first directory holding
// an executable match wins; EACCES is remembered so "not executable" is told apart from "not
// found". With check_exec, each of these execve calls reaches init, which lets them through
// without asking: this is fence's own code running exactly the argv checked before start.
int exec_in_path(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  const std::string& name = argv.front();
  if (name.find('/') != std::string::npos) {
    ::execve(name.c_str(), args.data(), envp.data());
    return errno;
  }
  std::string path = env_value(env, "PATH");
  if (path.empty()) path = "/usr/local/bin:/usr/bin:/bin";
  int result = ENOENT;
  std::string candidate;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    // An empty PATH entry means the current directory.
    if (end == start)
      candidate.assign(1, '.');
    else
      candidate.assign(path, start, end - start);
    candidate += '/';
    candidate += name;
    ::execve(candidate.c_str(), args.data(), envp.data());
    if (errno == EACCES)
      result = EACCES;
    else if (errno != ENOENT && errno != ENOTDIR && result != EACCES)
      result = errno;
    start = end + 1;
  }
  return result;
}

// Init blocked signals and installed handlers; the command starts with defaults.
void reset_signals(int report_fd) {
  sigset_t all;
  sigemptyset(&all);
  for (int sig = 1; sig < NSIG; ++sig) ::signal(sig, SIG_DFL);
  if (::sigprocmask(SIG_SETMASK, &all, nullptr) != 0)
    fail(report_fd, CommandStep::ResetSignals, errno);
}

// The command's standard streams are fence's (init's own are /dev/null). SECURITY: nothing
// else (but the report pipe, CLOEXEC) reaches the command, including fds leaked by whoever
// started fence (SECURITY-RULES 13).
void place_stdio(const CommandSetup& setup, int report_fd) {
  for (int fd = 0; fd < 3; ++fd) {
    if (::dup2(setup.stdio[fd], fd) < 0) fail(report_fd, CommandStep::Stdio, errno);
  }
  try {
    platform::close_fds_except({0, 1, 2, report_fd, setup.notify_fd_socket});
  } catch (const platform::SysError& e) {
    fail(report_fd, CommandStep::Stdio, e.error_code());
  }
}

// The command keeps no copy of the notify fd: init alone answers it. From here on init answers
// this process's notified syscalls (its execve calls below included).
void hand_over_notify_fd(const CommandSetup& setup, platform::UniqueFd notify_fd) {
  platform::send_fd(setup.notify_fd_socket, notify_fd.get());
  notify_fd.reset();
  ::close(setup.notify_fd_socket);
}

}  // namespace

void exec_command(const CommandSetup& setup, int report_fd) {
  const ipc::LaunchSpec& spec = *setup.spec;
  reset_signals(report_fd);
  if (::chdir(spec.cwd.c_str()) != 0) fail(report_fd, CommandStep::Chdir, errno);
  place_stdio(setup, report_fd);
  // forceNewSession: a session of its own, without the caller's terminal as its controlling
  // terminal (init is the sandbox's pid 1, so this child is never a group leader).
  if (spec.new_session && ::setsid() < 0) fail(report_fd, CommandStep::NewSession, errno);
  // In this order: capabilities first (nothing later needs them); no_new_privs before Landlock
  // and seccomp (both require it when unprivileged); seccomp last so every earlier step may
  // still use the syscalls it forbids.
  // Nested (inside another fence sandbox): the outer one emptied the bounding set and locked
  // the securebits, and left no capability to do either again.
  run_child_step(
      report_fd, CommandStep::DropCapabilities,
      spec.nested ? platform::drop_remaining_capabilities : platform::drop_all_capabilities);
  run_child_step(report_fd, CommandStep::NoNewPrivs, platform::set_no_new_privs);
  run_child_step(report_fd, CommandStep::Landlock,
                 [&] { platform::apply_landlock(setup.landlock); });
  platform::UniqueFd notify_fd;
  run_child_step(report_fd, CommandStep::Seccomp,
                 [&] { notify_fd = install_seccomp_filter(setup.seccomp); });
  if (setup.seccomp.needs_listener())
    run_child_step(report_fd, CommandStep::HandOverNotifyFd,
                   [&] { hand_over_notify_fd(setup, std::move(notify_fd)); });
  fail(report_fd, CommandStep::Execve, exec_in_path(spec.argv, spec.env));
}

}  // namespace fence::launcher
