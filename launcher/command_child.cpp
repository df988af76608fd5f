#include "launcher/command_child.hpp"
#include "launcher/writable_roots.hpp"

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

[[noreturn]] void fail(int error_fd, std::uint32_t step, int error) {
  ExecReport report{step, error};
  // Best effort: if init is gone there is nobody to tell.
  [[maybe_unused]] auto n = ::write(error_fd, &report, sizeof report);
  ::_exit(127);
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

}  // namespace

platform::LandlockPolicy landlock_policy_for(const ipc::LaunchSpec& spec) {
  using platform::PathAccess;
  platform::LandlockPolicy policy;
  for (const auto& p : spec.readable) policy.paths.emplace_back(p, PathAccess::Read);
  for (const auto& p : {"/proc", "/sys", "/run"}) policy.paths.emplace_back(p, PathAccess::Read);
  // Terminals and /dev/null need write and ioctl; the devices are a fixed minimal set.
  policy.paths.emplace_back("/dev", PathAccess::Device);
  policy.paths.emplace_back("/dev/shm", PathAccess::Write);
  // /tmp is writable whether it is the host's (a writable root) or a private tmpfs.
  policy.paths.emplace_back("/tmp", PathAccess::Write);
  for (const auto& p : spec.executable) policy.paths.emplace_back(p, PathAccess::Execute);
  for (const auto& p : writable_roots(spec))
    if (p != "/tmp") policy.paths.emplace_back(p, PathAccess::Write);
  // Only lo exists, so every TCP peer is inside the sandbox (defense in depth; the network
  // namespace is the isolation). bind: any port with allowLocalBinding, else only the -p
  // ports. connect: the proxy and transparent listeners, and the ports the command may serve
  // on itself (all of them with allowLocalBinding).
  policy.restrict_bind = !spec.allow_local_binding;
  policy.bind_ports = spec.bind_ports;
  policy.restrict_connect = !spec.allow_local_binding;
  policy.connect_ports = {spec.http_proxy_port, spec.socks_proxy_port};
  for (auto port : spec.local_outbound_ports) policy.connect_ports.push_back(port);
  for (auto port : spec.bind_ports) policy.connect_ports.push_back(port);
  policy.scope_abstract_unix = true;
  policy.scope_signal = true;
  return policy;
}

void exec_command(const CommandSetup& setup, int error_fd) {
  const ipc::LaunchSpec& spec = *setup.spec;
  // Step 0: init blocked signals and installed handlers; the command starts with defaults.
  sigset_t all;
  sigemptyset(&all);
  for (int sig = 1; sig < NSIG; ++sig) ::signal(sig, SIG_DFL);
  if (::sigprocmask(SIG_SETMASK, &all, nullptr) != 0) fail(error_fd, 0, errno);
  // Step 1.
  if (::chdir(spec.cwd.c_str()) != 0) fail(error_fd, 1, errno);
  // Step 2 — the command's standard streams are fence's (init's own are /dev/null). SECURITY:
  // nothing else (but the report pipe, CLOEXEC) reaches the command, including fds leaked by
  // whoever started fence (SECURITY-RULES 13).
  for (int fd = 0; fd < 3; ++fd) {
    if (::dup2(setup.stdio[fd], fd) < 0) fail(error_fd, 2, errno);
  }
  try {
    platform::close_fds_except({0, 1, 2, error_fd, setup.listener_socket});
  } catch (const platform::SysError& e) {
    fail(error_fd, 2, e.error_code());
  }
  // Steps 3-6, in this order: capabilities first (nothing later needs them); no_new_privs
  // before Landlock and seccomp (both require it when unprivileged); seccomp last so every
  // earlier step may still use the syscalls it forbids.
  std::uint32_t step = 3;
  try {
    platform::drop_all_capabilities();
    step = 4;
    platform::set_no_new_privs();
    step = 5;
    platform::apply_landlock(setup.landlock);
    step = 6;
    platform::UniqueFd listener = install_seccomp_filter(setup.seccomp);
    step = 7;
    if (setup.seccomp.needs_listener()) {
      // The command keeps no copy of the listener: init alone answers it. From here on init
      // answers this process's notified syscalls (its execve calls below included).
      platform::send_fd(setup.listener_socket, listener.get());
      listener.reset();
      ::close(setup.listener_socket);
    }
  } catch (const platform::SysError& e) {
    fail(error_fd, step, e.error_code());
  } catch (const std::exception&) {
    fail(error_fd, step, EINVAL);
  }
  fail(error_fd, kExecStep, exec_in_path(spec.argv, spec.env));
}

}  // namespace fence::launcher
