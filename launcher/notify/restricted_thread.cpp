#include "launcher/notify/restricted_thread.hpp"

#include <sched.h>

#include <cerrno>

#include "platform/capabilities.hpp"
#include "platform/sys_error.hpp"

namespace fence::launcher {

void restrict_this_thread(const platform::LandlockPolicy& policy) {
  platform::drop_all_capabilities();
  platform::apply_landlock(policy);
}

void follow_current_cpu(pid_t tid, int& last_cpu) {
  const int cpu = ::sched_getcpu();
  if (cpu < 0 || cpu == last_cpu) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (::sched_setaffinity(tid, sizeof set, &set) == 0) last_cpu = cpu;
}

RestrictedThread::RestrictedThread(const platform::LandlockPolicy& policy)
    : RestrictedThread(std::vector<platform::LandlockPolicy>{policy}) {}

RestrictedThread::RestrictedThread(std::vector<platform::LandlockPolicy> layers) {
  thread_ = std::thread([this, layers = std::move(layers)] { loop(layers); });
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return ready_; });
  if (setup_error_ != 0) {
    lock.unlock();
    thread_.join();
    throw platform::SysError("restricted thread: restrict", setup_error_);
  }
}

RestrictedThread::~RestrictedThread() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RestrictedThread::loop(const std::vector<platform::LandlockPolicy>& layers) {
  int error = 0;
  try {
    // Own cwd/umask (CLONE_FS), then the command's restrictions.
    if (::unshare(CLONE_FS) != 0) throw platform::SysError("unshare(CLONE_FS)");
    bool first = true;
    for (const platform::LandlockPolicy& policy : layers) {
      if (first)
        restrict_this_thread(policy);
      else
        platform::apply_landlock(policy);
      first = false;
    }
  } catch (const platform::SysError& e) {
    error = e.error_code() ? e.error_code() : EPERM;
  } catch (const std::exception&) {
    error = EPERM;
  }
  std::unique_lock lock(mutex_);
  tid_ = ::gettid();
  setup_error_ = error;
  ready_ = true;
  cv_.notify_all();
  if (error) return;
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || job_ != nullptr; });
    if (stop_) return;
    (*job_)();
    job_ = nullptr;
    done_ = true;
    cv_.notify_all();
  }
}

void RestrictedThread::run(const std::function<void()>& work) {
  // The caller sleeps until the job is done: the restricted thread runs on its CPU.
  follow_current_cpu(tid_, last_cpu_);
  std::unique_lock lock(mutex_);
  done_ = false;
  job_ = &work;
  cv_.notify_all();
  cv_.wait(lock, [&] { return done_; });
}

}  // namespace fence::launcher
