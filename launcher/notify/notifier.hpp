// init's answer to the command's seccomp filter: the one user-notification listener of the
// sandbox (the kernel allows one per filter chain; init holds it as its notify fd), serving
// every rule that sends a syscall to it (launcher/command_seccomp.hpp):
//   Filesystem  decided and PERFORMED here (filesystem_guard.hpp): the creation guard, and
//               with report_violations the refused writes, reported with their path;
//   Refusal     (report_violations) a syscall the profile denies: answered with the errno the
//               filter would have returned, and reported (syscall name, pid, comm);
//   Exec        (check_exec) execve/execveat: path and argv read (exec_check.hpp) and sent to
//               the supervisor as ExecCheck; the answer waits for its ExecVerdict, so several
//               execs can be pending at once and init never blocks on one.
//   Connect     (allowUnixSockets) connect: checked here and PERFORMED by a connect thread
//               (unix_connect.hpp), which answers when the connect returns.
//
// Trust: a notification comes from the kernel (its syscall number, architecture and id are
// the kernel's), but describes a call a sandboxed process made: its arguments, and the memory
// they point at, are HOSTILE. The pid may name a process that has died since (ID_VALID below).
// ExecVerdicts come from the supervisor through SupervisorLink::on_exec_verdict; an id that is
// not pending is a protocol violation.
//
// SECURITY: only the Exec answer ever uses SECCOMP_USER_NOTIF_FLAG_CONTINUE, and only after
// the supervisor allowed that exec (or for the command's own first exec, whose argv the
// supervisor checked before the sandbox started). SECCOMP_IOCTL_NOTIF_ID_VALID anchors what is
// read from /proc/PID (checked once /proc/PID/mem is open: a process that died, its pid reused,
// is never read or acted for) and precedes every CONTINUE; the kernel itself refuses any other
// answer to a notification that is gone. With the supervisor gone, new execs are refused, and
// init ends the sandbox (fail closed).
#pragma once

#include <linux/seccomp.h>

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "ipc/protocol.hpp"
#include "launcher/command_seccomp.hpp"
#include "launcher/notify/filesystem_guard.hpp"
#include "launcher/notify/unix_connect.hpp"
#include "platform/unique_fd.hpp"

namespace fence::launcher {

// Where the notifier's findings go: the supervisor (init: launcher/supervisor_link.hpp).
class NotifierSink {
 public:
  virtual ~NotifierSink() = default;
  // Asks about one exec. Throws when it cannot be asked (the supervisor is gone).
  virtual void send_exec_check(const ipc::ExecCheck& check) = 0;
  // A refused syscall or write; best effort (a lost report never changes an answer).
  virtual void send_violation(const ipc::Violation& violation) = 0;
  // A connect to a listed host socket that init performs; best effort, as send_violation().
  virtual void send_unix_connect(const ipc::UnixConnect& connect) = 0;
};

class Notifier {
 public:
  // `options`: the filter's options (what can be notified). `filesystem`: required when the
  // options notify filesystem syscalls (else those are refused with ENOSYS).
  // `connect` and `connect_policy` (the command's Landlock policy): required when the options
  // mediate connect() (else it is refused with ENOSYS).
  Notifier(platform::UniqueFd notify_fd, const SeccompOptions& options, FilesystemGuard* filesystem,
           NotifierSink& sink, const ConnectGuard* connect = nullptr,
           const platform::LandlockPolicy* connect_policy = nullptr);

  int notify_fd() const { return notify_fd_.get(); }

  enum class Received { Notification, Nothing, ListenerGone };
  // Receives one notification into `out` (Nothing: the caller gave up meanwhile).
  Received receive(seccomp_notif& out);

  static bool is_exec(const seccomp_notif& req);

  // Lets an exec through without asking: only for the command's own execs before its first
  // successful one (launcher/init.cpp decides when that applies).
  void allow_startup_exec(const seccomp_notif& req);

  // Decides and answers one notification (an Exec is asked about and answered later).
  void handle(const seccomp_notif& req);

  // Receives and handles one; false when the notify fd is unusable.
  bool handle_one();

  // The supervisor's answer to one ExecCheck. Returns false when `verdict.id` is not pending
  // (a protocol violation: the caller ends the sandbox).
  bool on_verdict(const ipc::ExecVerdict& verdict);

  // Parked FIFO opens (filesystem_guard.hpp) are retried on a timer: the poll timeout to use
  // (-1: none parked), and the retry.
  int next_timeout_ms() const;
  void on_timer();

  std::size_t pending_execs() const { return pending_.size(); }

  // Fence runs inside (nest_registry.hpp): a process one of them restricted reaches no unix
  // socket but the registration socket (its own ruleset's scoping cannot hold for a connect
  // performed here).
  void set_nests(const NestRegistry* nests) { nests_ = nests; }

 private:
  void refuse_syscall(const seccomp_notif& req);
  void perform_filesystem(const seccomp_notif& req);
  void ask_exec(const seccomp_notif& req);
  void mediate_connect(const seccomp_notif& req);

  bool id_valid(std::uint64_t id) const;
  void respond_error(std::uint64_t id, int error);
  void respond_continue(std::uint64_t id);
  void respond(std::uint64_t id, NotifyAnswer& answer);
  void send(std::uint64_t id, std::int64_t value, int error, std::uint32_t flags);

  struct Parked {
    std::uint64_t notification = 0;
    ParkedOpen open;
  };

  platform::UniqueFd notify_fd_;
  SeccompOptions options_;
  FilesystemGuard* filesystem_;
  NotifierSink& sink_;
  std::uint64_t next_check_id_ = 1;
  std::map<std::uint64_t, std::uint64_t> pending_;  // ExecCheck id -> notification id
  std::vector<Parked> parked_;
  const ConnectGuard* connect_;
  // Declared after notify_fd_: the threads answering on it stop before it is closed.
  std::unique_ptr<ConnectPool> connect_pool_;
  const NestRegistry* nests_ = nullptr;
};

// Bound on execs waiting for a verdict at once; beyond it an exec fails with EAGAIN.
inline constexpr std::size_t kMaxPendingExecs = 4096;
// How often a parked FIFO open is retried.
inline constexpr int kParkedRetryMs = 10;

}  // namespace fence::launcher
