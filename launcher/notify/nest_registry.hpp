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
// registration can only ADD restrictions, and only to the descendants of the pid it names, so
// a false one costs nothing that a process inside could not do already (it can signal the
// same processes). A registration ends with its connection: the named launcher's descendants
// then act with the outer sandbox's rights, no more (the launcher ends them before it exits;
// only a process outside the nested run can end the launcher earlier).
#pragma once

#include <sys/types.h>

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

  // For a syscall of `pid`: nullopt when no registered launcher is its ancestor; else the thread
  // restricted by the command's policy and the ruleset of each registered ancestor, outermost
  // first, or nullptr when that thread cannot be made (the caller refuses the syscall).
  std::optional<RestrictedThread*> thread_for(pid_t pid);

  bool empty() const { return registrations_.empty(); }

 private:
  struct Registration {
    pid_t launcher = 0;
    platform::LandlockPolicy policy;
    std::vector<platform::UniqueFd> held;  // the nested command's stdio, as received
  };
  struct Connection {
    platform::UniqueFd fd;
    std::optional<Registration> registration;  // set once registered
  };

  void accept_one();
  void read_registration(Connection& connection);
  void end(int fd);

  platform::UniqueFd listener_;
  platform::LandlockPolicy base_;
  std::map<int, Connection> connections_;                                    // by socket fd
  std::map<pid_t, const Registration*> registrations_;                       // by launcher pid
  std::map<std::vector<pid_t>, std::unique_ptr<RestrictedThread>> threads_;  // by chain
};

}  // namespace fence::launcher
