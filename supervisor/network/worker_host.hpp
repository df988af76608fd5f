// The supervisor's end of the proxy worker's channel: it owns the worker process, answers each
// ConnectRequest with the policy's decision (carried out by the connect pool, never on the
// event loop), hands the worker its listeners and the -p relays, and reports every decision
// to the run's EventSink.
//
// One function per message, mirrored in the worker's proxy-worker/supervisor_client:
//   send_proxy_start, send_local_listener, send_relay_start, and (from the pool's completions)
//   send_connect_allowed / send_connect_denied;
//   on_connect_request, on_tunnel_closed, on_relay_closed, on_worker_log (routed by kRoutes).
//
// Trust: everything from the worker is hostile (SECURITY-RULES 19). Its messages are decoded
// and validated by ipc::Channel; ids are checked here against the requests in flight; a
// violation kills the worker and the sandbox's network fails closed (the listeners die with
// it, so clients get "connection refused"). The worker is not restarted.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ipc/channel.hpp"
#include "platform/unique_fd.hpp"
#include "supervisor/audit/events.hpp"
#include "supervisor/network/connect_pool.hpp"
#include "supervisor/network/synthetic_addresses.hpp"
#include "supervisor/policy/network_policy.hpp"

namespace fence::supervisor {

struct WorkerHostOptions {
  bool debug = false;                // ProxyStart::debug: the worker reports its sandbox steps
  std::size_t connect_threads = 16;  // at most; started when a request would wait
  // More pending requests than this is a violation (the worker never has more).
  std::size_t max_in_flight = ipc::kMaxPendingRequests;
  // network.defaultAction "proxy" (ConnectOptions): the upstream proxy; port 0: none.
  std::string upstream_proxy_host;
  std::uint16_t upstream_proxy_port = 0;
  // network.verifyTls: a transparent connection to a synthetic address must claim its name.
  bool verify_names = false;
};

class WorkerHost {
 public:
  static constexpr std::size_t kMaxWorkerLogLines = 256;

  // `policy` must already name fence's own listeners (NetworkPolicy::own_listeners).
  WorkerHost(NetworkPolicy policy, WorkerHostOptions options, EventSink& events);
  ~WorkerHost();
  WorkerHost(const WorkerHost&) = delete;
  WorkerHost& operator=(const WorkerHost&) = delete;

  // Spawns fence-proxy-worker and sends our Hello; its answer is awaited by await_worker(), so
  // that the worker sets itself up while the launcher starts. Throws on failure.
  void start(const std::string& worker_path);
  // Uses an already connected channel end as the worker (start() calls this after spawning;
  // tests call it with an end they drive themselves, pid -1). Sends our Hello.
  void adopt_worker(pid_t pid, platform::UniqueFd channel);
  // Waits (at most 5 s) for the worker's Hello. Throws when it does not come: the caller
  // must not let the command start then. Once it returned, later calls return at once.
  void await_worker();

  // --- supervisor -> worker
  // The sandbox's listening sockets (the launcher's ListenersReady), HTTP first. Throws
  // ipc::ProtocolError if they are not listening TCP sockets.
  void send_proxy_start(std::vector<platform::UniqueFd> listeners);
  // A transparent listener (LocalListenerReady). Throws ipc::ProtocolError if it is not a
  // listening TCP socket.
  void send_local_listener(std::uint16_t port, platform::UniqueFd listener);
  // The transparent path's sockets (TransparentReady): the TCP listener and the DNS socket.
  // Throws ipc::ProtocolError if they are not a listening TCP socket and a UDP socket.
  void send_transparent_start(std::uint16_t tcp_port, std::uint16_t dns_port,
                              std::vector<platform::UniqueFd> sockets);
  // An inbound (-p) connection whose inner end the launcher opened: the worker relays it. The
  // event is reported now (allowed) and again when the relay ends (closed, with byte counts).
  // Returns false (and closes both) when the worker is gone.
  bool send_relay_start(NetworkEvent event, platform::UniqueFd outer, platform::UniqueFd inner);
  // The answers to a ConnectRequest, when the connect pool has carried it out: the socket
  // connected to exactly the address the policy checked, or the reason and the client's text.
  void send_connect_allowed(std::uint64_t id, platform::UniqueFd connected);
  void send_connect_denied(std::uint64_t id, ipc::DenyReason reason, const std::string& text);

