#include "supervisor/network/connect_pool.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <system_error>
#include <thread>

#include "platform/sys_error.hpp"

namespace fence::supervisor {

ConnectPool::ConnectPool(NetworkPolicy policy, ConnectOptions options, std::size_t max_threads)
    : max_threads_(max_threads), shared_(std::make_shared<Shared>()) {
  shared_->policy = std::move(policy);
  shared_->options = std::move(options);
  shared_->wakeup.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!shared_->wakeup) throw platform::SysError("eventfd");
}

ConnectPool::~ConnectPool() {
  stop();
}

void ConnectPool::submit(ipc::ConnectRequest request) {
  bool start = false;
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->stopping) return;
    shared_->jobs.push_back(Job{std::move(request)});
    // Threads are made when a request would otherwise wait, up to max_threads: a run without
    // network makes none.
    if (shared_->jobs.size() > shared_->idle && shared_->threads < max_threads_) {
      ++shared_->threads;
      start = true;
    }
  }
  if (start) start_thread();
  shared_->jobs_cv.notify_one();
}

std::deque<ConnectPool::Done> ConnectPool::take_done() {
  std::uint64_t count = 0;
  [[maybe_unused]] auto n = ::read(shared_->wakeup.get(), &count, sizeof count);
  std::deque<Done> done;
  std::lock_guard lock(shared_->mutex);
  done.swap(shared_->done);
  return done;
}

void ConnectPool::drop_queued() {
  std::lock_guard lock(shared_->mutex);
  shared_->jobs.clear();
}

void ConnectPool::stop() {
  {
    std::lock_guard lock(shared_->mutex);
    shared_->stopping = true;
    shared_->jobs.clear();
  }
  shared_->jobs_cv.notify_all();
}

void ConnectPool::start_thread() {
  // The connect threads block every signal, so a signal sent to fence reaches the main
  // thread's signalfd (and is forwarded to the sandbox) instead of killing the process.
  sigset_t all, previous;
  sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, &previous);
  try {
    std::thread(thread_main, shared_).detach();
  } catch (const std::system_error&) {
    // The job waits for a thread that is running (there is at least one unless this was the
    // first, and then the request is answered when the sandbox ends: fail closed).
    std::lock_guard lock(shared_->mutex);
    --shared_->threads;
  }
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

void ConnectPool::thread_main(std::shared_ptr<Shared> shared) {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(shared->mutex);
      ++shared->idle;
      shared->jobs_cv.wait(lock, [&] { return shared->stopping || !shared->jobs.empty(); });
      --shared->idle;
      if (shared->stopping) return;
      job = std::move(shared->jobs.front());
      shared->jobs.pop_front();
    }
    const ipc::ConnectRequest& r = job.request;
    // A transparent connection names only a port: the target is the host's own loopback.
    ConnectOutcome outcome = r.protocol == ipc::ProxyProtocol::LocalForward
                                 ? establish_local(shared->policy, r.port, shared->options)
                                 : establish(shared->policy, r.host, r.port, shared->options);
    {
      std::lock_guard lock(shared->mutex);
      if (shared->stopping) return;  // the sandbox is gone; the fd closes with `outcome`
      shared->done.push_back(Done{std::move(job.request), std::move(outcome)});
    }
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(shared->wakeup.get(), &one, sizeof one);
  }
}

}  // namespace fence::supervisor
