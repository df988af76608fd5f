// The command's seccomp profile, installed last before exec (command_child.cpp), built with
// platform/seccomp_filter.hpp.
//
// Default action ALLOW plus a deny list: the sandbox's real walls are namespaces, mounts and
// Landlock; seccomp removes the kernel interfaces that would let a process climb over them
// (nested namespaces, mounts, ptrace, terminal injection, io_uring, other ABIs).
//
// One filter, at most one user-notification listener (the kernel allows one per filter chain),
// answered by the sandbox's init (launcher/notify/notifier.hpp). Which syscalls go to the listener
// depends on the options; with none of them set there is no listener at all and the filter is
// exactly the plain deny list.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "platform/seccomp_filter.hpp"
#include "platform/unique_fd.hpp"

namespace fence::launcher {

// Which AF_UNIX sockets the command may create, and how they may connect (the network
// section of docs/configuration.md).
enum class UnixSockets {
  // socket(AF_UNIX) refused; socketpair() only for SOCK_STREAM and SOCK_SEQPACKET pairs.
  // SECURITY: a datagram socket, even one of a connected pair, can connect(2) again or
  // sendto(2) to any socket file it can see (the read-only view of the host has some).
  PairsOnly,
  // allowUnixSockets: socket(AF_UNIX) for stream and seqpacket sockets as well, and every
  // connect() goes to the listener, which performs it only towards a listed socket or one
  // bound inside the sandbox (launcher/notify/unix_connect.hpp). Datagram sockets stay refused:
  // each send could name another socket file.
  Listed,
  // allowAllUnixSockets: any AF_UNIX socket, connect() unmediated.
  All,
  // A nested run (launcher/nested.hpp): stream and seqpacket sockets as with Listed, but no
  // listener of its own: the outer sandbox's init mediates every connect (and lets a process a
  // nested run restricted reach its own registration socket only).
  StreamsOuterMediated,
};

struct SeccompOptions {
  UnixSockets unix_sockets = UnixSockets::PairsOnly;
  // Every syscall that can create a name (open/openat with O_CREAT, creat, mkdir*, mknod*,
  // symlink*, link*, rename*, bind) goes to the listener, which decides and PERFORMS it
  // (launcher/notify/filesystem_guard.hpp).
  bool notify_creations = false;
  // Every syscall that can create, write, truncate, remove, rename or chmod a name, or change
  // its extended attributes, goes to the listener (the names protected at any depth of a
  // writable tree): open/openat with O_WRONLY, O_RDWR, O_CREAT or O_TRUNC, creat, mkdir*,
  // mknod*, symlink*, link*, rename*, bind, unlink*, rmdir, truncate, chmod, fchmod,
  // fchmodat, fchmodat2, *setxattr, *removexattr (setxattrat and removexattrat get ENOSYS).
  bool notify_writes = false;
  // Violations are reported: (1) the syscalls denied with EPERM go to the listener instead,
  // which refuses them with that same errno and reports them; (2) every syscall that writes
  // to the filesystem (those of notify_writes) goes to the listener, which performs it and
  // reports a refusal. Read-only opens never reach the listener.
  bool report_violations = false;
  // execve and execveat go to the listener (the runtime command policy).
  bool check_exec = false;
  // A nested run (launcher/nested.hpp): chmod, chown, utimes and xattr changes refused.
  bool nested_metadata = false;

  bool mediates_connect() const { return unix_sockets == UnixSockets::Listed; }
  bool needs_listener() const { return notifies_filesystem() || check_exec || mediates_connect(); }
  // Filesystem syscalls are performed by the listener (creation guard or write reports);
  // openat2 then gets ENOSYS, its flags live in memory a filter cannot read.
  bool notifies_filesystem() const {
    return notify_creations || notify_writes || report_violations;
  }
  bool notifies_writes() const { return notify_writes || report_violations; }
};

// Loads the filter for this thread and every thread of the process (TSYNC, unless a listener
// is needed: the kernel refuses TSYNC with a listener; the caller is single-threaded then). The
// caller has set no_new_privs. Returns the listener fd when options.needs_listener(), an invalid
// fd otherwise. Throws SysError on any failure (fail closed).
platform::UniqueFd install_seccomp_filter(const SeccompOptions& options);

// One line per rule group for `fence -d`, including what goes to the listener: each written
// from the same table entry that installs the group's rules.
std::vector<std::string> describe_seccomp(const SeccompOptions& options);

// What a notification for syscall `nr` (native architecture; every other one is killed) means.
// The sets are disjoint, so the number alone tells the listener what to do.
enum class NotifiedSyscall {
  None,        // never notified by this profile
  Filesystem,  // performed by the listener (creation guard, write reports)
  Exec,        // execve/execveat: the runtime command policy
  Connect,     // connect (UnixSockets::Listed): checked and performed by the listener
  Refusal,     // a syscall the profile denies: refused with refusal_errno(nr), reported
};
NotifiedSyscall classify_notified_syscall(int nr);

// The errno the profile answers for `nr` when it refuses it (what SCMP_ACT_ERRNO would have
// returned without report_violations); 0 when the profile has no refusal rule for `nr` that
// report_violations turns into a notification.
int refusal_errno(int nr);

}  // namespace fence::launcher
