#include "launcher/notify/notifier.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <variant>

#include "launcher/notify/exec_check.hpp"
#include "launcher/notify/process_memory.hpp"

namespace fence::launcher {

Notifier::Notifier(platform::UniqueFd notify_fd, const SeccompOptions& options,
                   FilesystemGuard* filesystem, NotifierSink& sink, const ConnectGuard* connect,
                   const platform::LandlockPolicy* connect_policy)
    : notify_fd_(std::move(notify_fd)),
      options_(options),
      filesystem_(filesystem),
      sink_(sink),
      connect_(connect) {
  platform::prefer_synchronous_wakeups(notify_fd_.get());
  if (connect_ && connect_policy)
    connect_pool_ = std::make_unique<ConnectPool>(notify_fd_.get(), *connect_policy);
}

// The listener's ioctls are used directly: their sizes are fixed by the kernel ABI (encoded in
// the ioctl numbers), and the kernel requires the receive buffer to be zeroed.
Notifier::Received Notifier::receive(seccomp_notif& out) {
  std::memset(&out, 0, sizeof out);
  if (::ioctl(notify_fd_.get(), SECCOMP_IOCTL_NOTIF_RECV, &out) != 0) {
    // ENOENT: the caller died (or was interrupted) between the wake-up and here.
    return errno == ENOENT || errno == EINTR ? Received::Nothing : Received::ListenerGone;
  }
  return Received::Notification;
}

bool Notifier::is_exec(const seccomp_notif& req) {
  return classify_notified_syscall(req.data.nr) == NotifiedSyscall::Exec;
}

bool Notifier::handle_one() {
  seccomp_notif req{};
  const Received r = receive(req);
  if (r == Received::Notification) handle(req);
  return r != Received::ListenerGone;
}

void Notifier::handle(const seccomp_notif& req) {
  switch (classify_notified_syscall(req.data.nr)) {
    case NotifiedSyscall::Refusal:
      return refuse_syscall(req);
    case NotifiedSyscall::Filesystem:
      return perform_filesystem(req);
    case NotifiedSyscall::Exec:
      return ask_exec(req);
    case NotifiedSyscall::Connect:
      return mediate_connect(req);
    case NotifiedSyscall::None:
      break;
  }
  // Not a syscall this profile notifies: never let it through.
  respond_error(req.id, ENOSYS);
}

void Notifier::allow_startup_exec(const seccomp_notif& req) {
  if (is_exec(req))
    respond_continue(req.id);
  else
    respond_error(req.id, ENOSYS);
}

void Notifier::refuse_syscall(const seccomp_notif& req) {
  const int nr = req.data.nr;
  const int error = refusal_errno(nr);
  // SECURITY: the answer is the refusal, whatever happens to the report.
  if (options_.report_violations && error != 0) {
    ipc::Violation v;
    v.kind = ipc::ViolationKind::Syscall;
    v.pid = req.pid;
    v.comm = read_comm(static_cast<pid_t>(req.pid));
    v.operation = platform::syscall_name(req.data.arch, nr);
    v.error = error;
    // Reported only if the caller is still the one that made the call.
    if (id_valid(req.id)) sink_.send_violation(v);
  }
  respond_error(req.id, error != 0 ? error : EPERM);
}

void Notifier::perform_filesystem(const seccomp_notif& req) {
  if (!filesystem_ || !options_.notifies_filesystem()) return respond_error(req.id, ENOSYS);
  const pid_t pid = static_cast<pid_t>(req.pid);
  ProcessMemory mem = ProcessMemory::open(pid);
  // SECURITY: the memory opened must be the caller's, not a later process with its pid.
  if (!id_valid(req.id)) return;
  FilesystemOutcome outcome = filesystem_->handle(req, mem);
  if (outcome.violation) sink_.send_violation(*outcome.violation);
  if (outcome.parked) {
    parked_.push_back({req.id, std::move(*outcome.parked)});
    return;
  }
  respond(req.id, outcome.answer);
}

void Notifier::ask_exec(const seccomp_notif& req) {
  if (!options_.check_exec) return respond_error(req.id, EPERM);
  if (pending_.size() >= kMaxPendingExecs) return respond_error(req.id, EAGAIN);
  const pid_t pid = static_cast<pid_t>(req.pid);
  ProcessMemory mem = ProcessMemory::open(pid);
  if (!id_valid(req.id)) return;
  auto read = read_exec_check(req, mem, read_comm(pid));
  if (const int* error = std::get_if<int>(&read)) return respond_error(req.id, *error);
  ipc::ExecCheck& check = std::get<ipc::ExecCheck>(read);
  check.id = next_check_id_++;
  pending_[check.id] = req.id;
  try {
    sink_.send_exec_check(check);
  } catch (const std::exception&) {
    // SECURITY: nobody to ask means no.
    pending_.erase(check.id);
    respond_error(req.id, EPERM);
  }
}

void Notifier::mediate_connect(const seccomp_notif& req) {
  if (!connect_ || !connect_pool_ || !options_.mediates_connect())
    return respond_error(req.id, ENOSYS);
  ProcessMemory mem = ProcessMemory::open(static_cast<pid_t>(req.pid));
  if (!id_valid(req.id)) return;
  ConnectDecision decision = connect_->decide(req, mem);
  // SECURITY: the socket and the address taken must be the caller's, not those of a later
  // process with its pid.
  if (!id_valid(req.id)) return;
  // SECURITY: a nested run's process reaches only the registration socket among unix sockets.
  if (decision.job && decision.job->address.ss_family == AF_UNIX && nests_ &&
      nests_->restricted_further(static_cast<pid_t>(req.pid)) &&
      !(decision.job->checked_file &&
        nests_->is_registration_socket(decision.job->checked_file.get())))
    return respond_error(req.id, EACCES);
  if (decision.violation) sink_.send_violation(*decision.violation);
  if (decision.reached) sink_.send_unix_connect(*decision.reached);
  if (decision.job) return connect_pool_->submit(std::move(*decision.job));
  respond_error(req.id, decision.error);
}

bool Notifier::on_verdict(const ipc::ExecVerdict& verdict) {
  auto it = pending_.find(verdict.id);
  if (it == pending_.end()) return false;
  const std::uint64_t notification = it->second;
  pending_.erase(it);
  // SECURITY: CONTINUE lets the kernel run the exec with the arguments as they are now in the
  // caller's memory (exec_check.hpp: best effort against a process racing its own argv).
  if (verdict.allowed)
    respond_continue(notification);
  else
    respond_error(notification, EPERM);
  return true;
}

int Notifier::next_timeout_ms() const {
  return parked_.empty() ? -1 : kParkedRetryMs;
}

void Notifier::on_timer() {
  for (auto it = parked_.begin(); it != parked_.end();) {
    if (!id_valid(it->notification)) {  // the caller gave up (signal) or died
      it = parked_.erase(it);
      continue;
    }
    std::optional<NotifyAnswer> answer = filesystem_->retry(it->open);
    if (!answer) {
      ++it;
      continue;
    }
    respond(it->notification, *answer);
    it = parked_.erase(it);
  }
}

bool Notifier::id_valid(std::uint64_t id) const {
  std::uint64_t value = id;
  return ::ioctl(notify_fd_.get(), SECCOMP_IOCTL_NOTIF_ID_VALID, &value) == 0;
}

void Notifier::send(std::uint64_t id, std::int64_t value, int error, std::uint32_t flags) {
  platform::answer_notification(notify_fd_.get(), id, value, error, flags);
}

void Notifier::respond_error(std::uint64_t id, int error) {
  send(id, 0, error, 0);
}

void Notifier::respond_continue(std::uint64_t id) {
  if (!id_valid(id)) return;
  send(id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE);
}

// No ID_VALID first: SEND and ADDFD check the id themselves (ENOENT when the caller is gone), and
// nothing is read on the caller's behalf after this point.
void Notifier::respond(std::uint64_t id, NotifyAnswer& answer) {
  if (answer.fd) {
    seccomp_notif_addfd addfd{};
    addfd.id = id;
    addfd.flags = SECCOMP_ADDFD_FLAG_SEND;  // inject and return it as the syscall's result
    addfd.srcfd = static_cast<std::uint32_t>(answer.fd.get());
    addfd.newfd_flags = answer.cloexec ? O_CLOEXEC : 0;
    if (::ioctl(notify_fd_.get(), SECCOMP_IOCTL_NOTIF_ADDFD, &addfd) >= 0) return;
    // e.g. EMFILE in the caller: the open fails as the kernel's own would.
    if (errno == ENOENT) return;
    return respond_error(id, errno == EMFILE ? EMFILE : EBADF);
  }
  send(id, answer.error ? 0 : answer.value, answer.error, 0);
}

}  // namespace fence::launcher
