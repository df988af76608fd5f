// The supervisor's side of the network: it owns the proxy worker process, answers the
// worker's ConnectRequests with the policy (resolving and connecting on a small thread pool,
// never on the event loop), and reports every decision.
//
// Trust: everything from the worker is hostile (SECURITY-RULES 19). Its messages are decoded
// and validated by ipc::Channel; ids are checked here against the requests in flight; a
// violation kills the worker and the sandbox's network fails closed (the listeners die with
// it, so clients get "connection refused"). The worker is not restarted.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ipc/channel.hpp"
#include "platform/unique_fd.hpp"
#include "supervisor/audit/events.hpp"
#include "supervisor/network/connector.hpp"
#include "supervisor/policy/network_policy.hpp"

namespace fence::supervisor {

class AuditLog;

struct BrokerOptions {
  std::uint16_t http_port = ipc::kDefaultHttpProxyPort;
  std::uint16_t socks_port = ipc::kDefaultSocksProxyPort;
  bool debug = false;
  std::size_t connect_threads = 16;  // at most; started when a request would wait
  // More pending requests than this is a violation (the worker never has more).
  std::size_t max_in_flight = ipc::kMaxPendingRequests;
  // fence's own host listeners (-p): never a target, on their own address nor on any
  // loopback address (a listener on 0.0.0.0 answers on all of 127/8, and ::ffff:127.x.y.z
  // reaches a v4 listener), whatever the rules allow.
  std::vector<std::pair<IpAddress, std::uint16_t>> forbidden_endpoints;
  std::vector<std::uint16_t> inbound_ports;
};

class NetworkBroker {
 public:
  using EventSink = std::function<void(const NetworkEvent&)>;
  using FaultSink = std::function<void(const WorkerFault&)>;
  // The worker's diagnostic lines (WorkerLog), as it sent them (hostile text: the sink
  // displays them escaped). At most kMaxWorkerLogLines per worker reach it.
  using LogSink = std::function<void(const std::string&)>;
  static constexpr std::size_t kMaxWorkerLogLines = 256;

  NetworkBroker(NetworkPolicy policy, BrokerOptions options, EventSink on_event,
                FaultSink on_fault);
  ~NetworkBroker();
  NetworkBroker(const NetworkBroker&) = delete;
  NetworkBroker& operator=(const NetworkBroker&) = delete;

  void on_worker_log(LogSink sink) { on_log_ = std::move(sink); }

  // Spawns fence-proxy-worker and sends our Hello; its answer is awaited by await_worker(), so
  // that the worker sets itself up while the launcher starts. Throws on failure.
  void start(const std::string& worker_path);

  // Uses an already connected channel end as the worker (start() calls this after spawning;
  // tests call it with an end they drive themselves, pid -1). Sends our Hello.
  void adopt_worker(pid_t pid, platform::UniqueFd channel);

  // Waits (at most 5 s) for the worker's Hello. Throws when it does not come: the caller
  // must not let the command start then. Once it returned, later calls return at once.
  void await_worker();

  // The sandbox's listening sockets (from the launcher's ListenersReady): passed to the
  // worker in ProxyStart. Throws ipc::ProtocolError if they are not listening TCP sockets.
  void attach_listeners(std::vector<platform::UniqueFd> fds);
  // A transparent listener (LocalListenerReady): passed to the worker as LocalListener.
  // Throws ipc::ProtocolError if it is not a listening TCP socket.
  void attach_local_listener(std::uint16_t port, platform::UniqueFd fd);
  // An inbound (-p) connection whose inner end the launcher opened: the worker relays it. The
  // event is reported now (allowed) and again when the relay ends (closed, with byte counts).
  // Returns false (and closes both) when the worker is gone.
  bool start_relay(NetworkEvent event, platform::UniqueFd outer, platform::UniqueFd inner);
  std::size_t relay_count() const { return relays_.size(); }

  // Descriptors the event loop polls for readability, and the handler for them (which also
  // retries answers queued for the worker).
  std::vector<int> poll_fds() const;
  void on_readable(int fd);
  // Answers are queued when the worker's socket is full; then the loop also polls the channel
  // for writability and calls on_writable().
  bool wants_write() const { return !outbox_.empty(); }
  int channel_fd() const { return channel_ ? channel_->fd() : -1; }
  void on_writable() { flush_outbox(); }

  bool worker_alive() const { return worker_pid_ > 0; }
  // After the sandbox has ended: waits up to `limit` for the worker's TunnelClosed /
  // RelayClosed reports of the connections still open (their sockets died with the sandbox),
  // so that their records carry byte counts. Returns at once when none are open.
  void drain(std::chrono::milliseconds limit);
  // Kills the worker and releases the thread pool.
  void stop();

 private:
  struct Job {
    std::uint64_t id;
    ipc::ConnectRequest request;
  };
  struct Done {
    std::uint64_t id;
    ipc::ConnectRequest request;
    ConnectOutcome outcome;
  };

  void handle_worker_message();
  void handle_message(ipc::Incoming& message);
  void handle_completions();
  // A TunnelClosed / RelayClosed report: the event of `id` in `open`, with the worker's counts.
  void report_closed(std::map<std::uint64_t, NetworkEvent>& open, std::string_view what,
                     std::uint64_t id, std::uint64_t bytes_up, std::uint64_t bytes_down,
                     std::uint32_t duration_ms);
  void fault(const std::string& what);

  // One answer to the worker. SECURITY: the worker's channel is non-blocking, so a worker that
  // stops reading cannot stall the supervisor; it gets a bounded queue, then a fault.
  struct Answer {
    enum class Kind { Connect, LocalListener, Relay } kind = Kind::Connect;
    std::uint64_t id = 0;   // Relay: the relay id; LocalListener: the port
    platform::UniqueFd fd;  // set: ConnectAllowed (Connect), the listener, the outer end (Relay)
    platform::UniqueFd second;  // Relay: the inner end
    // Connect, when denied:
    ipc::DenyReason reason = ipc::DenyReason::Policy;
    std::string text;
  };
  void answer(Answer a);
  bool try_send(Answer& a);  // false: the socket is full (EAGAIN)
  void flush_outbox();
  std::deque<Answer> outbox_;

  // State shared with the connect threads. They may still be resolving or connecting when the
  // sandbox ends; they are detached and keep this alive until they notice `stopping`.
  struct Shared {
    NetworkPolicy policy;
    ConnectOptions connect_options;
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
  void spawn_connect_thread();

  BrokerOptions options_;
  EventSink on_event_;
  FaultSink on_fault_;
  LogSink on_log_;
  std::size_t log_lines_ = 0;
  pid_t worker_pid_ = -1;
  bool hello_pending_ = false;  // our Hello sent, the worker's not received yet
  std::unique_ptr<ipc::Channel> channel_;
  std::shared_ptr<Shared> shared_;

  // Requests in flight (id -> request) and tunnels open (id -> what was allowed).
  std::map<std::uint64_t, ipc::ConnectRequest> pending_;
  std::map<std::uint64_t, NetworkEvent> open_;
  // Inbound relays (supervisor's ids) running in the worker.
  std::map<std::uint64_t, NetworkEvent> relays_;
  std::uint64_t next_relay_id_ = 1;
};

}  // namespace fence::supervisor
