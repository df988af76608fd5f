#include "platform/seccomp_profile.hpp"

#include <linux/filter.h>
#include <linux/sched.h>
#include <fcntl.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <string_view>

#include "platform/sys_error.hpp"
#include "platform/unique_fd.hpp"

namespace fence::platform {

namespace {

// The kernel reads ioctl's cmd, personality's persona and socket's domain as 32-bit ints;
// libseccomp compares 64 bits. Comparing under this mask stops high bits from hiding a value.
constexpr std::uint64_t kLow32 = 0xffffffffULL;

// Syscalls with numbers at or above this bit are the x32 ABI on x86_64.
constexpr std::uint32_t kX32SyscallBit = 0x40000000U;

constexpr std::uint64_t kPersonalityQuery = 0xffffffffULL;

struct DenyGroup {
  const char* why;  // shown by describe_seccomp
  int error;
  std::vector<const char*> syscalls;
};

// Plain (argument-independent) denials, EPERM unless stated.
std::vector<DenyGroup> deny_groups() {
  return {
      {"setns: no joining other namespaces", EPERM, {"setns"}},
      {"io_uring: its operations bypass seccomp and have a long exploit history",
       EPERM,
       {"io_uring_setup", "io_uring_enter", "io_uring_register"}},
      {"kernel keyrings: shared, not namespaced, a frequent exploit target",
       EPERM,
       {"keyctl", "add_key", "request_key"}},
      {"ptrace and cross-process memory access: read/modify other sandboxed processes",
       EPERM,
       {"ptrace", "process_vm_readv", "process_vm_writev"}},
      {"bpf, perf_event_open: large attack surface, kernel info leaks",
       EPERM,
       {"bpf", "perf_event_open"}},
      {"userfaultfd: stalls kernel page faults, turns races into exploits", EPERM, {"userfaultfd"}},
      {"kexec and kernel modules: replace or extend the kernel",
       EPERM,
       {"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module"}},
      {"mounts: the mount layout is the filesystem policy",
       EPERM,
       {"mount", "umount2", "pivot_root", "chroot"}},
      {"new mount API: same as mount, through file descriptors",
       EPERM,
       {"fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
        "open_tree_attr"}},
      {"file handles: open_by_handle_at escapes bind mounts (shocker)",
       EPERM,
       {"name_to_handle_at", "open_by_handle_at"}},
      {"host administration: swap, reboot, kernel log, accounting, quotas",
       EPERM,
       {"swapon", "swapoff", "reboot", "syslog", "acct", "quotactl", "quotactl_fd",
        "lookup_dcookie", "vhangup", "nfsservctl", "uselib"}},
      {"raw I/O ports (x86)", EPERM, {"iopl", "ioperm"}},
      {"clone3: its flags live in memory seccomp cannot read; ENOSYS makes libc use clone",
       ENOSYS,
       {"clone3"}},
  };
}

// Syscalls newer than libseccomp 2.5.4's table, with their number in the unified table
// (the same on every architecture for numbers >= 424). Any other unknown name is a bug.
struct NewSyscall {
  const char* name;
  int number;
};
constexpr NewSyscall kNewerSyscalls[] = {
    {"open_tree_attr", 467},  // Linux 6.15: open_tree() plus mount attributes
};

constexpr std::uint64_t kNamespaceFlags[] = {
    CLONE_NEWNS,   CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
    CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET,
};

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Ctx = std::unique_ptr<void, CtxDeleter>;

void check(int rc, const std::string& what) {
  if (rc < 0) throw SysError("seccomp: " + what, -rc);
}

int resolve(const char* name) {
  const int nr = seccomp_syscall_resolve_name(name);
  if (nr != __NR_SCMP_ERROR) return nr;
  for (const auto& known : kNewerSyscalls) {
    if (std::string_view(name) == known.name) return known.number;
  }
  throw SysError(std::string("seccomp: libseccomp does not know syscall ") + name, ENOSYS);
}

template <typename... Cmp>
void deny(scmp_filter_ctx ctx, const char* name, int error, Cmp... cmp) {
  const int nr = resolve(name);
  check(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(error), nr, sizeof...(cmp), cmp...),
        std::string("rule for ") + name);
}

void add_terminal_rules(scmp_filter_ctx ctx) {
  // SECURITY: TIOCSTI/TIOCLINUX push keystrokes into the terminal the user's shell reads
  // after we exit. Compared on the low 32 bits: the kernel ignores cmd's high bits.
  deny(ctx, "ioctl", EPERM, SCMP_A1(SCMP_CMP_MASKED_EQ, kLow32, TIOCSTI));
  deny(ctx, "ioctl", EPERM, SCMP_A1(SCMP_CMP_MASKED_EQ, kLow32, TIOCLINUX));
}

void add_namespace_rules(scmp_filter_ctx ctx) {
  // SECURITY: no nested namespaces. A new user namespace regains every capability and
  // exposes kernel code that is otherwise root-only. One rule per flag: rules are OR'ed.
  for (const auto flag : kNamespaceFlags) {
    deny(ctx, "clone", EPERM, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
    deny(ctx, "unshare", EPERM, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
  }
  // In clone() this bit is part of the exit signal; only unshare() reads it as a flag.
  deny(ctx, "unshare", EPERM, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWTIME, CLONE_NEWTIME));
}

void add_personality_rules(scmp_filter_ctx ctx) {
  // SECURITY: personality flags (READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE, MMAP_PAGE_ZERO...)
  // weaken the address space of what is exec'd next. Only PER_LINUX (0) and the query
  // 0xffffffff pass. libseccomp allows one comparison per argument in a rule, so "not 0 and
  // not 0xffffffff" is spelled as: high bits set, or two adjacent low bits that differ
  // (a 32-bit value has such a pair exactly when it is neither all zeros nor all ones).
  deny(ctx, "personality", EPERM, SCMP_A0(SCMP_CMP_GT, kPersonalityQuery));
  for (int bit = 0; bit < 31; ++bit) {
    const std::uint64_t pair = 3ULL << bit;
    deny(ctx, "personality", EPERM, SCMP_A0(SCMP_CMP_MASKED_EQ, pair, 1ULL << bit));
    deny(ctx, "personality", EPERM, SCMP_A0(SCMP_CMP_MASKED_EQ, pair, 2ULL << bit));
  }
}

void add_socket_rules(scmp_filter_ctx ctx, const SeccompOptions& options) {
  // SECURITY: a unix socket reaches host services by path (D-Bus, ssh-agent, docker.sock);
  // socketpair() creates only a connected pair and stays allowed.
  if (!options.allow_unix_sockets) {
    deny(ctx, "socket", EPERM, SCMP_A0(SCMP_CMP_MASKED_EQ, kLow32, AF_UNIX));
  }
}

// SECURITY: the filter must kill x32 syscalls (nr >= 0x40000000): an x86_64 filter that
// lets them through would see different syscall numbers than its rules name. libseccomp
// 2.5 emits `if (nr >= 0x40000000) -> bad-arch action` for x86_64-only filters; we refuse
// to load a program that lacks that check (e.g. after a libseccomp change).
void verify_x32_rejected(scmp_filter_ctx ctx) {
  if (seccomp_arch_native() != SCMP_ARCH_X86_64) return;
  UniqueFd fd(::memfd_create("fence-seccomp-bpf", MFD_CLOEXEC));
  if (!fd) throw SysError("seccomp: memfd_create");
  check(seccomp_export_bpf(ctx, fd.get()), "export bpf");
  if (::lseek(fd.get(), 0, SEEK_SET) != 0) throw SysError("seccomp: lseek");
  sock_filter insn{};
  for (;;) {
    const auto n = retry_eintr([&] { return ::read(fd.get(), &insn, sizeof(insn)); });
    if (n < 0) throw SysError("seccomp: read bpf");
    if (n != static_cast<ssize_t>(sizeof(insn))) break;
    if (insn.code == (BPF_JMP | BPF_JGE | BPF_K) && insn.k == kX32SyscallBit) return;
  }
  throw SysError("seccomp: generated filter does not reject x32 syscalls", EPROTO);
}

// SECURITY: creating a name is decided and performed by the listener from its own copy of the
// arguments, so a thread rewriting the path after the check changes nothing (no CONTINUE).
void add_creation_rules(scmp_filter_ctx ctx) {
  auto notify = [&](const char* name, auto... cmp) {
    check(seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, resolve(name), sizeof...(cmp), cmp...),
          std::string("notify rule for ") + name);
  };
  notify("open", SCMP_A1(SCMP_CMP_MASKED_EQ, O_CREAT, O_CREAT));
  notify("openat", SCMP_A2(SCMP_CMP_MASKED_EQ, O_CREAT, O_CREAT));
  for (const char* name : {"creat", "mkdir", "mkdirat", "mknod", "mknodat", "symlink",
                           "symlinkat", "link", "linkat", "rename", "renameat", "renameat2"})
    notify(name);
  // openat2's flags live in memory a filter cannot read; ENOSYS makes callers use openat.
  deny(ctx, "openat2", ENOSYS);
}

Ctx build_filter(const SeccompOptions& options) {
  Ctx ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx) throw SysError("seccomp: init", ENOMEM);
  // SECURITY: any other architecture (i386 via `int 0x80`, x32) is killed outright: its
  // syscall numbers differ, so our rules would not match what the kernel runs.
  check(seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS),
        "bad-arch action");
  // Every thread gets the filter, not only the caller. (The kernel refuses TSYNC together with
  // a listener; with notify_creations the caller is the single-threaded command child.)
  if (!options.notify_creations)
    check(seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_TSYNC, 1), "tsync");
  // Report the kernel's errno on failure (best effort: an older API level lacks it).
  (void)seccomp_attr_set(ctx.get(), SCMP_FLTATR_API_SYSRAWRC, 1);

  for (const auto& group : deny_groups()) {
    for (const char* name : group.syscalls) deny(ctx.get(), name, group.error);
  }
  add_terminal_rules(ctx.get());
  add_namespace_rules(ctx.get());
  add_personality_rules(ctx.get());
  add_socket_rules(ctx.get(), options);
  if (options.notify_creations) add_creation_rules(ctx.get());
  verify_x32_rejected(ctx.get());
  return ctx;
}

}  // namespace

