#include "launcher/notify/filesystem_guard.hpp"

#include <fcntl.h>

#include <cerrno>

#include "launcher/notify/filesystem_request.hpp"
#include "launcher/notify/process_memory.hpp"

namespace fence::launcher {
namespace {

// The refusals that come from the sandbox's policy: Landlock (EACCES), a read-only mount
// (EROFS), a pinned mount point (EBUSY, for removals and renames), and EPERM.
bool is_refusal(int error, bool removal) {
  return error == EACCES || error == EPERM || error == EROFS || (removal && error == EBUSY);
}

}  // namespace

FilesystemGuard::FilesystemGuard(GuardedNames names, ProtectedNames protected_names,
                                 RestrictedThread& restricted, CreatableRoots* creatable,
                                 bool report)
    : names_(std::move(names)),
      protected_(std::move(protected_names)),
      restricted_(restricted),
      creatable_(creatable),
      report_(report) {}

FilesystemOutcome FilesystemGuard::handle(const seccomp_notif& req, const ProcessMemory& mem) {
  // SECURITY: a nested run's command gets its own ruleset on top of the command's, and never
  // the writer threads of the creatable entries (they hold rights its ruleset does not).
  const std::optional<RestrictedThread*> nested =
      nests_ ? nests_->thread_for(static_cast<pid_t>(req.pid)) : std::nullopt;
  if (nested && !*nested) return FilesystemOutcome{error_answer(EPERM), std::nullopt, std::nullopt};
  FilesystemRequest request(req, mem, names_, protected_, nested ? **nested : restricted_,
                            nested ? nullptr : creatable_);
  FilesystemOutcome outcome = request.decide();
  const int error = outcome.answer.error;
  if (report_ && !outcome.parked && *request.operation() && is_refusal(error, request.removal())) {
    ipc::Violation v;
    v.kind = ipc::ViolationKind::Filesystem;
    v.pid = req.pid;
    v.comm = read_comm(static_cast<pid_t>(req.pid));
    v.operation = request.operation();
    v.detail = request.path().substr(0, ipc::kMaxPathLen);
    v.error = error;
    outcome.violation = std::move(v);
  }
  return outcome;
}

std::optional<NotifyAnswer> FilesystemGuard::retry(const ParkedOpen& open) {
  std::int64_t fd = -1;
  int error = 0;
  const std::optional<RestrictedThread*> nested =
      nests_ ? nests_->thread_for(open.pid) : std::nullopt;
  if (nested && !*nested) return error_answer(EPERM);
  RestrictedThread* writer = nested ? *nested
                             : creatable_ && creatable_->any_made()
                                 ? creatable_->writer_for(fd_path(open.target.get()))
                                 : nullptr;
  (writer ? *writer : restricted_).run([&] {
    // The FIFO exists: O_CREAT/O_EXCL have done their part on the first attempt.
    const int flags = (open.flags & ~(O_CREAT | O_EXCL)) | O_CLOEXEC | O_NONBLOCK;
    fd = ::open(self_fd(open.target.get()).c_str(), flags, 0);
    error = fd < 0 ? errno : 0;
  });
  if (fd < 0 && error == ENXIO) return std::nullopt;
  if (fd < 0) return error_answer(error);
  NotifyAnswer answer;
  answer.fd.reset(static_cast<int>(fd));
  answer.cloexec = (open.flags & O_CLOEXEC) != 0;
  const int fl = ::fcntl(answer.fd.get(), F_GETFL);
  if (fl >= 0) ::fcntl(answer.fd.get(), F_SETFL, fl & ~O_NONBLOCK);
  return answer;
}

}  // namespace fence::launcher
