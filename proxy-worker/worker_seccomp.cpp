#include "proxy-worker/worker_seccomp.hpp"

#include <fcntl.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cstdint>
#include <memory>

#include "platform/sys_error.hpp"

namespace fence::proxy {

namespace {

// The kernel reads fcntl's and ioctl's command as 32-bit ints; compare the low 32 bits only so
// high garbage cannot make a forbidden command look allowed (or the reverse).
constexpr std::uint64_t kLow32 = 0xffffffffULL;

struct AllowGroup {
  const char* why;
  std::vector<const char*> syscalls;
};

// Argument-independent allowances.
std::vector<AllowGroup> allow_groups() {
  return {
      {"bytes on fds it holds",
       {"read", "write", "readv", "writev", "recvfrom", "recvmsg", "sendto", "sendmsg", "close",
        "shutdown", "splice", "pipe2"}},
      {"accept on the two listeners it was given (they are already bound and listening)",
       {"accept", "accept4"}},
      {"socket options and names of sockets it holds",
       {"getsockopt", "setsockopt", "getsockname", "getpeername"}},
      {"event loop and timers",
       {"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd2",
        "timerfd_create", "timerfd_settime", "timerfd_gettime", "clock_gettime",
        "clock_nanosleep", "nanosleep", "gettimeofday", "restart_syscall"}},
      {"memory (mmap/mprotect: see the PROT_EXEC rules)",
       {"brk", "munmap", "mremap", "madvise", "futex"}},
      {"process basics", {"rt_sigreturn", "rt_sigprocmask", "exit", "exit_group", "getpid",
                          "gettid", "getrandom", "sched_yield"}},
  };
}

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Ctx = std::unique_ptr<void, CtxDeleter>;

void check(int rc, const std::string& what) {
  if (rc < 0) throw platform::SysError("worker seccomp: " + what, -rc);
}

template <typename... Cmp>
void allow(scmp_filter_ctx ctx, const char* name, Cmp... cmp) {
  const int nr = seccomp_syscall_resolve_name(name);
  // A name this architecture does not have (e.g. epoll_wait on arm64) needs no rule.
  if (nr == __NR_SCMP_ERROR || nr < 0) return;
  check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, sizeof...(cmp), cmp...),
        std::string("allow ") + name);
}

void add_argument_rules(scmp_filter_ctx ctx) {
  // fcntl: flags (O_NONBLOCK, FD_CLOEXEC) and the relay pipes' size. Not F_DUPFD*,
  // F_SETOWN/F_SETSIG, leases, locks.
  for (const int cmd : {F_GETFL, F_SETFL, F_GETFD, F_SETFD, F_SETPIPE_SZ}) {
    allow(ctx, "fcntl", SCMP_A1(SCMP_CMP_MASKED_EQ, kLow32, static_cast<std::uint64_t>(cmd)));
  }
  // ioctl: Asio's non-blocking switch and the readable-bytes query; nothing else (no TIOCSTI).
  for (const unsigned long cmd : {FIONBIO, FIONREAD}) {
    allow(ctx, "ioctl", SCMP_A1(SCMP_CMP_MASKED_EQ, kLow32, static_cast<std::uint64_t>(cmd)));
  }
  // SECURITY: no executable memory, ever: a parser exploit cannot map or flip shellcode to
  // executable (W^X for everything after startup; the binary's text was mapped by then).
  allow(ctx, "mmap", SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
  allow(ctx, "mprotect", SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
}

Ctx build_filter() {
  Ctx ctx(seccomp_init(SCMP_ACT_KILL_PROCESS));
  if (!ctx) throw platform::SysError("worker seccomp: init", ENOMEM);
  // SECURITY: i386 (int 0x80) and x32 syscall numbers differ from the ones named here; any
  // syscall from another ABI kills the process (libseccomp also emits the x32 range check).
  check(seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS),
        "bad-arch action");
  // The worker is single-threaded; TSYNC still makes a thread we did not expect fail the load.
  check(seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_TSYNC, 1), "tsync");
  for (const auto& group : allow_groups()) {
    for (const char* name : group.syscalls) allow(ctx.get(), name);
  }
  add_argument_rules(ctx.get());
  return ctx;
}

}  // namespace

void install_worker_seccomp() {
  Ctx ctx = build_filter();
  check(seccomp_load(ctx.get()), "load filter");
}

std::vector<std::string> describe_worker_seccomp() {
  std::vector<std::string> lines;
  lines.emplace_back("worker seccomp: allowlist, anything else kills the process; other ABIs kill");
  for (const auto& group : allow_groups()) {
    std::string line = std::string("worker seccomp: ") + group.why + ":";
    for (const char* name : group.syscalls) line += std::string(" ") + name;
    lines.push_back(std::move(line));
  }
  lines.emplace_back("worker seccomp: fcntl F_GETFL/F_SETFL/F_GETFD/F_SETFD only");
  lines.emplace_back("worker seccomp: ioctl FIONBIO/FIONREAD only");
  lines.emplace_back("worker seccomp: mmap/mprotect without PROT_EXEC only");
  return lines;
}

}  // namespace fence::proxy
