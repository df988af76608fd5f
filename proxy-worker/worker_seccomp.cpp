#include "proxy-worker/worker_seccomp.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cstdint>

#include "platform/seccomp_filter.hpp"

namespace fence::proxy_worker {

namespace {

using platform::kLow32;

struct AllowGroup {
  const char* why;
  std::vector<const char*> syscalls;
};

// Argument-independent allowances.
const std::vector<AllowGroup>& allow_groups() {
  static const std::vector<AllowGroup> kGroups = {
      {"bytes on fds it holds",
       {"read", "write", "readv", "writev", "recvfrom", "recvmsg", "sendto", "sendmsg", "close",
        "shutdown", "splice", "pipe2"}},
      {"accept on the two listeners it was given (they are already bound and listening)",
       {"accept", "accept4"}},
      {"socket options and names of sockets it holds",
       {"getsockopt", "setsockopt", "getsockname", "getpeername"}},
      {"event loop and timers",
       {"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd2",
        "timerfd_create", "timerfd_settime", "timerfd_gettime", "clock_gettime", "clock_nanosleep",
        "nanosleep", "gettimeofday", "restart_syscall"}},
      {"memory (mmap/mprotect: see the PROT_EXEC rule)",
       {"brk", "munmap", "mremap", "madvise", "futex"}},
      {"process basics",
       {"rt_sigreturn", "rt_sigprocmask", "exit", "exit_group", "getpid", "gettid", "getrandom",
        "sched_yield"}},
  };
  return kGroups;
}

// Commands allowed for a syscall, compared on their low 32 bits (the kernel reads them as ints,
// so high garbage can neither hide a forbidden one nor forge an allowed one).
struct NamedCommand {
  const char* name;
  std::uint64_t value;
};
struct CommandRule {
  const char* syscall;
  const char* why;
  std::vector<NamedCommand> commands;
};

const std::vector<CommandRule>& command_rules() {
  static const std::vector<CommandRule> kRules = {
      // Flags (O_NONBLOCK, FD_CLOEXEC) and the relay pipes' size. Not F_DUPFD*,
      // F_SETOWN/F_SETSIG, leases, locks.
      {"fcntl",
       "flags and the relay pipes' size",
       {{"F_GETFL", F_GETFL},
        {"F_SETFL", F_SETFL},
        {"F_GETFD", F_GETFD},
        {"F_SETFD", F_SETFD},
        {"F_SETPIPE_SZ", F_SETPIPE_SZ}}},
      // Asio's non-blocking switch and the readable-bytes query; nothing else (no TIOCSTI).
      {"ioctl",
       "non-blocking switch, readable bytes",
       {{"FIONBIO", FIONBIO}, {"FIONREAD", FIONREAD}}},
  };
  return kRules;
}

// SECURITY: no executable memory, ever: a parser exploit cannot map or flip shellcode to
// executable (W^X for everything after startup; the binary's text was mapped by then).
constexpr const char* kNoExecMemory[] = {"mmap", "mprotect"};

void allow(platform::SeccompFilter& filter, const char* name) {
  // A name this architecture does not have (e.g. epoll_wait on arm64) needs no rule.
  if (const auto nr = platform::syscall_number(name)) filter.add(SCMP_ACT_ALLOW, *nr, name);
}

}  // namespace

void install_worker_seccomp() {
  platform::SeccompFilter filter(SCMP_ACT_KILL_PROCESS, "worker seccomp");
  // The worker is single-threaded; TSYNC still makes a thread we did not expect fail the load.
  filter.synchronize_threads();
  for (const auto& group : allow_groups())
    for (const char* name : group.syscalls) allow(filter, name);
  for (const auto& rule : command_rules()) {
    const auto nr = platform::syscall_number(rule.syscall);
    if (!nr) continue;
    for (const auto& cmd : rule.commands)
      filter.add(SCMP_ACT_ALLOW, *nr, rule.syscall, SCMP_A1(SCMP_CMP_MASKED_EQ, kLow32, cmd.value));
  }
  for (const char* name : kNoExecMemory) {
    if (const auto nr = platform::syscall_number(name))
      filter.add(SCMP_ACT_ALLOW, *nr, name, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
  }
  filter.load(false);
}

std::vector<std::string> describe_worker_seccomp() {
  std::vector<std::string> lines;
  lines.emplace_back("seccomp: allowlist, anything else kills the process; other ABIs kill");
  for (const auto& group : allow_groups()) {
    std::string line = std::string("seccomp: ") + group.why + ":";
    for (const char* name : group.syscalls) line += std::string(" ") + name;
    lines.push_back(std::move(line));
  }
  for (const auto& rule : command_rules()) {
    std::string line = std::string("seccomp: ") + rule.syscall + " (" + rule.why + ") only";
    for (const auto& cmd : rule.commands) line += std::string(" ") + cmd.name;
    lines.push_back(std::move(line));
  }
  std::string line = "seccomp:";
  for (const char* name : kNoExecMemory) line += std::string(" ") + name;
  lines.push_back(line + " without PROT_EXEC only");
  return lines;
}

}  // namespace fence::proxy_worker
