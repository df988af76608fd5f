// A thread of init restricted like the command: no capabilities, the command's Landlock policy,
// its own cwd and umask. Filesystem operations that init performs on a sandboxed process's
// behalf (filesystem_guard.hpp) run here, so the kernel applies to them exactly the policy it
// would apply to the process itself, and init's own rights never leak into them.
//
// Trust: the work it runs acts for a sandboxed process, on names that process chose (HOSTILE):
// that is why the thread is restricted before it takes any.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <sys/types.h>

#include "platform/landlock.hpp"

namespace fence::launcher {

// Restricts the calling thread like the command: no capabilities, `policy`'s Landlock domain.
// Credentials, no_new_privs and Landlock domains are per thread: init's other threads keep
// theirs. Throws SysError when it cannot (the thread must then not act for the command).
void restrict_this_thread(const platform::LandlockPolicy& policy);

// Moves thread `tid` to the CPU the caller runs on, unless `last_cpu` says it is there already
// (updated on success). A thread woken by one that then sleeps is switched to instead of
// woken across CPUs, which costs tens of microseconds on a virtual machine. Best effort.
void follow_current_cpu(pid_t tid, int& last_cpu);

class RestrictedThread {
 public:
  // Starts the thread and waits until it is restricted; throws SysError when it cannot be.
  explicit RestrictedThread(const platform::LandlockPolicy& policy);
  // The same, restricted by each policy in turn: the kernel stacks the Landlock domains, so the
  // thread may do only what every one of them allows (nest_registry.hpp).
  explicit RestrictedThread(std::vector<platform::LandlockPolicy> layers);
  ~RestrictedThread();
  RestrictedThread(const RestrictedThread&) = delete;
  RestrictedThread& operator=(const RestrictedThread&) = delete;

  // Runs `work` on the restricted thread and returns when it has finished (one call at a time).
  void run(const std::function<void()>& work);

 private:
  void loop(const std::vector<platform::LandlockPolicy>& layers);

  std::mutex mutex_;
  std::condition_variable cv_;
  const std::function<void()>* job_ = nullptr;
  bool done_ = false;
  bool stop_ = false;
  bool ready_ = false;
  int setup_error_ = 0;
  pid_t tid_ = 0;      // the restricted thread
  int last_cpu_ = -1;  // the CPU it was last moved to
  std::thread thread_;
};

}  // namespace fence::launcher
