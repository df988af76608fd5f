#include "platform/seccomp_profile.hpp"

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <iterator>
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
    {"fchmodat2", 452},   // Linux 6.6: fchmodat with flags
    {"setxattrat", 463},  // Linux 6.13: *xattrat, their arguments in a struct
    {"removexattrat", 466},
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

// Argument-dependent refusals (below), all EPERM. Together with the EPERM groups of
// deny_groups() they are what report_violations turns into notifications.
constexpr const char* kArgumentRefusals[] = {"ioctl",       "clone",  "unshare",
                                             "personality", "socket", "socketpair"};

// Answered by the listener: performed there (filesystem) or checked (exec).
// (bind: a unix socket bound to a path creates that name.)
constexpr const char* kFilesystemSyscalls[] = {
    "open",      "openat",    "creat",       "mkdir",        "mkdirat",     "mknod",
    "mknodat",   "symlink",   "symlinkat",   "link",         "linkat",      "rename",
    "renameat",  "renameat2", "bind",        "unlink",       "unlinkat",    "rmdir",
    "truncate",  "chmod",     "fchmod",      "fchmodat",     "fchmodat2",   "setxattr",
    "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr"};
// The syscalls of kFilesystemSyscalls that cannot create a name.
constexpr std::string_view kWriteOnlySyscalls[] = {
    "unlink",    "unlinkat",    "rmdir",        "truncate",    "chmod",
    "fchmod",    "fchmodat",    "fchmodat2",    "setxattr",    "lsetxattr",
    "fsetxattr", "removexattr", "lremovexattr", "fremovexattr"};
constexpr const char* kExecSyscalls[] = {"execve", "execveat"};
constexpr const char* kConnectSyscalls[] = {"connect"};

// Refuses `name` (under the comparisons `cmp`) with `error`. SECURITY: with report_violations an
// EPERM refusal becomes a notification, and the listener answers it with refusal_errno(), which
// is EPERM for every such rule: the process sees the same errno either way. ENOSYS answers
// (clone3, openat2) stay in the filter: they exist to make libc fall back, not to refuse.
template <typename... Cmp>
void deny(scmp_filter_ctx ctx, const SeccompOptions& options, const char* name, int error,
          Cmp... cmp) {
  const int nr = resolve(name);
  const bool notify = options.report_violations && error == EPERM;
  check(seccomp_rule_add(ctx, notify ? SCMP_ACT_NOTIFY : SCMP_ACT_ERRNO(error), nr, sizeof...(cmp),
                         cmp...),
        std::string("rule for ") + name);
}

template <typename... Cmp>
void notify(scmp_filter_ctx ctx, const char* name, Cmp... cmp) {
  check(seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, resolve(name), sizeof...(cmp), cmp...),
        std::string("notify rule for ") + name);
}

void add_terminal_rules(scmp_filter_ctx ctx, const SeccompOptions& o) {
  // SECURITY: TIOCSTI/TIOCLINUX push keystrokes into the terminal the user's shell reads
  // after we exit. Compared on the low 32 bits: the kernel ignores cmd's high bits.
  deny(ctx, o, "ioctl", EPERM, SCMP_A1(SCMP_CMP_MASKED_EQ, kLow32, TIOCSTI));
  deny(ctx, o, "ioctl", EPERM, SCMP_A1(SCMP_CMP_MASKED_EQ, kLow32, TIOCLINUX));
}

