// Process hygiene for fence's own processes and the sandbox init: dumpability, parent-death
// signal, and file descriptor cleanup.
#pragma once

#include <sys/types.h>

#include <initializer_list>
#include <vector>

#include <optional>
#include <string>
#include <string_view>
#include "platform/unique_fd.hpp"

namespace fence::platform {

// PR_SET_DUMPABLE 0: no core dumps and no ptrace/proc access by same-uid processes.
void set_non_dumpable();

// Delivers `sig` to the caller when its parent dies. Then checks getppid() against
// `expected_parent` to close the race where the parent died before the prctl; throws
// SysError(ESRCH) in that case. (PID 1 of a new pid namespace sees its parent as 0.)
void set_parent_death_signal(int sig, pid_t expected_parent);

// PR_SET_CHILD_SUBREAPER: a descendant orphaned by the death of its parent (the sandbox's init
// when the outer launcher ends first) becomes the caller's child, so the caller can reap it
// instead of leaving it to a pid 1 that may never reap (a container without an init).
void become_child_subreaper();

// The caller's child processes now, from /proc/self/task/*/children (every thread's).
std::vector<pid_t> child_processes();

// Kills (SIGKILL) and waits for every child of the caller except those in `keep` (children it
// had before it started any, e.g. inherited from a shell that exec'd it), until none is left.
void reap_children_except(const std::vector<pid_t>& keep);

// Marks every fd >= lowest close-on-exec (close_range CLOEXEC, Linux 5.11): for a child
// between fork and exec that still needs its fds until the exec. Returns false on failure.
bool mark_cloexec_from(int lowest) noexcept;

// Whether `tid` is a thread of the calling process (tgkill with signal 0).
bool is_own_thread(pid_t tid) noexcept;

// Closes every fd >= lowest (close_range, or a /proc/self/fd walk on kernels before 5.9).
void close_fds_from(int lowest);

// Closes every fd not listed in `keep` (negative entries are ignored).
void close_fds_except(std::initializer_list<int> keep);

// A duplicate (same open file description) of file descriptor `fd` of thread `tid`, through
// pidfd_open + pidfd_getfd (Linux 5.6). The pidfd names the thread itself where the kernel
// allows it (PIDFD_THREAD, Linux 6.9): a thread may have its own fd table; on older kernels,
// the fd table of its thread group. Invalid, with `error` set, on failure (EBADF: no such fd;
// ESRCH: gone; EPERM: no ptrace access).
UniqueFd duplicate_fd_of(pid_t tid, int fd, int& error);

// The start of /proc/PID/ENTRY (up to 4 KiB: status, comm), or nullopt if unreadable.
std::optional<std::string> read_proc_text(pid_t pid, const char* entry);

// The value of "KEY:" in /proc/PID/status (leading whitespace kept), or nullopt.
std::optional<std::string> proc_status_field(pid_t pid, std::string_view key);

// The thread group (process id) of thread `tid`, from /proc/TID/status; -1 if unknown.
pid_t thread_group_of(pid_t tid);

// A pidfd for thread `tid` (PIDFD_THREAD, Linux 6.9), or for its thread group where the kernel
// has no thread pidfds. Invalid on failure, errno set.
UniqueFd open_pidfd(pid_t tid);

// True when the process (or thread) behind `pidfd` has exited (the pidfd polls readable).
bool pidfd_exited(int pidfd);

}  // namespace fence::platform
