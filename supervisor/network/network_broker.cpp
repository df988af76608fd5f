#include "supervisor/network/network_broker.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "platform/sys_error.hpp"
#include "platform/tcp_listener.hpp"
#include "supervisor/spawn.hpp"

namespace fence::supervisor {

NetworkBroker::NetworkBroker(NetworkPolicy policy, BrokerOptions options, EventSink on_event,
                             FaultSink on_fault)
    : options_(options),
      on_event_(std::move(on_event)),
      on_fault_(std::move(on_fault)),
      shared_(std::make_shared<Shared>()) {
  shared_->policy = std::move(policy);
  shared_->wakeup.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!shared_->wakeup) throw platform::SysError("eventfd");
  shared_->connect_options.host_own = host_addresses();
  // SECURITY: the sandbox's own proxy listeners and fence's -p listeners are never a target
  // (SECURITY-RULES 3), whatever loopback address names them.
  OwnListeners& own = shared_->policy.own_listeners;
  own.loopback_ports = {options_.http_port, options_.socks_port};
  for (std::uint16_t port : options_.inbound_ports) own.loopback_ports.push_back(port);
  own.endpoints = options_.forbidden_endpoints;
}

void NetworkBroker::spawn_connect_thread() {
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

NetworkBroker::~NetworkBroker() {
  stop();
}

void NetworkBroker::start(const std::string& worker_path) {
  auto [ours, theirs] = ipc::make_channel_pair();
  std::error_code error;
  const pid_t pid = spawn_helper(worker_path, theirs.get(), error);
  theirs.reset();
  if (pid < 0) throw std::runtime_error("cannot start " + worker_path + ": " + error.message());
  adopt_worker(pid, std::move(ours));
}

void NetworkBroker::adopt_worker(pid_t pid, platform::UniqueFd channel) {
  worker_pid_ = pid;
  channel_ = std::make_unique<ipc::Channel>(std::move(channel), ipc::Role::Supervisor,
                                            ipc::Role::ProxyWorker);
  channel_->send_hello();
  hello_pending_ = true;
}

void NetworkBroker::await_worker() {
  if (!hello_pending_) return;
  if (!channel_) throw std::runtime_error("no proxy worker");
  // A worker that never says Hello must not hang fence at startup.
  struct pollfd p {
    channel_->fd(), POLLIN, 0
  };
  if (platform::retry_eintr([&] { return ::poll(&p, 1, 5000); }) != 1)
    throw std::runtime_error("the proxy worker did not answer within 5 s");
  auto hello = channel_->receive();
  if (!hello || hello->type != ipc::MessageType::Hello)
    throw std::runtime_error("the proxy worker did not start");
  // From here on the channel is non-blocking: see Answer.
  const int flags = ::fcntl(channel_->fd(), F_GETFL);
  if (flags < 0 || ::fcntl(channel_->fd(), F_SETFL, flags | O_NONBLOCK) != 0)
    throw platform::SysError("fcntl(O_NONBLOCK) on the worker channel");
  hello_pending_ = false;
}

void NetworkBroker::attach_listeners(std::vector<platform::UniqueFd> fds) {
  // SECURITY: the launcher is trusted, but a listener that is not what it claims would hand
  // the worker something else entirely; check before passing it on.
  if (fds.size() != 2) throw ipc::ProtocolError("ListenersReady: expected 2 fds");
  for (const auto& fd : fds)
    if (!platform::is_listening_tcp_socket(fd.get()))
      throw ipc::ProtocolError("ListenersReady: fd is not a listening TCP socket");
  if (!channel_) return;
  ipc::ProxyStart start;
  start.debug = options_.debug;
  const int raw[] = {fds[0].get(), fds[1].get()};
  channel_->send(start, raw);
  // Our copies close here: the worker alone holds the listeners, so if it dies the sandbox's
  // proxies refuse connections (fail closed).
}

void NetworkBroker::attach_local_listener(std::uint16_t port, platform::UniqueFd fd) {
  if (!platform::is_listening_tcp_socket(fd.get()))
    throw ipc::ProtocolError("LocalListenerReady: fd is not a listening TCP socket");
  Answer a;
  a.kind = Answer::Kind::LocalListener;
  a.id = port;
  a.fd = std::move(fd);
  answer(std::move(a));
}

bool NetworkBroker::start_relay(NetworkEvent event, platform::UniqueFd outer,
                                platform::UniqueFd inner) {
  if (!channel_) return false;
  const std::uint64_t id = next_relay_id_++;
  relays_.emplace(id, event);
  on_event_(event);
  Answer a;
  a.kind = Answer::Kind::Relay;
  a.id = id;
  a.fd = std::move(outer);
  a.second = std::move(inner);
  answer(std::move(a));
  return true;
}

std::vector<int> NetworkBroker::poll_fds() const {
  std::vector<int> fds{shared_->wakeup.get()};
  if (channel_) fds.push_back(channel_->fd());
  return fds;
}

void NetworkBroker::on_readable(int fd) {
  flush_outbox();
  if (fd == shared_->wakeup.get()) {
    std::uint64_t count = 0;
    [[maybe_unused]] auto n = ::read(shared_->wakeup.get(), &count, sizeof count);
    handle_completions();
  } else if (channel_ && fd == channel_->fd()) {
    handle_worker_message();
  }
}

void NetworkBroker::handle_worker_message() {
  // Drain everything queued, one datagram at a time.
  for (int i = 0; i < 256 && channel_; ++i) {
    ipc::ReceiveResult result;
    try {
      result = channel_->try_receive();
    } catch (const ipc::ProtocolError& e) {
      return fault(std::string("protocol violation: ") + e.what());
    } catch (const platform::SysError& e) {
      return fault(e.what());
    }
    if (result.status == ipc::ReceiveStatus::WouldBlock) return;
    if (result.status == ipc::ReceiveStatus::Closed) return fault("the proxy worker exited");
    handle_message(*result.message);
  }
}

void NetworkBroker::handle_message(ipc::Incoming& message) {
  auto* incoming = &message;
  try {
    switch (incoming->type) {
      case ipc::MessageType::Hello:
        return;
      case ipc::MessageType::ConnectRequest: {
        auto request = incoming->decode<ipc::ConnectRequest>();
        // SECURITY: ids are the worker's; a duplicate or a flood is a violation.
        if (pending_.count(request.id) || open_.count(request.id))
          return fault("ConnectRequest reuses id " + std::to_string(request.id));
        if (pending_.size() >= options_.max_in_flight)
          return fault("more than " + std::to_string(options_.max_in_flight) +
                       " ConnectRequests in flight");
        pending_.emplace(request.id, request);
        bool spawn = false;
        {
          std::lock_guard lock(shared_->mutex);
          shared_->jobs.push_back(Job{request.id, request});
          // Threads are made when a request would otherwise wait, up to connect_threads: a
          // run without network makes none.
          if (shared_->jobs.size() > shared_->idle && shared_->threads < options_.connect_threads) {
            ++shared_->threads;
            spawn = true;
          }
        }
        if (spawn) spawn_connect_thread();
        shared_->jobs_cv.notify_one();
        return;
      }
      case ipc::MessageType::TunnelClosed: {
        const auto closed = incoming->decode<ipc::TunnelClosed>();
        return report_closed(open_, "TunnelClosed", closed.id, closed.bytes_up, closed.bytes_down,
                             closed.duration_ms);
      }
      case ipc::MessageType::RelayClosed: {
        const auto closed = incoming->decode<ipc::RelayClosed>();
        return report_closed(relays_, "RelayClosed", closed.id, closed.bytes_up, closed.bytes_down,
                             closed.duration_ms);
      }
      case ipc::MessageType::WorkerLog: {
        const auto log = incoming->decode<ipc::WorkerLog>();
        // SECURITY: the worker's only voice; bounded so a compromised one cannot flood it.
        if (++log_lines_ <= kMaxWorkerLogLines && on_log_) on_log_(log.text);
        if (log_lines_ == kMaxWorkerLogLines + 1 && on_log_)
          on_log_("(further lines of the proxy worker dropped)");
        return;
      }
      default:
        return fault("unexpected message from the proxy worker");
    }
  } catch (const ipc::ProtocolError& e) {
    fault(std::string("protocol violation: ") + e.what());
  } catch (const platform::SysError& e) {
    fault(e.what());
  }
}

void NetworkBroker::report_closed(std::map<std::uint64_t, NetworkEvent>& open,
                                  std::string_view what, std::uint64_t id, std::uint64_t bytes_up,
                                  std::uint64_t bytes_down, std::uint32_t duration_ms) {
  auto it = open.find(id);
  // SECURITY: the ids are the supervisor's record of what it allowed; anything else is a lie.
  if (it == open.end()) return fault(std::string(what) + " for unknown id " + std::to_string(id));
  NetworkEvent event = std::move(it->second);
  open.erase(it);
  event.closed = true;
  event.bytes_up = bytes_up;
  event.bytes_down = bytes_down;
  event.duration_ms = duration_ms;
  on_event_(event);
}

void NetworkBroker::handle_completions() {
  std::deque<Done> done;
  {
    std::lock_guard lock(shared_->mutex);
    done.swap(shared_->done);
  }
  for (Done& d : done) {
    pending_.erase(d.id);
    NetworkEvent event;
    event.kind = kind_of(d.request.protocol);
    event.host = d.request.host;
    event.port = d.request.port;
    event.allowed = d.outcome.fd.valid();
    event.deny_reason = d.outcome.reason;
    event.rule = d.outcome.decision.rule;
    event.reason = event.allowed ? std::string() : d.outcome.text;
    event.resolved = d.outcome.resolved;
    event.connected = d.outcome.connected_address;
    if (!channel_) {
      // The worker is gone: the decision is still reported, the connection is closed unused.
      on_event_(event);
      continue;
    }
    if (event.allowed) open_.emplace(d.id, event);
    on_event_(event);
    Answer a;
    a.id = d.id;
    a.fd = std::move(d.outcome.fd);
    a.reason = d.outcome.reason;
    a.text = d.outcome.text.substr(0, ipc::kMaxReasonLen);
    answer(std::move(a));
  }
}

void NetworkBroker::thread_main(std::shared_ptr<Shared> shared) {
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
    // A transparent connection names only a port: the target is the host's own loopback.
    ConnectOutcome outcome =
        job.request.protocol == ipc::ProxyProtocol::LocalForward
            ? establish_local(shared->policy, job.request.port, shared->connect_options)
            : establish(shared->policy, job.request.host, job.request.port,
                        shared->connect_options);
    {
      std::lock_guard lock(shared->mutex);
      if (shared->stopping) return;  // the sandbox is gone; the fd closes with `outcome`
      shared->done.push_back(Done{job.id, std::move(job.request), std::move(outcome)});
    }
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(shared->wakeup.get(), &one, sizeof one);
  }
}