void add_namespace_rules(scmp_filter_ctx ctx, const SeccompOptions& o) {
  // SECURITY: no nested namespaces. A new user namespace regains every capability and
  // exposes kernel code that is otherwise root-only. One rule per flag: rules are OR'ed.
  for (const auto flag : kNamespaceFlags) {
    deny(ctx, o, "clone", EPERM, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
    deny(ctx, o, "unshare", EPERM, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
  }
  // In clone() this bit is part of the exit signal; only unshare() reads it as a flag.
  deny(ctx, o, "unshare", EPERM, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWTIME, CLONE_NEWTIME));
}

void add_personality_rules(scmp_filter_ctx ctx, const SeccompOptions& o) {
  // SECURITY: personality flags (READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE, MMAP_PAGE_ZERO...)
  // weaken the address space of what is exec'd next. Only PER_LINUX (0) and the query
  // 0xffffffff pass. libseccomp allows one comparison per argument in a rule, so "not 0 and
  // not 0xffffffff" is spelled as: high bits set, or two adjacent low bits that differ
  // (a 32-bit value has such a pair exactly when it is neither all zeros nor all ones).
  deny(ctx, o, "personality", EPERM, SCMP_A0(SCMP_CMP_GT, kPersonalityQuery));
  for (int bit = 0; bit < 31; ++bit) {
    const std::uint64_t pair = 3ULL << bit;
    deny(ctx, o, "personality", EPERM, SCMP_A0(SCMP_CMP_MASKED_EQ, pair, 1ULL << bit));
    deny(ctx, o, "personality", EPERM, SCMP_A0(SCMP_CMP_MASKED_EQ, pair, 2ULL << bit));
  }
}

void add_socket_rules(scmp_filter_ctx ctx, const SeccompOptions& options) {
  if (options.unix_sockets == UnixSockets::All) return;
  // SECURITY: a unix socket reaches host services by path (D-Bus, ssh-agent, docker.sock).
  // Stream and seqpacket pairs are born connected and can never be pointed elsewhere; a
  // datagram socket can (connect again, sendto with an address), so no datagram unix socket
  // may exist: SOCK_RAW is the same as SOCK_DGRAM for AF_UNIX. The type is compared under
  // SOCK_TYPE_MASK (the kernel ignores the flag bits above it), the domain on 32 bits.
  constexpr std::uint64_t kTypeMask = 0xf;
  for (const int type : {SOCK_DGRAM, SOCK_RAW}) {
    const auto t = static_cast<std::uint64_t>(type);
    deny(ctx, options, "socketpair", EPERM, SCMP_A1(SCMP_CMP_MASKED_EQ, kTypeMask, t));
    if (options.unix_sockets == UnixSockets::Listed)
      deny(ctx, options, "socket", EPERM, SCMP_A0(SCMP_CMP_MASKED_EQ, kLow32, AF_UNIX),
           SCMP_A1(SCMP_CMP_MASKED_EQ, kTypeMask, t));
  }
  if (options.unix_sockets == UnixSockets::PairsOnly)
    deny(ctx, options, "socket", EPERM, SCMP_A0(SCMP_CMP_MASKED_EQ, kLow32, AF_UNIX));
  // SECURITY: with sockets of its own, a process could connect one to any socket file in the
  // read-only view of the host (a mount does not stop connect, Landlock ABI 7 has no right for
  // it). init performs every connect() from its own copy of the address (never CONTINUE: the
  // fd number or the address could be swapped after a check).
  if (options.mediates_connect())
    for (const char* name : kConnectSyscalls) notify(ctx, name);
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

// SECURITY: a filesystem syscall is decided and performed by the listener from its own copy
// of the arguments, so a thread rewriting the path after the check changes nothing (the
// listener never answers these with CONTINUE). Only the flags a filter can see are compared:
// an open reaches the listener when it may write (O_WRONLY, O_RDWR), create (O_CREAT) or
// truncate (O_TRUNC); read-only opens, by far the most frequent, never leave the kernel.
void add_filesystem_rules(scmp_filter_ctx ctx, const SeccompOptions& options) {
  // One rule per flag: rules for one syscall are OR'ed, and libseccomp allows one comparison
  // per argument in a rule. Single-bit masks: the kernel reads flags as an int, and a bit
  // above 31 cannot fake one of these.
  std::vector<int> flags = {O_CREAT};
  if (options.notifies_writes()) flags = {O_WRONLY, O_RDWR, O_CREAT, O_TRUNC};
  for (const int flag : flags) {
    const auto f = static_cast<std::uint64_t>(flag);
    notify(ctx, "open", SCMP_A1(SCMP_CMP_MASKED_EQ, f, f));
    notify(ctx, "openat", SCMP_A2(SCMP_CMP_MASKED_EQ, f, f));
  }
  for (const char* name : kFilesystemSyscalls) {
    const std::string_view n = name;
    if (n == "open" || n == "openat") continue;
    // The creation guard alone needs only what can create a name.
    const bool creates = std::find(std::begin(kWriteOnlySyscalls), std::end(kWriteOnlySyscalls),
                                   n) == std::end(kWriteOnlySyscalls);
    if (!creates && !options.notifies_writes()) continue;
    notify(ctx, name);
  }
  // openat2's flags live in memory a filter cannot read; ENOSYS makes callers use openat. The
  // *xattrat calls keep their arguments in a struct as well; callers fall back to *xattr.
  deny(ctx, options, "openat2", ENOSYS);
  if (options.notifies_writes())
    for (const char* name : {"setxattrat", "removexattrat"}) deny(ctx, options, name, ENOSYS);
}

// The runtime command policy: init reads the path and argv and asks the supervisor.
void add_exec_rules(scmp_filter_ctx ctx) {
  for (const char* name : kExecSyscalls) notify(ctx, name);
}

Ctx build_filter(const SeccompOptions& options) {
  Ctx ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx) throw SysError("seccomp: init", ENOMEM);
  // SECURITY: any other architecture (i386 via `int 0x80`, x32) is killed outright: its
  // syscall numbers differ, so our rules would not match what the kernel runs.
  check(seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS),
        "bad-arch action");
  // Every thread gets the filter, not only the caller. (The kernel refuses TSYNC together with
  // a listener; then the caller is the single-threaded command child.)
  if (!options.needs_listener())
    check(seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_TSYNC, 1), "tsync");
  // Report the kernel's errno on failure (best effort: an older API level lacks it).
  (void)seccomp_attr_set(ctx.get(), SCMP_FLTATR_API_SYSRAWRC, 1);

  for (const auto& group : deny_groups()) {
    for (const char* name : group.syscalls) deny(ctx.get(), options, name, group.error);
  }
  add_terminal_rules(ctx.get(), options);
  add_namespace_rules(ctx.get(), options);
  add_personality_rules(ctx.get(), options);
  add_socket_rules(ctx.get(), options);
  if (options.notifies_filesystem()) add_filesystem_rules(ctx.get(), options);
  if (options.check_exec) add_exec_rules(ctx.get());
  verify_x32_rejected(ctx.get());
  return ctx;
}

