// The connect pool: the threads that carry out the proxy worker's ConnectRequests (decide,
// resolve, connect: upstream_connector.hpp) off the supervisor's event loop. A thread is
// started when a request would otherwise wait, up to max_threads, so a run without network
// starts none. Each completion is queued and signalled on an eventfd the event loop polls.
//
// The threads may still be resolving or connecting when the sandbox ends: they are detached
// and share the pool's state until they notice it stopped; a connection made after that is
// closed unused.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>

#include "ipc/protocol.hpp"
#include "platform/unique_fd.hpp"
#include "supervisor/network/upstream_connector.hpp"
#include "supervisor/policy/network_policy.hpp"

namespace fence::supervisor {

class ConnectPool {
 public:
  struct Done {
    ipc::ConnectRequest request;
    ConnectOutcome outcome;
  };

  // Throws platform::SysError when the eventfd cannot be made.
  ConnectPool(NetworkPolicy policy, ConnectOptions options, std::size_t max_threads);
  ~ConnectPool();
  ConnectPool(const ConnectPool&) = delete;
  ConnectPool& operator=(const ConnectPool&) = delete;

  // Queues one request (the caller has checked its id and the cap on requests in flight).
  void submit(ipc::ConnectRequest request);
  // Readable when completions are queued.
  int wakeup_fd() const { return shared_->wakeup.get(); }
  // The policy the pool decides with (immutable, so also read outside its threads).
  const NetworkPolicy& policy() const { return shared_->policy; }
  // Clears the eventfd and returns every completion queued so far.
  std::deque<Done> take_done();
  // Requests not started yet are dropped (the worker that asked was cut off).
  void drop_queued();
  // Ends the pool: queued requests are dropped, threads exit when they look again.
  void stop();

 private:
  struct Job {
    ipc::ConnectRequest request;
  };
  struct Shared {
    NetworkPolicy policy;
    ConnectOptions options;
    platform::UniqueFd wakeup;  // eventfd: completions are queued
    std::mutex mutex;
    std::condition_variable jobs_cv;
    std::deque<Job> jobs;
    std::deque<Done> done;
    bool stopping = false;
    std::size_t threads = 0;  // connect threads started
    std::size_t idle = 0;     // of which waiting for a job
  };
  static void thread_main(std::shared_ptr<Shared> shared);
  void start_thread();

  std::size_t max_threads_;
  std::shared_ptr<Shared> shared_;
};

}  // namespace fence::supervisor
