// fence-launcher: started by the supervisor with exactly one inherited channel at fd 3 and
// /dev/null as stdin, stdout and stderr (the command's streams come with the LaunchSpec).
//
// The sandbox plan, in order. Each step says why it sits where it does.
//
//  outer launcher (host pid namespace, child of the supervisor): this file
//   1. Hello, then the LaunchSpec           — everything the sandbox is built from.
//   2. user namespace, uid/gid mapped 1:1   — first: it grants the capabilities that every
//                                             later namespace and mount step needs, unprivileged.
//   3. mount/pid/net/ipc/uts/cgroup ns      — owned by the new user namespace.
//   4. fork init                            — the pid namespace applies to the next child.
//   5. wait for init, forward signals       — the supervisor's only handle on the sandbox.
//  nested (LaunchSpec::nested, inside another fence sandbox): none of 2-5; nested.hpp.
//  init (pid 1 of the sandbox): its own steps are listed at the top of init.cpp.
#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <vector>

#include "ipc/channel.hpp"
#include "launcher/init.hpp"
#include "launcher/nested.hpp"
#include "launcher/signals.hpp"
#include "launcher/step_error.hpp"
#include "launcher/supervisor_link.hpp"
#include "platform/capabilities.hpp"
#include "platform/namespaces.hpp"
#include "platform/process.hpp"

namespace fence::launcher {
namespace {

// SECURITY: nothing in or out of the sandbox may ptrace or read the launcher's memory; if the
// supervisor dies, the launcher (and with it the sandbox) dies too.
void protect_launcher() {
  platform::set_non_dumpable();
  platform::set_parent_death_signal(SIGKILL, ::getppid());
}

bool has_channel() {
  struct stat st {};
  return ::fstat(ipc::kChannelFd, &st) == 0 && S_ISSOCK(st.st_mode);
}

// The Hello exchange belongs to the channel (Channel::receive checks version and role).
bool exchange_hello(ipc::Channel& channel) {
  channel.send_hello();
  auto hello = channel.receive();
  return hello && hello->type == ipc::MessageType::Hello;
}

// Each of the command's streams moved above fd 2 (see CommandStdio).
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

void enter_namespaces() {
  run_step(Stage::UserNamespace, "namespaces: user namespace",
           [] { platform::enter_user_namespace(::getuid(), ::getgid()); });
  run_step(Stage::Namespaces, "namespaces: mount, pid, net, ipc, uts, cgroup",
           [] { platform::enter_sandbox_namespaces(); });
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

// The outer launcher's life after Hello. Returns its exit code; the command's own status
// travels in CommandExited.
int run_launcher(SupervisorLink& link) {
  std::optional<ReceivedLaunchSpec> launch = link.receive_launch_spec();
  if (!launch) return 1;
  CommandStdio stdio = take_stdio(launch->stdio);
  if (launch->spec.nested) {
    try {
      return run_nested(link, launch->spec, std::move(stdio));
    } catch (const StepError& e) {
      link.send_setup_failed(e);
      return 1;
    }
  }
  try {
    enter_namespaces();
  } catch (const StepError& e) {
    link.send_setup_failed(e);
    return 1;
  }
  pid_t init_pid = ::fork();
  if (init_pid < 0) {
    link.send_setup_failed(StepError(Stage::Namespaces, "namespaces: fork init", errno));
    return 1;
  }
  if (init_pid == 0) run_init(link, launch->spec, std::move(stdio));
  for (auto& fd : stdio.fds) fd.reset();
  return wait_for_init(init_pid);
}

}  // namespace
}  // namespace fence::launcher

int main() {
  using namespace fence;
  try {
    launcher::protect_launcher();
    if (!launcher::has_channel()) {
      std::fprintf(stderr, "fence-launcher: must be started by fence (no channel on fd 3)\n");
      return 2;
    }
    platform::close_fds_except({0, 1, 2, ipc::kChannelFd});
    ipc::Channel channel(platform::UniqueFd(ipc::kChannelFd), ipc::Role::Launcher,
                         ipc::Role::Supervisor);
    if (!launcher::exchange_hello(channel)) return 1;
    launcher::SupervisorLink link(channel);
    try {
      return launcher::run_launcher(link);
    } catch (const std::exception& e) {
      // Its standard streams are /dev/null: what went wrong goes to fence (best effort).
      link.send_setup_failed(e);
      return 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fence-launcher: %s\n", e.what());
    return 1;
  }
}
