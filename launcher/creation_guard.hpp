// Keeps protected names that do not exist yet from coming into existence (SECURITY-RULES 7):
// `.bashrc` in a writable project directory, `.git/hooks` before `git init`, `~/.fence.json`...
//
// A mount cannot cover a name that does not exist without creating it on the host, and
// Landlock cannot single out one name inside a writable directory. So the command's seccomp
// filter sends every syscall that can create a name to init (user notification), and init:
//   1. copies the path arguments out of the command's memory once and resolves them itself,
//      component by component, the way the kernel would for the command;
//   2. refuses (EACCES) when the resulting name is a guarded one;
//   3. otherwise PERFORMS the operation on the directory it resolved, on a thread that has the
//      command's Landlock policy and no capabilities, and hands the result (or the new fd) back.
// SECURITY: nothing is ever let through with SECCOMP_USER_NOTIF_FLAG_CONTINUE, so a thread that
// rewrites the path after the check, or a symlink swapped in after it, changes nothing.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "ipc/protocol.hpp"
#include "platform/landlock.hpp"
#include "platform/unique_fd.hpp"

namespace fence::launcher {

struct GuardedNames {
  std::set<std::string> names;      // protected paths that do not exist: never created
  std::set<std::string> ancestors;  // their missing parent directories: only mkdir
  bool empty() const { return names.empty(); }
};

// The protected paths of `spec` that are missing inside a writable tree, computed in the
// finished sandbox root (after pivot_root).
GuardedNames find_guarded_names(const ipc::LaunchSpec& spec);

// Runs `work` on a thread restricted like the command (no capabilities, its Landlock policy,
// its own umask), one call at a time.
class RestrictedWorker {
 public:
  // Starts the thread and waits until it is restricted; throws SysError when it cannot be.
  explicit RestrictedWorker(const platform::LandlockPolicy& policy);
  ~RestrictedWorker();
  RestrictedWorker(const RestrictedWorker&) = delete;
  RestrictedWorker& operator=(const RestrictedWorker&) = delete;

  // Runs `work` on the restricted thread and returns when it has finished.
  void run(const std::function<void()>& work);

 private:
  void loop(const platform::LandlockPolicy& policy);

  std::mutex mutex_;
  std::condition_variable cv_;
  const std::function<void()>* job_ = nullptr;
  bool done_ = false;
  bool stop_ = false;
  bool ready_ = false;
  int setup_error_ = 0;
  std::thread thread_;
};

class CreationGuard {
 public:
  CreationGuard(GuardedNames names, RestrictedWorker& worker);
  void set_listener(platform::UniqueFd listener) { listener_ = std::move(listener); }
  int fd() const { return listener_.get(); }
  // Receives and answers one notification. Returns false when the listener is unusable.
  bool handle_one();

 private:
  GuardedNames names_;
  RestrictedWorker& worker_;
  platform::UniqueFd listener_;
};

}  // namespace fence::launcher