  // --- worker -> supervisor (routed by kRoutes; a violation cuts the worker off)
  void on_connect_request(const ipc::ConnectRequest& request);
  void on_tunnel_closed(const ipc::TunnelClosed& closed);
  void on_relay_closed(const ipc::RelayClosed& closed);
  void on_worker_log(const ipc::WorkerLog& log);
  void on_dns_query(const ipc::DnsQuery& query);

  // --- the event loop
  // Descriptors to poll for readability (the pool's eventfd, the worker's channel), and the
  // handler for them, which also retries queued replies.
  std::vector<int> poll_fds() const;
  void on_readable(int fd);
  // Replies are queued when the worker's socket is full; then the loop also polls the channel
  // for writability and calls on_writable().
  bool wants_write() const { return !outbox_.empty(); }
  int channel_fd() const { return channel_ ? channel_->fd() : -1; }
  void on_writable() { flush_outbox(); }
  std::size_t relay_count() const { return relays_.size(); }

  // After the sandbox has ended: waits up to `limit` for the worker's TunnelClosed /
  // RelayClosed reports of the connections still open (their sockets died with the sandbox),
  // so that their records carry byte counts. Returns at once when none are open.
  void drain(std::chrono::milliseconds limit);
  // Kills the worker and stops the connect pool.
  void stop();

 private:
  // One reply to the worker. SECURITY: the worker's channel is non-blocking, so a worker that
  // stops reading cannot stall the supervisor; it gets a bounded queue, then a fault.
  struct WorkerReply {
    enum class Kind { Connect, LocalListener, Relay, TransparentStart, Dns } kind = Kind::Connect;
    std::uint64_t id = 0;       // Relay: the relay id; LocalListener: the port
    platform::UniqueFd fd;      // ConnectAllowed's socket, the listener, the outer end (Relay)
    platform::UniqueFd second;  // Relay: the inner end; TransparentStart: the DNS socket
    platform::UniqueFd third;   // TransparentStart: the DNS listener
    // Connect, when denied:
    ipc::DenyReason reason = ipc::DenyReason::Policy;
    std::string text;
    ipc::DnsAnswer dns;                 // Dns
    ipc::TransparentStart transparent;  // TransparentStart
  };

  void receive_from_worker();
  void answer_completions();
  // A TunnelClosed / RelayClosed report: the event of `id` in `open`, with the worker's counts.
  void report_closed(std::map<std::uint64_t, NetworkEvent>& open, std::string_view what,
                     std::uint64_t id, std::uint64_t bytes_up, std::uint64_t bytes_down,
                     std::uint32_t duration_ms);
  void fault(const std::string& what);
  void reply(WorkerReply r);
  bool try_send(WorkerReply& r);  // false: the socket is full (EAGAIN)
  void flush_outbox();

  WorkerHostOptions options_;
  EventSink& events_;
  ConnectPool pool_;
  // The transparent path: one synthetic address per allowed name, for the session.
  SyntheticAddresses synthetic_;
  // The last DnsQuery id answered: the worker numbers its queries upwards, so a smaller or
  // equal one is a reused id (a violation); one integer, however many queries come.
  std::uint64_t last_dns_id_ = 0;
  bool transparent_started_ = false;
  std::size_t log_lines_ = 0;
  pid_t worker_pid_ = -1;
  bool hello_pending_ = false;  // our Hello sent, the worker's not received yet
  std::unique_ptr<ipc::Channel> channel_;
  std::deque<WorkerReply> outbox_;
  // Request ids in flight, and tunnels open (id -> what was allowed).
  std::set<std::uint64_t> pending_;
  std::map<std::uint64_t, NetworkEvent> open_;
  // Inbound relays (supervisor's ids) running in the worker.
  std::map<std::uint64_t, NetworkEvent> relays_;
  std::uint64_t next_relay_id_ = 1;
};

}  // namespace fence::supervisor