// Native numbers of `names`, skipping those this architecture does not have.
template <typename Names>
std::vector<int> numbers_of(const Names& names) {
  std::vector<int> out;
  for (const char* name : names) {
    int nr = seccomp_syscall_resolve_name(name);
    for (const auto& known : kNewerSyscalls)
      if (nr < 0 && std::string_view(name) == known.name) nr = known.number;
    if (nr >= 0) out.push_back(nr);
  }
  return out;
}

const std::vector<int>& refused_numbers() {
  static const std::vector<int> numbers = [] {
    std::vector<const char*> names(std::begin(kArgumentRefusals), std::end(kArgumentRefusals));
    for (const auto& group : deny_groups())
      if (group.error == EPERM)
        names.insert(names.end(), group.syscalls.begin(), group.syscalls.end());
    std::vector<int> out;
    for (const char* name : names) out.push_back(resolve(name));
    return out;
  }();
  return numbers;
}

bool contains(const std::vector<int>& numbers, int nr) {
  return std::find(numbers.begin(), numbers.end(), nr) != numbers.end();
}

}  // namespace

UniqueFd install_seccomp_filter(const SeccompOptions& options) {
  Ctx ctx = build_filter(options);
  check(seccomp_load(ctx.get()), "load filter");
  if (!options.needs_listener()) return UniqueFd();
  const int fd = seccomp_notify_fd(ctx.get());
  if (fd < 0) throw SysError("seccomp: listener fd", -fd);
  return UniqueFd(fd);
}

NotifiedSyscall classify_notified_syscall(int nr) {
  static const std::vector<int> filesystem = numbers_of(kFilesystemSyscalls);
  static const std::vector<int> exec = numbers_of(kExecSyscalls);
  static const std::vector<int> connect = numbers_of(kConnectSyscalls);
  if (nr < 0) return NotifiedSyscall::None;
  if (contains(filesystem, nr)) return NotifiedSyscall::Filesystem;
  if (contains(exec, nr)) return NotifiedSyscall::Exec;
  if (contains(connect, nr)) return NotifiedSyscall::Connect;
  if (contains(refused_numbers(), nr)) return NotifiedSyscall::Refusal;
  return NotifiedSyscall::None;
}

int refusal_errno(int nr) {
  // Every refusal that report_violations notifies is EPERM (see deny()).
  return nr >= 0 && contains(refused_numbers(), nr) ? EPERM : 0;
}

bool prefer_synchronous_wakeups(int listener) {
  // Newer than the system's linux/seccomp.h: the kernel ABI values, from linux/seccomp.h 6.6.
  constexpr unsigned long kNotifSetFlags = _IOW('!', 4, std::uint64_t);
  constexpr std::uint64_t kSyncWakeUp = 1;
  return ::ioctl(listener, kNotifSetFlags, kSyncWakeUp) == 0;
}

void answer_notification(int listener, std::uint64_t id, std::int64_t value, int error,
                         std::uint32_t flags) {
  seccomp_notif_resp resp{};
  resp.id = id;
  resp.val = value;
  resp.error = -error;
  resp.flags = flags;
  (void)::ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
}