UniqueFd install_seccomp_filter(const SeccompOptions& options) {
  Ctx ctx = build_filter(options);
  check(seccomp_load(ctx.get()), "load filter");
  if (!options.notify_creations) return UniqueFd();
  const int fd = seccomp_notify_fd(ctx.get());
  if (fd < 0) throw SysError("seccomp: listener fd", -fd);
  return UniqueFd(fd);
}

std::vector<std::string> describe_seccomp(const SeccompOptions& options) {
  std::vector<std::string> lines;
  lines.emplace_back(
      "seccomp: default allow; other architectures (i386 int 0x80, x32) kill "
      "the process");
  lines.emplace_back(
      "seccomp: ioctl TIOCSTI, TIOCLINUX denied (terminal injection; cmd "
      "compared on 32 bits)");
  lines.emplace_back(
      "seccomp: clone/unshare with any CLONE_NEW* flag denied (no nested "
      "namespaces)");
  for (const auto& group : deny_groups()) {
    std::string line = "seccomp: ";
    line += group.why;
    line += group.error == ENOSYS ? " [ENOSYS]:" : " [EPERM]:";
    for (const char* name : group.syscalls) line += std::string(" ") + name;
    lines.push_back(std::move(line));
  }
  lines.emplace_back("seccomp: personality other than PER_LINUX and the query denied");
  lines.emplace_back(options.allow_unix_sockets
                         ? "seccomp: socket(AF_UNIX) allowed (policy)"
                         : "seccomp: socket(AF_UNIX) denied; socketpair allowed");
  return lines;
}

}  // namespace fence::platform
