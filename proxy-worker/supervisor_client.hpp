// The worker's end of its channel to the supervisor (fence), whole: one function per message
// the worker sends (ask_connect, send_tunnel_closed, send_relay_closed, send_worker_log) and
// one handler per message it receives (on_<message>), routed by kRoutes (ipc/handlers.hpp).
// The supervisor's mirror is its worker host (on_connect_request, ..., send_connect_allowed).
//
// Trust: the supervisor holds the policy, so its answers are obeyed: an upstream socket it
// hands over (ConnectAllowed), a listener (ProxyStart, LocalListener) or the two ends of an
// inbound connection (RelayStart) are used as they are. Its messages are still checked like
// any peer's: the channel checks frame, table and schema (ipc/channel.hpp), and the handlers
// check the worker's own facts: ProxyStart comes first and its fds are listening sockets, an
// answer is for a request that is pending, a LocalListener port was not given before, a
// RelayStart id is not in use. Any violation throws ipc::ProtocolError, which ends the worker
// (fail closed: the kernel closes every client, and the sandbox has no network).
//
// Channel discipline:
//   - Every ConnectRequest carries a fresh 64-bit id; its answer (ConnectAllowed with one fd,
//     or ConnectDenied) is matched by id.
//   - At most ipc::kMaxPendingRequests requests are pending at once (the supervisor treats one
//     more as a violation); further requests wait their turn, in order.
//   - Messages leave in order; when the supervisor is behind (a full socket), they queue here
//     until the channel drains. EOF from the supervisor ends the process (SupervisorGone).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ipc/channel.hpp"
#include "ipc/handlers.hpp"
#include "ipc/protocol.hpp"
#include "platform/unique_fd.hpp"

namespace fence::proxy_worker {

class ClientSession;
class ProxyServer;

// Thrown out of the event loop when the supervisor has gone away (EOF): a normal end.
class SupervisorGone : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What ProxyStart hands the worker: its limits and the two proxy listeners (checked listening,
// non-blocking), both bound to 127.0.0.1 inside the sandbox's network namespace.
struct WorkerStart {
  platform::UniqueFd http_listener;
  platform::UniqueFd socks_listener;
  ipc::ProxyStart limits;
};

class SupervisorClient {
 public:
  // Takes the worker's channel end (inherited at ipc::kChannelFd) and says Hello both ways
  // (blocking). Throws platform::SysError, ipc::ProtocolError.
  explicit SupervisorClient(platform::UniqueFd channel_end);
  ~SupervisorClient();
  SupervisorClient(const SupervisorClient&) = delete;
  SupervisorClient& operator=(const SupervisorClient&) = delete;

  // Waits for ProxyStart, the first message after Hello (blocking), and returns what it hands
  // over. The channel is non-blocking afterwards, for the event loop.
  WorkerStart await_proxy_start();

  // From now on every message is received in the event loop `io` and handed to its handler,
  // which passes listeners and relays to `server`.
  void start(boost::asio::io_context& io, ProxyServer& server);

  // --- worker -> supervisor ---
  // Asks for a connection to host:port for `session`: a ConnectRequest with a fresh id, queued
  // while kMaxPendingRequests are pending. Its answer goes to session->allowed() or
  // session->denied(). The host is as the parsers normalized it (normalize_target_host), a form
  // the channel's own check of the message accepts.
  // `claimed_host`: Transparent with verify_names only (ConnectRequest::claimed_host).
  void ask_connect(std::shared_ptr<ClientSession> session, const std::string& host,
                   std::uint16_t port, ipc::ProxyProtocol protocol, std::string claimed_host = {});
  void send_tunnel_closed(const ipc::TunnelClosed& closed);
  // One DNS query of the transparent path (dns_server.hpp bounds how many are pending).
  void ask_dns(const ipc::DnsQuery& query);
  // The inbound relay `closed.id` has ended: its id is free again.
  void send_relay_closed(const ipc::RelayClosed& closed);
  // One diagnostic line (cut to ipc::kMaxTextLen bytes, NULs replaced), sent at once, ahead of
  // anything queued. Best effort: a full or broken channel drops it. Never throws. The
  // worker's standard streams are /dev/null: the supervisor displays the line (escaped,
  // prefixed "[fence:proxy] ", a bounded number of them), as OpenSSH's monitor does with the
  // log lines of its unprivileged child.
  void send_worker_log(std::string_view text) noexcept;

  // --- supervisor -> worker ---
  void on_proxy_start(const ipc::ProxyStart& limits, std::vector<platform::UniqueFd> listeners);
  void on_local_listener(const ipc::LocalListener& listener, std::vector<platform::UniqueFd> fd);
  void on_connect_allowed(const ipc::ConnectAllowed& answer,
                          std::vector<platform::UniqueFd> upstream);
  void on_connect_denied(const ipc::ConnectDenied& answer);
  void on_relay_start(const ipc::RelayStart& relay, std::vector<platform::UniqueFd> ends);
  void on_transparent_start(const ipc::TransparentStart& start,
                            std::vector<platform::UniqueFd> sockets);
  void on_dns_answer(const ipc::DnsAnswer& answer);

  static constexpr ipc::Route<SupervisorClient> kRoutes[] = {
      ipc::route<&SupervisorClient::on_proxy_start>(),
      ipc::route<&SupervisorClient::on_local_listener>(),
      ipc::route<&SupervisorClient::on_connect_allowed>(),
      ipc::route<&SupervisorClient::on_connect_denied>(),
      ipc::route<&SupervisorClient::on_relay_start>(),
      ipc::route<&SupervisorClient::on_transparent_start>(),
      ipc::route<&SupervisorClient::on_dns_answer>(),
  };

 private:
  using Outgoing =
      std::variant<ipc::ConnectRequest, ipc::TunnelClosed, ipc::RelayClosed, ipc::DnsQuery>;
  struct Waiting {
    std::shared_ptr<ClientSession> session;
    ipc::ConnectRequest request;
  };

  void wait_readable();
  void receive_all();
  std::shared_ptr<ClientSession> take_pending(std::uint64_t id);
  void admit_waiting();
  void send(Outgoing message);
  void flush();  // sends queued messages until the socket is full

  ipc::Channel channel_;
  std::optional<WorkerStart> start_;  // set by on_proxy_start, taken by await_proxy_start
  ProxyServer* server_ = nullptr;     // set by start()
  // Watches channel_.fd() for readiness; released (never closes it) in the destructor.
  std::optional<boost::asio::posix::stream_descriptor> watch_;
  bool write_waiting_ = false;
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, std::shared_ptr<ClientSession>> pending_;
  std::deque<Waiting> waiting_;
  std::deque<Outgoing> outgoing_;
  std::set<std::uint16_t> local_ports_;  // LocalListener ports given so far
  std::set<std::uint64_t> relays_;       // inbound relays running (the supervisor's ids)
  bool transparent_started_ = false;
};

static_assert(ipc::routes_complete(SupervisorClient::kRoutes, ipc::Role::Supervisor,
                                   ipc::Role::ProxyWorker));

}  // namespace fence::proxy_worker