void NetworkBroker::answer(Answer a) {
  if (!channel_) return;
  if (outbox_.empty() && try_send(a)) return;
  if (!channel_) return;
  if (outbox_.size() >= options_.max_in_flight)
    return fault("the proxy worker does not read its answers");
  outbox_.push_back(std::move(a));
}

bool NetworkBroker::try_send(Answer& a) {
  try {
    if (a.kind == Answer::Kind::LocalListener) {
      const int fd = a.fd.get();
      channel_->send(ipc::LocalListener{static_cast<std::uint16_t>(a.id)},
                     std::span<const int>(&fd, 1));
    } else if (a.kind == Answer::Kind::Relay) {
      const int fds[] = {a.fd.get(), a.second.get()};
      channel_->send(ipc::RelayStart{a.id}, fds);
    } else if (a.fd) {
      const int fd = a.fd.get();
      channel_->send(ipc::ConnectAllowed{a.id}, std::span<const int>(&fd, 1));
    } else {
      channel_->send(ipc::ConnectDenied{a.id, a.reason, a.text});
    }
    return true;
  } catch (const platform::SysError& e) {
    if (e.error_code() == EAGAIN || e.error_code() == EWOULDBLOCK) return false;
    fault(std::string("cannot answer the proxy worker: ") + e.what());
  } catch (const std::exception& e) {
    fault(std::string("cannot answer the proxy worker: ") + e.what());
  }
  return true;  // not queued: the worker is gone
}

