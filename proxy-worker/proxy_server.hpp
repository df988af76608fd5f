// The worker's event loop (Boost.Asio, one thread): the two listeners, the supervisor channel
// and every client session.
//
// Channel discipline:
//   - Every ConnectRequest carries a fresh 64-bit id; the answer (ConnectAllowed with one fd, or
//     ConnectDenied) is matched by id. An answer for an id not pending is a protocol violation.
//   - At most kMaxInFlight requests are pending at once (below the supervisor's cap, which it
//     treats as a violation); further sessions wait their turn in order.
//   - EOF or any ProtocolError from the supervisor ends the process (fail closed: the kernel
//     closes every client and tunnel).
// Capacity: at most max_tunnels client connections live at once (reading, asking or
// relaying); a connection over the cap is closed at once (HTTP: after a best-effort 503).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <variant>

#include "ipc/channel.hpp"
#include "proxy-worker/client_session.hpp"
#include "proxy-worker/worker_sandbox.hpp"

namespace fence::proxy_worker {

inline constexpr std::size_t kMaxInFlight = ipc::kMaxPendingRequests;

// Thrown out of the event loop when the supervisor has gone away (EOF): a normal end.
class SupervisorGone : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ProxyServer {
 public:
  ProxyServer(boost::asio::io_context& io, WorkerStart start);
  ~ProxyServer();
  ProxyServer(const ProxyServer&) = delete;
  ProxyServer& operator=(const ProxyServer&) = delete;

  // Runs until the supervisor closes the channel (throws SupervisorGone) or violates the
  // protocol (throws ipc::ProtocolError). Never returns normally.
  void run();

  // --- for ClientSession ---
  boost::asio::io_context& io() { return io_; }
  const ipc::ProxyStart& limits() const { return limits_; }
  // Sends (or queues) a ConnectRequest for `session`; returns the request's id.
  std::uint64_t ask(std::shared_ptr<ClientSession> session, const std::string& host,
                    std::uint16_t port, ipc::ProxyProtocol protocol);
  void tunnel_closed(const ipc::TunnelClosed& closed);
  void relay_closed(const ipc::RelayClosed& closed);
  void session_opened() { ++live_sessions_; }
  void session_closed() { --live_sessions_; }

 private:
  struct Listener {
    boost::asio::posix::stream_descriptor socket;
    boost::asio::steady_timer pause;  // after EMFILE and friends
    ClientKind kind;
    std::uint16_t port = 0;  // ClientKind::Local: the host port it stands for
  };
  using Outgoing = std::variant<ipc::ConnectRequest, ipc::TunnelClosed, ipc::RelayClosed>;
  struct Waiting {
    std::shared_ptr<ClientSession> session;
    ipc::ConnectRequest request;
  };

  void wait_accept(Listener& listener);
  void accept_ready(Listener& listener);
  void reject(platform::UniqueFd client, ClientKind kind);

  void wait_channel();
  void drain_channel();
  void on_message(ipc::Incoming& message);
  void add_local_listener(std::uint16_t port, platform::UniqueFd fd);
  void start_inbound_relay(std::uint64_t id, platform::UniqueFd outer, platform::UniqueFd inner);
  std::shared_ptr<ClientSession> take_pending(std::uint64_t id);
  void admit_waiting();

  void send(Outgoing message);
  void flush();  // sends queued messages until the socket is full

  boost::asio::io_context& io_;
  ipc::Channel channel_;
  ipc::ProxyStart limits_;
  // Watches channel_.fd() for readiness; released (never closes it) in the destructor.
  boost::asio::posix::stream_descriptor channel_watch_;
  bool channel_write_waiting_ = false;
  Listener http_;
  Listener socks_;
  std::list<Listener> locals_;           // transparent listeners (stable addresses)
  std::set<std::uint16_t> local_ports_;  // ports of locals_
  std::set<std::uint64_t> relays_;       // inbound relays running (supervisor's ids)
  std::uint64_t next_id_ = 1;
  std::size_t live_sessions_ = 0;
  std::map<std::uint64_t, std::shared_ptr<ClientSession>> pending_;
  std::deque<Waiting> waiting_;
  std::deque<Outgoing> outgoing_;
};

}  // namespace fence::proxy_worker
