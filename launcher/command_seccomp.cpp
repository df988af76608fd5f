#include "launcher/command_seccomp.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <functional>
#include <iterator>
#include <string_view>
#include <vector>

#include "platform/kernel_abi.hpp"
#include "platform/sys_error.hpp"

namespace fence::launcher {

namespace {

using platform::kLow32;
using platform::kPersonalityQuery;
using platform::kSockTypeMask;
using platform::SeccompFilter;

constexpr std::uint64_t kNamespaceFlags[] = {
    CLONE_NEWNS,   CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
    CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET,
};

// Answered by the listener: performed there (filesystem) or checked (exec, connect).
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

// Plain (argument-independent) denials, EPERM unless stated.
struct DenyGroup {
  const char* why;
  int error;
  std::vector<const char*> syscalls;
};

const std::vector<DenyGroup>& deny_groups() {
  static const std::vector<DenyGroup> kGroups = {
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
  return kGroups;
}

// Argument-dependent refusals, all EPERM. Together with the EPERM groups of deny_groups() they
// are what report_violations turns into notifications.
constexpr const char* kArgumentRefusals[] = {"ioctl",  "clone",      "unshare",  "personality",
                                             "socket", "socketpair", "prlimit64"};

// Nested runs: every change of mode, owner, path-named times and extended attributes.
constexpr const char* kNestedMetadataSyscalls[] = {
    "chmod",     "fchmod",    "fchmodat",    "fchmodat2",    "chown",        "fchown",
    "lchown",    "fchownat",  "utime",       "utimes",       "futimesat",    "setxattr",
    "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr", "utimensat"};

// The filter under construction and the options it is built for.
class Builder {
 public:
  explicit Builder(const SeccompOptions& options)
      : options_(options), filter_(SCMP_ACT_ALLOW, "seccomp") {}

  // Refuses `name` (under the comparisons `cmp`) with `error`. SECURITY: with report_violations
  // an EPERM refusal becomes a notification, and the listener answers it with refusal_errno(),
  // which is EPERM for every such rule: the process sees the same errno either way. ENOSYS
  // answers (clone3, openat2) stay in the filter: they exist to make libc fall back.
  template <typename... Cmp>
  void deny(const char* name, int error, Cmp... cmp) {
    const bool notify = options_.report_violations && error == EPERM;
    filter_.add(notify ? SCMP_ACT_NOTIFY : SCMP_ACT_ERRNO(error),
                platform::require_syscall_number(name), name, cmp...);
  }

  // Always answered in the kernel, never reported (rules of the nested profile, which has no
  // listener; their numbers stay out of refused_numbers()).
  template <typename... Cmp>
  void deny_quietly(const char* name, int error, Cmp... cmp) {
    filter_.add(SCMP_ACT_ERRNO(error), platform::require_syscall_number(name), name, cmp...);
  }

  template <typename... Cmp>
  void notify(const char* name, Cmp... cmp) {
    filter_.add(SCMP_ACT_NOTIFY, platform::require_syscall_number(name), name, cmp...);
  }

  const SeccompOptions& options() const { return options_; }
  SeccompFilter& filter() { return filter_; }

 private:
  const SeccompOptions& options_;
  SeccompFilter filter_;
};

// SECURITY: another process's resource limits are a lever on it: a limit of open files on init
// makes its poll() fail (the sandbox ends), a CPU limit kills a nested run's launcher. A
// process may still set its own (glibc's prlimit/setrlimit pass pid 0).
void add_limit_rules(Builder& b) {
  b.deny("prlimit64", EPERM, SCMP_A0(SCMP_CMP_NE, std::uint64_t{0}));
}

// SECURITY: Landlock does not cover metadata, and a nested run has no read-only mounts of its
// own: mode, owner, times (by path) and extended attributes may not change anywhere. futimens
// (utimensat without a path) acts on a descriptor the process opened, so it stays.
void add_nested_metadata_rules(Builder& b) {
  for (const char* name : kNestedMetadataSyscalls) b.deny_quietly(name, EPERM);
  for (const char* name : {"setxattrat", "removexattrat"}) b.deny_quietly(name, ENOSYS);
  // Inode flags and project attributes set through a descriptor (any open, even read-only).
  for (const unsigned long cmd : {FS_IOC_SETFLAGS, FS_IOC32_SETFLAGS, FS_IOC_FSSETXATTR,
                                  FS_IOC_SETVERSION, FS_IOC32_SETVERSION})
    b.deny_quietly(
        "ioctl", EPERM,
        SCMP_A1(SCMP_CMP_MASKED_EQ, kLow32, static_cast<std::uint64_t>(cmd & 0xffffffffUL)));
}

void add_terminal_rules(Builder& b) {
  // SECURITY: TIOCSTI/TIOCLINUX push keystrokes into the terminal the user's shell reads
  // after we exit. Compared on the low 32 bits: the kernel ignores cmd's high bits.
  b.deny("ioctl", EPERM, SCMP_A1(SCMP_CMP_MASKED_EQ, kLow32, TIOCSTI));
  b.deny("ioctl", EPERM, SCMP_A1(SCMP_CMP_MASKED_EQ, kLow32, TIOCLINUX));
}

void add_namespace_rules(Builder& b) {
  // SECURITY: no nested namespaces. A new user namespace regains every capability and
  // exposes kernel code that is otherwise root-only. One rule per flag: rules are OR'ed.
  for (const auto flag : kNamespaceFlags) {
    b.deny("clone", EPERM, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
    b.deny("unshare", EPERM, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
  }
  // In clone() this bit is part of the exit signal; only unshare() reads it as a flag.
  b.deny("unshare", EPERM, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWTIME, CLONE_NEWTIME));
}

void add_personality_rules(Builder& b) {
  // SECURITY: personality flags (READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE, MMAP_PAGE_ZERO...)
  // weaken the address space of what is exec'd next. Only PER_LINUX (0) and the query
  // 0xffffffff pass. libseccomp allows one comparison per argument in a rule, so "not 0 and
  // not 0xffffffff" is spelled as: high bits set, or two adjacent low bits that differ
  // (a 32-bit value has such a pair exactly when it is neither all zeros nor all ones).
  b.deny("personality", EPERM, SCMP_A0(SCMP_CMP_GT, kPersonalityQuery));
  for (int bit = 0; bit < 31; ++bit) {
    const std::uint64_t pair = 3ULL << bit;
    b.deny("personality", EPERM, SCMP_A0(SCMP_CMP_MASKED_EQ, pair, 1ULL << bit));
    b.deny("personality", EPERM, SCMP_A0(SCMP_CMP_MASKED_EQ, pair, 2ULL << bit));
  }
}

// The socket families a sandboxed program may use: unix, IPv4, IPv6 and netlink (glibc reads
// interfaces and routes through it, in the sandbox's own network namespace).
constexpr int kAllowedFamilies[] = {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK};
static_assert(AF_UNIX == 1 && AF_INET == 2 && AF_INET6 == 10 && AF_NETLINK == 16);

// SECURITY: the network namespace isolates only the families it covers. AF_VSOCK reaches the
// hypervisor and other VMs whatever namespace the socket is in; AF_TIPC, AF_RDS, AF_CAN,
// AF_BLUETOOTH, AF_ALG, AF_XDP and the rest are kernel surface nothing in a build needs. Every
// other value is refused, each compared on all 64 bits: a value with high bits set is >= 17.
void add_socket_family_rules(Builder& b) {
  for (const char* name : {"socket", "socketpair"}) {
    for (std::uint64_t family = 0; family < 17; ++family) {
      if (std::find(std::begin(kAllowedFamilies), std::end(kAllowedFamilies),
                    static_cast<int>(family)) != std::end(kAllowedFamilies))
        continue;
      b.deny(name, EPERM, SCMP_A0(SCMP_CMP_EQ, family));
    }
    b.deny(name, EPERM, SCMP_A0(SCMP_CMP_GE, std::uint64_t{17}));
  }
}

void add_socket_rules(Builder& b) {
  const SeccompOptions& options = b.options();
  if (options.unix_sockets == UnixSockets::All) return;
  // SECURITY: a unix socket reaches host services by path (D-Bus, ssh-agent, docker.sock).
  // Stream and seqpacket pairs are born connected and can never be pointed elsewhere; a
  // datagram socket can (connect again, sendto with an address), so no datagram unix socket
  // may exist: SOCK_RAW is the same as SOCK_DGRAM for AF_UNIX. The type is compared under
  // SOCK_TYPE_MASK (the kernel ignores the flag bits above it), the domain on 32 bits.
  for (const int type : {SOCK_DGRAM, SOCK_RAW}) {
    const auto t = static_cast<std::uint64_t>(type);
    b.deny("socketpair", EPERM, SCMP_A1(SCMP_CMP_MASKED_EQ, kSockTypeMask, t));
    if (options.unix_sockets == UnixSockets::Listed ||
        options.unix_sockets == UnixSockets::StreamsOuterMediated)
      b.deny("socket", EPERM, SCMP_A0(SCMP_CMP_MASKED_EQ, kLow32, AF_UNIX),
             SCMP_A1(SCMP_CMP_MASKED_EQ, kSockTypeMask, t));
  }
  if (options.unix_sockets == UnixSockets::PairsOnly)
    b.deny("socket", EPERM, SCMP_A0(SCMP_CMP_MASKED_EQ, kLow32, AF_UNIX));
  // SECURITY: with sockets of its own, a process could connect one to any socket file in the
  // read-only view of the host (a mount does not stop connect, Landlock ABI 7 has no right for
  // it). init performs every connect() from its own copy of the address (never CONTINUE: the
  // fd number or the address could be swapped after a check).
  if (options.mediates_connect())
    for (const char* name : kConnectSyscalls) b.notify(name);
}

// SECURITY: a filesystem syscall is decided and performed by the listener from its own copy
// of the arguments, so a thread rewriting the path after the check changes nothing (the
// listener never answers these with CONTINUE). Only the flags a filter can see are compared:
// an open reaches the listener when it may write (O_WRONLY, O_RDWR), create (O_CREAT) or
// truncate (O_TRUNC); read-only opens, by far the most frequent, never leave the kernel.
void add_filesystem_rules(Builder& b) {
  const SeccompOptions& options = b.options();
  // One rule per flag: rules for one syscall are OR'ed, and libseccomp allows one comparison
  // per argument in a rule. Single-bit masks: the kernel reads flags as an int, and a bit
  // above 31 cannot fake one of these.
  std::vector<int> flags = {O_CREAT};
  if (options.notifies_writes()) flags = {O_WRONLY, O_RDWR, O_CREAT, O_TRUNC};
  for (const int flag : flags) {
    const auto f = static_cast<std::uint64_t>(flag);
    b.notify("open", SCMP_A1(SCMP_CMP_MASKED_EQ, f, f));
    b.notify("openat", SCMP_A2(SCMP_CMP_MASKED_EQ, f, f));
  }
  for (const char* name : kFilesystemSyscalls) {
    const std::string_view n = name;
    if (n == "open" || n == "openat") continue;
    // The creation guard alone needs only what can create a name.
    const bool creates = std::find(std::begin(kWriteOnlySyscalls), std::end(kWriteOnlySyscalls),
                                   n) == std::end(kWriteOnlySyscalls);
    if (!creates && !options.notifies_writes()) continue;
    b.notify(name);
  }
  // openat2's flags live in memory a filter cannot read; ENOSYS makes callers use openat. The
  // *xattrat calls keep their arguments in a struct as well; callers fall back to *xattr.
  b.deny("openat2", ENOSYS);
  if (options.notifies_writes())
    for (const char* name : {"setxattrat", "removexattrat"}) b.deny(name, ENOSYS);
}

// The runtime command policy: init reads the path and argv and asks the supervisor.
void add_exec_rules(Builder& b) {
  for (const char* name : kExecSyscalls) b.notify(name);
}

// One rule group of the profile: when it applies, how it is installed, how -d shows it. Every
// rule of the filter comes from one of these, so the description cannot drift from the rules.
struct RuleGroup {
  std::function<bool(const SeccompOptions&)> applies;
  std::function<void(Builder&)> install;
  std::function<std::string(const SeccompOptions&)> describe;
};

std::string reported(const SeccompOptions& o) {
  return o.report_violations ? " [reported]" : "";
}

const std::vector<RuleGroup>& rule_groups() {
  auto always = [](const SeccompOptions&) { return true; };
  static const std::vector<RuleGroup> kGroups = [&] {
    std::vector<RuleGroup> out;
    out.push_back({always, add_terminal_rules, [](const SeccompOptions& o) {
                     return "ioctl TIOCSTI, TIOCLINUX denied (terminal injection; cmd compared on "
                            "32 bits)" +
                            reported(o);
                   }});
    out.push_back({always, add_limit_rules, [](const SeccompOptions& o) {
                     return "prlimit64 on another process denied (its own limits stay "
                            "settable)" +
                            reported(o);
                   }});
    out.push_back({[](const SeccompOptions& o) { return o.nested_metadata; },
                   add_nested_metadata_rules,
                   [](const SeccompOptions&) -> std::string {
                     std::string line =
                         "nested run: mode, owner, times by path and extended attributes may "
                         "not change (Landlock does not cover them; no read-only mounts of its "
                         "own) [EPERM]:";
                     for (const char* name : kNestedMetadataSyscalls)
                       line += std::string(" ") + name;
                     return line + " utimensat(with a path)";
                   }});
    out.push_back({always, add_namespace_rules, [](const SeccompOptions& o) {
                     return "clone/unshare with any CLONE_NEW* flag denied (no nested "
                            "namespaces)" +
                            reported(o);
                   }});
    for (const DenyGroup& group : deny_groups()) {
      out.push_back({always,
                     [&group](Builder& b) {
                       for (const char* name : group.syscalls) b.deny(name, group.error);
                     },
                     [&group](const SeccompOptions& o) {
                       std::string line = group.why;
                       line += group.error == ENOSYS ? " [ENOSYS]:"
                               : o.report_violations ? " [EPERM, reported]:"
                                                     : " [EPERM]:";
                       for (const char* name : group.syscalls) line += std::string(" ") + name;
                       return line;
                     }});
    }
    out.push_back({always, add_socket_family_rules, [](const SeccompOptions& o) {
                     return "socket, socketpair: only AF_UNIX, AF_INET, AF_INET6, AF_NETLINK "
                            "(AF_VSOCK and every other family denied)" +
                            reported(o);
                   }});
    out.push_back({always, add_personality_rules, [](const SeccompOptions& o) {
                     return "personality other than PER_LINUX and the query denied" + reported(o);
                   }});
    out.push_back(
        {[](const SeccompOptions& o) { return o.notifies_filesystem(); }, add_filesystem_rules,
         [](const SeccompOptions& o) {
           std::string line;
           if (o.notifies_writes()) {
             line =
                 "notify: open/openat with O_WRONLY, O_RDWR, O_CREAT or O_TRUNC (read-only opens "
                 "stay in the kernel), creat, mkdir*, mknod*, symlink*, link*, rename*, bind, "
                 "unlink*, rmdir, truncate, chmod, fchmod, fchmodat, fchmodat2, *setxattr, "
                 "*removexattr (setxattrat, removexattrat: ENOSYS): performed by init on a "
                 "thread with the command's Landlock policy and no capabilities (protected names "
                 "at any depth of a writable tree are never made, written, renamed, removed or "
                 "chmod-ed)";
             if (o.report_violations)
               line +=
                   "; refusals (EACCES, EPERM, EROFS; EBUSY for pinned mount points) "
                   "reported with the path";
           } else {
             line =
                 "notify: open/openat with O_CREAT, creat, mkdir*, mknod*, symlink*, link*, "
                 "rename*, bind: performed by init on a thread with the command's Landlock "
                 "policy (missing protected names are never created)";
           }
           return line + "; openat2 -> ENOSYS (flags in memory; libc falls back to openat)";
         }});
    out.push_back({[](const SeccompOptions& o) { return o.check_exec; }, add_exec_rules,
                   [](const SeccompOptions&) -> std::string {
                     return "notify: execve, execveat: init reads path and argv and asks fence's "
                            "command policy (the command's own first exec excepted: its argv "
                            "was checked before start)";
                   }});
    // Kept last: the socket rules are the one policy switch of the plain profile.
    out.push_back({always, add_socket_rules, [](const SeccompOptions& o) -> std::string {
                     switch (o.unix_sockets) {
                       case UnixSockets::All:
                         return "AF_UNIX sockets of any type allowed (allowAllUnixSockets)";
                       case UnixSockets::Listed:
                         return "socket(AF_UNIX) for stream/seqpacket allowed; datagram unix "
                                "sockets and socketpairs denied" +
                                reported(o) +
                                "; notify: connect: performed by init from its own copy of the "
                                "address; a unix socket file only if listed or bound inside the "
                                "sandbox";
                       case UnixSockets::StreamsOuterMediated:
                         return "socket(AF_UNIX) for stream/seqpacket allowed; datagram unix "
                                "sockets and socketpairs denied; every connect is mediated by "
                                "the outer sandbox's init (nested run)";
                       case UnixSockets::PairsOnly:
                         break;
                     }
                     return "socket(AF_UNIX) denied; socketpair allowed for stream/seqpacket, "
                            "denied for datagram" +
                            reported(o);
                   }});
    return out;
  }();
  return kGroups;
}

template <typename Names>
std::vector<int> numbers_of(const Names& names) {
  std::vector<int> out;
  for (const char* name : names)
    if (const auto nr = platform::syscall_number(name)) out.push_back(*nr);
  return out;
}

const std::vector<int>& refused_numbers() {
  static const std::vector<int> kNumbers = [] {
    std::vector<const char*> names(std::begin(kArgumentRefusals), std::end(kArgumentRefusals));
    for (const auto& group : deny_groups())
      if (group.error == EPERM)
        names.insert(names.end(), group.syscalls.begin(), group.syscalls.end());
    std::vector<int> out;
    for (const char* name : names) out.push_back(platform::require_syscall_number(name));
    return out;
  }();
  return kNumbers;
}

bool contains(const std::vector<int>& numbers, int nr) {
  return std::find(numbers.begin(), numbers.end(), nr) != numbers.end();
}

}  // namespace

platform::UniqueFd install_seccomp_filter(const SeccompOptions& options) {
  Builder b(options);
  // Every thread gets the filter, not only the caller. (The kernel refuses TSYNC together with
  // a listener; then the caller is the single-threaded command child.)
  if (!options.needs_listener()) b.filter().synchronize_threads();
  for (const RuleGroup& group : rule_groups())
    if (group.applies(options)) group.install(b);
  b.filter().verify_x32_rejected();
  return b.filter().load(options.needs_listener());
}

NotifiedSyscall classify_notified_syscall(int nr) {
  static const std::vector<int> kFilesystem = numbers_of(kFilesystemSyscalls);
  static const std::vector<int> kExec = numbers_of(kExecSyscalls);
  static const std::vector<int> kConnect = numbers_of(kConnectSyscalls);
  if (nr < 0) return NotifiedSyscall::None;
  if (contains(kFilesystem, nr)) return NotifiedSyscall::Filesystem;
  if (contains(kExec, nr)) return NotifiedSyscall::Exec;
  if (contains(kConnect, nr)) return NotifiedSyscall::Connect;
  if (contains(refused_numbers(), nr)) return NotifiedSyscall::Refusal;
  return NotifiedSyscall::None;
}

int refusal_errno(int nr) {
  // Every refusal that report_violations notifies is EPERM (see Builder::deny).
  return nr >= 0 && contains(refused_numbers(), nr) ? EPERM : 0;
}

std::vector<std::string> describe_seccomp(const SeccompOptions& options) {
  std::vector<std::string> lines;
  lines.emplace_back(
      "seccomp: default allow; other architectures (i386 int 0x80, x32) kill the process");
  for (const RuleGroup& group : rule_groups())
    if (group.applies(options)) lines.push_back("seccomp: " + group.describe(options));
  if (!options.needs_listener()) {
    lines.insert(lines.end() - 1,
                 "seccomp: no user notification (no violation reports, no command rules, no "
                 "writable tree, no missing protected names)");
  }
  if (options.report_violations) {
    lines.insert(lines.end() - 1,
                 "seccomp: notify: every EPERM refusal above goes to init, which reports it "
                 "(syscall name, pid, comm) and refuses it with the same errno");
  }
  return lines;
}

}  // namespace fence::launcher
