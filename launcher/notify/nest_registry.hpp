// Fence runs inside this sandbox (nested runs, launcher/nested.hpp) register here, with init.
//
// Why: a nested run restricts its command with a Landlock ruleset of its own, which the kernel
// stacks on the command's. But init PERFORMS some filesystem syscalls for the sandbox's
// processes (filesystem_guard.hpp), on a thread restricted like the outer command only: for a
// nested command that would skip the nested ruleset. So the nested launcher tells init its
// ruleset before its command starts, and init performs every filesystem syscall of that
// launcher's descendants on a thread restricted by both (and by every nested ruleset between).
//
// How: init listens on ipc::kNestSocket (SOCK_SEQPACKET, in the private /run, on a read-only
// bind made before the command exists). A nested launcher connects, sends one registration
// (encode_nest_registration: its pid and its ruleset, with its command's stdin, stdout and
// stderr as SCM_RIGHTS, whose inodes the ruleset grants by descriptor), and keeps the
// connection open for as long as its run lasts; init answers "ok" or a one-line refusal.
//
// Trust: anything inside the sandbox may connect (HOSTILE bytes: bounded, parsed strictly). A
// registration can only ADD restrictions, only to the descendants of the pid it names, and that
// pid must be the sender's own (SCM_CREDENTIALS, checked by the kernel). Passed descriptors must
// be regular files or character devices. A connection that has not registered within
// kNestRegisterMs is closed; at most kMaxNestRegistrations connections are open.
//
// SECURITY, fail closed: once any registration was made, a process with more seccomp filters
// than the sandbox's command (so one that a nested run restricted further) gets no syscall
// performed unless a registered launcher is its ancestor: if that launcher is gone, or its
// ancestry cannot be read, the syscall is refused (EPERM).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "launcher/notify/nest_registration.hpp"
#include "launcher/notify/restricted_thread.hpp"
#include "platform/landlock.hpp"
#include "platform/unique_fd.hpp"

namespace fence::launcher {

class NestRegistry {
 public:
  // `listener`: bound and listening at ipc::kNestSocket; `base`: the command's Landlock
  // policy (without held files), the first layer of every thread made here.
  NestRegistry(platform::UniqueFd listener, platform::LandlockPolicy base);
  ~NestRegistry();

  // The descriptors to poll for POLLIN: the listener and every open registration.
  std::vector<int> poll_fds() const;
  // Accepts, reads or ends what `fd` (one of poll_fds) has.
  void on_ready(int fd);

  // For a syscall of `pid`: nullopt when it acts with the command's rights (no registered
  // launcher above it, and no more seccomp filters than the command); else the thread
  // restricted by the command's policy and the ruleset of each registered ancestor, outermost
  // first, or nullptr when there is none to act for it (the caller refuses the syscall).
  std::optional<RestrictedThread*> thread_for(pid_t pid);

  // Whether `pid` has been restricted further than the command (a nested run's process), or
  // cannot be told (fail closed); false until the first registration.
  bool restricted_further(pid_t pid) const;
  // Whether the socket file `fd` (O_PATH) is the registration socket.
  bool is_registration_socket(int fd) const;

  // Closes connections that did not register in time; the poll timeout until the next one
  // (-1: none).
  void expire();
  int next_timeout_ms() const;

  bool empty() const { return registrations_.empty(); }

 private:
  struct Registration {
    pid_t launcher = 0;
    platform::LandlockPolicy policy;
    std::vector<platform::UniqueFd> held;  // the nested command's stdio, as received
  };
  struct Connection {
    platform::UniqueFd fd;
    std::optional<Registration> registration;        // set once registered
    std::chrono::steady_clock::time_point deadline;  // to register by
  };

  void accept_one();
  void read_registration(Connection& connection);
  void end(int fd);

  platform::UniqueFd listener_;
  platform::LandlockPolicy base_;
  int command_filters_ = 0;  // seccomp filters of the sandbox's command (init's + 1)
  dev_t socket_dev_ = 0;     // the registration socket's file (ipc::kNestSocket)
  ino_t socket_ino_ = 0;
  bool ever_registered_ = false;
  std::map<int, Connection> connections_;                                    // by socket fd
  std::map<pid_t, const Registration*> registrations_;                       // by launcher pid
  std::map<std::vector<pid_t>, std::unique_ptr<RestrictedThread>> threads_;  // by chain
};

}  // namespace fence::launcher
