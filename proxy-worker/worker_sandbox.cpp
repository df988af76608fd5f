#include "proxy-worker/worker_sandbox.hpp"

#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

#include "platform/capabilities.hpp"
#include "platform/landlock.hpp"
#include "platform/namespaces.hpp"
#include "platform/process.hpp"
#include "platform/sys_error.hpp"
#include "proxy-worker/worker_seccomp.hpp"

namespace fence::proxy_worker {

namespace {

using platform::SysError;

constexpr std::uint64_t kFdsPerTunnel = 6;
constexpr std::uint64_t kFdSlack = 64;
constexpr std::uint64_t kAddressSpace = 256ULL * 1024 * 1024;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

void set_limit(int resource, std::uint64_t value, const char* what) {
  rlimit current{};
  if (::getrlimit(resource, &current) != 0) throw SysError(std::string("getrlimit ") + what);
  // Only ever lowered: raising the hard limit would need CAP_SYS_RESOURCE on the host.
  const rlim_t hard = std::min<rlim_t>(current.rlim_max, value);
  const rlimit wanted{hard, hard};
  if (::setrlimit(resource, &wanted) != 0) throw SysError(std::string("setrlimit ") + what);
}

}  // namespace

std::uint64_t worker_fd_limit(std::uint32_t max_tunnels) {
  return static_cast<std::uint64_t>(max_tunnels) * kFdsPerTunnel + kFdSlack;
}

std::uint64_t worker_address_space_limit() {
  return kSanitized ? 0 : kAddressSpace;
}

void prepare_process() {
  // 1. Non-dumpable: no core files with client bytes, no ptrace or /proc/<pid>/mem access by
  //    other processes of the same user (the sandboxed command runs as that user).
  platform::set_non_dumpable();
  // 2. Die with the supervisor: nobody else may ever hold the listeners' accept side.
  platform::set_parent_death_signal(SIGKILL, ::getppid());
  // 3. Exactly stdio and the channel: nothing the supervisor leaked by mistake stays reachable.
  platform::close_fds_except({0, 1, 2, ipc::kChannelFd});
  // 4. (SupervisorClient) Handshake: Hello both ways, then ProxyStart with the two listeners.
}

std::vector<std::string> restrict_worker(const ipc::ProxyStart& limits) {
  std::vector<std::string> steps;
  // 5. Own user namespace mapping only our own ids: the next step needs CAP_SYS_ADMIN, which
  //    we hold only over namespaces this one owns. (Toggles dumpable just for the map writes.)
  platform::enter_user_namespace(::getuid(), ::getgid());
  steps.emplace_back("user namespace: own uid/gid mapped to itself");
  // 6. Empty network namespace: no usable interface, so even a socket() that got past every
  //    later layer reaches nothing. Sockets already held stay in the sandbox's namespace.
  if (::unshare(CLONE_NEWNET) != 0) throw SysError("unshare(CLONE_NEWNET)");
  steps.emplace_back("network namespace: new and empty");
  // 7. Give back the capabilities the user namespace granted: the worker needs none.
  platform::drop_all_capabilities();
  steps.emplace_back("capabilities: none");
  // 8. A write to a closed client must be an EPIPE value, not a fatal SIGPIPE (rt_sigaction is
  //    not allowed once seccomp is on, so this is the last chance).
  if (::signal(SIGPIPE, SIG_IGN) == SIG_ERR) throw SysError("signal(SIGPIPE)");
  // 9. rlimits: a flood of clients or a memory bug hits a wall of its own, not the host's.
  set_limit(RLIMIT_NOFILE, worker_fd_limit(limits.max_tunnels), "RLIMIT_NOFILE");
  if (const auto as = worker_address_space_limit(); as != 0) set_limit(RLIMIT_AS, as, "RLIMIT_AS");
  // (No RLIMIT_FSIZE: stderr may be a log file the supervisor's caller redirected.)
  set_limit(RLIMIT_NPROC, 0, "RLIMIT_NPROC");      // no fork/thread even before seccomp
  set_limit(RLIMIT_CORE, 0, "RLIMIT_CORE");        // no core files with client bytes
  set_limit(RLIMIT_MEMLOCK, 0, "RLIMIT_MEMLOCK");  // nothing to lock
  steps.emplace_back("rlimits: NOFILE " + std::to_string(worker_fd_limit(limits.max_tunnels)) +
                     ", AS " + std::to_string(worker_address_space_limit()) +
                     ", NPROC 0, CORE 0, MEMLOCK 0");
  // 10. no_new_privs: required for unprivileged Landlock and seccomp; nothing can ever regain
  //     privileges by exec (which seccomp forbids anyway).
  platform::set_no_new_privs();
  steps.emplace_back("no_new_privs");
  // 11. Landlock: every filesystem right handled and no rule (no file at all), TCP bind and
  //     connect handled with no port, abstract unix sockets and signals scoped.
  platform::LandlockPolicy landlock;
  landlock.restrict_bind = landlock.restrict_connect = true;
  const auto applied = platform::apply_landlock(landlock);
  steps.emplace_back("landlock ABI " + std::to_string(applied.abi) +
                     ": no filesystem access, no TCP bind/connect, scoped");
  // 12. seccomp last: the steps above need syscalls (unshare, prctl, landlock_*) it forbids.
  install_worker_seccomp();
  for (auto& line : describe_worker_seccomp()) steps.push_back(std::move(line));
  steps.emplace_back("seccomp: allowlist installed");
  return steps;
}

}  // namespace fence::proxy_worker