void NetworkBroker::flush_outbox() {
  while (channel_ && !outbox_.empty()) {
    if (!try_send(outbox_.front())) return;
    outbox_.pop_front();
  }
}

void NetworkBroker::fault(const std::string& what) {
  outbox_.clear();
  {
    // Requests not started yet are dropped: nothing is resolved or connected for a worker
    // that has been cut off.
    std::lock_guard lock(shared_->mutex);
    shared_->jobs.clear();
  }
  on_fault_(WorkerFault{what});
  // SECURITY: a misbehaving worker is cut off at once; the sandbox's listeners die with it.
  channel_.reset();
  if (worker_pid_ > 0) {
    ::kill(worker_pid_, SIGKILL);
    int status = 0;
    platform::retry_eintr([&] { return ::waitpid(worker_pid_, &status, 0); });
    worker_pid_ = -1;
  }
  pending_.clear();
  // Inbound relays died with the worker: report them closed (without byte counts).
  for (auto& [id, event] : relays_) {
    event.closed = true;
    on_event_(event);
  }
  relays_.clear();
}

void NetworkBroker::drain(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (channel_ && (!open_.empty() || !relays_.empty())) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    struct pollfd p {
      channel_->fd(), POLLIN, 0
    };
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return;
    handle_worker_message();
  }
}

void NetworkBroker::stop() {
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->stopping && !channel_ && worker_pid_ <= 0 && open_.empty() && relays_.empty())
      return;
    shared_->stopping = true;
    shared_->jobs.clear();
  }
  outbox_.clear();
  shared_->jobs_cv.notify_all();
  // Killed before its channel closes: a worker that saw the close first would report it as a
  // protocol violation by the supervisor.
  if (worker_pid_ > 0) ::kill(worker_pid_, SIGKILL);
  channel_.reset();
  if (worker_pid_ > 0) {
    int status = 0;
    platform::retry_eintr([&] { return ::waitpid(worker_pid_, &status, 0); });
    worker_pid_ = -1;
  }
  // Allowed connections still open when the sandbox ends are reported without byte counts.
  for (auto* open : {&open_, &relays_}) {
    for (auto& [id, event] : *open) {
      event.closed = true;
      on_event_(event);
    }
    open->clear();
  }
}

}  // namespace fence::supervisor
