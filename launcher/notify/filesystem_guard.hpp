// Filesystem syscalls answered by init (seccomp user notification, notifier.hpp): the creation
// guard and the write reports.
//
// Creation guard. Keeps protected names that do not exist yet from coming into existence
// (SECURITY-RULES 7): `.bashrc` in a writable project directory, `.git/hooks` before `git
// init`, `~/.fence.json`... A mount cannot cover a name that does not exist without creating
// it on the host, and Landlock cannot single out one name inside a writable directory.
//
// Write reports (LaunchSpec::report_violations). Writes the policy refuses are reported with
// the path (`touch /etc/hosts` -> Violation{Filesystem, "write", "/etc/hosts", EROFS}).
//
// Trust: the syscall's arguments and the names they lead to are the sandboxed caller's
// (HOSTILE), handed over by the notifier; the guarded and protected names come from the
// LaunchSpec (launcher/command_setup.hpp).
//
// Both work the same way. For every syscall that may create, write, remove or rename a name,
// init:
//   1. copies the path arguments out of the process's memory once and resolves them itself,
//      component by component, the way the kernel would for the process (path_resolver.hpp);
//   2. refuses (EACCES) when the resulting name is a guarded one;
//   3. otherwise PERFORMS the operation on the directory it resolved, on the restricted thread
//      (restricted_thread.hpp: the command's Landlock policy, no capabilities, the process's
//      umask), and hands the result (or the new fd) back. The kernel mechanisms (Landlock,
//      read-only mounts) are what refuse a write; init only sees the refusal (EACCES, EPERM,
//      EROFS; EBUSY for a pinned mount point) and reports it.
// SECURITY: nothing is ever let through with SECCOMP_USER_NOTIF_FLAG_CONTINUE, so a thread that
// rewrites the path after the check, or a symlink swapped in after it, changes nothing.
//
// Differences from the process doing it itself, all confined to rare corners: an open is made
// by init, so a session leader without a terminal does not acquire one by opening a tty (it can
// still use TIOCSCTTY); a write-only open of a FIFO without a reader is retried every few
// milliseconds instead of sleeping in the kernel (init must never block), and a read-only
// open(O_CREAT or O_TRUNC) of an existing FIFO does not wait for a writer.
#pragma once

#include <linux/seccomp.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "ipc/protocol.hpp"
#include "launcher/notify/creatable_roots.hpp"
#include "launcher/notify/nest_registry.hpp"
#include "launcher/notify/process_memory.hpp"
#include "launcher/notify/protected_names.hpp"
#include "launcher/notify/restricted_thread.hpp"
#include "platform/unique_fd.hpp"

namespace fence::launcher {

// Computed by init from the LaunchSpec (launcher/command_setup.hpp: find_guarded_names).
struct GuardedNames {
  std::set<std::string> names;      // protected paths that do not exist: never created
  std::set<std::string> ancestors;  // their missing parent directories: only mkdir
  bool empty() const { return names.empty(); }
};

// The answer to one notification: a value, an errno, or an fd to inject as the result.
struct NotifyAnswer {
  std::int64_t value = 0;
  int error = 0;          // errno, 0 on success
  platform::UniqueFd fd;  // set: inject it and return its number
  bool cloexec = false;
};

// A write-only open of a FIFO that has no reader yet. Opening it blocking would stall init, so
// it is retried without blocking until a reader comes (or the caller gives up).
struct ParkedOpen {
  platform::UniqueFd target;  // the FIFO, O_PATH
  int flags = 0;
  pid_t pid = 0;  // the caller
};

struct FilesystemOutcome {
  NotifyAnswer answer;
  std::optional<ipc::Violation> violation;  // a refusal to report (only when reporting)
  std::optional<ParkedOpen> parked;         // set: no answer yet; retry() later
};

class FilesystemGuard {
 public:
  // `names`: missing protected paths (the creation guard); `protected_names`: names protected
  // at any depth of a writable tree. `report`: build Violations for refused writes (and guard
  // refusals).
  // `creatable`: allowWrite entries the command may create (creatable_roots.hpp), or nullptr.
  FilesystemGuard(GuardedNames names, ProtectedNames protected_names, RestrictedThread& restricted,
                  CreatableRoots* creatable, bool report);

  // Decides and performs one filesystem syscall. `mem`: the caller's memory.
  FilesystemOutcome handle(const seccomp_notif& req, const ProcessMemory& mem);

  // One more non-blocking attempt at a parked open; nullopt while there is still no reader.
  std::optional<NotifyAnswer> retry(const ParkedOpen& open);

  // Fence runs inside (nest_registry.hpp): their commands' syscalls are performed on threads
  // restricted by their rulesets too.
  void set_nests(NestRegistry* nests) { nests_ = nests; }

 private:
  GuardedNames names_;
  ProtectedNames protected_;
  RestrictedThread& restricted_;
  CreatableRoots* creatable_;
  bool report_;
  NestRegistry* nests_ = nullptr;
};

}  // namespace fence::launcher