std::string syscall_name(std::uint32_t arch, int nr) {
  // libseccomp's architecture tokens are the kernel's AUDIT_ARCH values (seccomp_data.arch).
  if (char* name = seccomp_syscall_resolve_num_arch(arch, nr)) {
    std::string out(name);
    std::free(name);
    return out;
  }
  for (const auto& known : kNewerSyscalls)
    if (known.number == nr) return known.name;
  return "syscall " + std::to_string(nr);
}

std::vector<std::string> describe_seccomp(const SeccompOptions& options) {
  std::vector<std::string> lines;
  const bool report = options.report_violations;
  lines.emplace_back(
      "seccomp: default allow; other architectures (i386 int 0x80, x32) kill "
      "the process");
  lines.emplace_back(std::string("seccomp: ioctl TIOCSTI, TIOCLINUX denied (terminal injection; "
                                 "cmd compared on 32 bits)") +
                     (report ? " [reported]" : ""));
  lines.emplace_back(std::string("seccomp: clone/unshare with any CLONE_NEW* flag denied (no "
                                 "nested namespaces)") +
                     (report ? " [reported]" : ""));
  for (const auto& group : deny_groups()) {
    std::string line = "seccomp: ";
    line += group.why;
    line += group.error == ENOSYS ? " [ENOSYS]:" : (report ? " [EPERM, reported]:" : " [EPERM]:");
    for (const char* name : group.syscalls) line += std::string(" ") + name;
    lines.push_back(std::move(line));
  }
  lines.emplace_back(std::string("seccomp: personality other than PER_LINUX and the query denied") +
                     (report ? " [reported]" : ""));
  if (!options.needs_listener()) {
    lines.emplace_back(
        "seccomp: no user notification (no violation reports, no command rules, no missing "
        "protected names)");
  }
  if (report) {
    lines.emplace_back(
        "seccomp: notify: every EPERM refusal above goes to init, which reports it (syscall "
        "name, pid, comm) and refuses it with the same errno");
  }
  if (options.notifies_writes()) {
    lines.emplace_back(
        std::string("seccomp: notify: open/openat with O_WRONLY, O_RDWR, O_CREAT or O_TRUNC "
                    "(read-only opens stay in the kernel), creat, mkdir*, mknod*, symlink*, "
                    "link*, rename*, bind, unlink*, rmdir, truncate, chmod, fchmod, fchmodat, "
                    "fchmodat2, *setxattr, *removexattr (setxattrat, removexattrat: ENOSYS): "
                    "performed by init on a thread with the command's Landlock "
                    "policy and no capabilities (protected names at any depth of a writable "
                    "tree are never made, written, renamed, removed or chmod-ed)") +
        (report ? "; refusals (EACCES, EPERM, EROFS; EBUSY for pinned mount points) reported "
                  "with the path"
                : ""));
  } else if (options.notify_creations) {
    lines.emplace_back(
        "seccomp: notify: open/openat with O_CREAT, creat, mkdir*, mknod*, symlink*, link*, "
        "rename*, bind: performed by init on a thread with the command's Landlock policy (missing "
        "protected names are never created)");
  }
  if (options.notifies_filesystem())
    lines.emplace_back("seccomp: openat2 -> ENOSYS (flags in memory; libc falls back to openat)");
  if (options.check_exec) {
    lines.emplace_back(
        "seccomp: notify: execve, execveat: init reads path and argv and asks fence's command "
        "policy (the command's own first exec excepted: its argv was checked before start)");
  }
  // Kept last: the socket rules are the one policy switch of the plain profile.
  const std::string reported = report ? " [reported]" : "";
  switch (options.unix_sockets) {
    case UnixSockets::All:
      lines.emplace_back("seccomp: AF_UNIX sockets of any type allowed (allowAllUnixSockets)");
      break;
    case UnixSockets::Listed:
      lines.emplace_back(
          "seccomp: socket(AF_UNIX) for stream/seqpacket allowed (allowUnixSockets); "
          "datagram unix sockets and socketpairs denied" +
          reported);
      lines.emplace_back(
          "seccomp: notify: connect: performed by init from its own copy of the address; a "
          "unix socket file only if listed or bound inside the sandbox");
      break;
    case UnixSockets::PairsOnly:
      lines.emplace_back(
          "seccomp: socket(AF_UNIX) denied; socketpair allowed for "
          "stream/seqpacket, denied for datagram" +
          reported);
      break;
  }
  return lines;
}

}  // namespace fence::platform
