// The worker's listeners and client sessions, in one event loop (Boost.Asio, one thread): the
// HTTP and SOCKS5 proxy listeners of ProxyStart, the transparent listeners of LocalListener,
// and the inbound relays of RelayStart. What reaches the supervisor goes through
// SupervisorClient (supervisor_client.hpp).
// Trust: it accepts the sandbox's connections but reads none of their bytes (the sessions do);
// its listeners and relay ends come from the supervisor and are used as they are.
// Capacity: at most max_tunnels client connections live at once (reading, asking or
// relaying); a connection over the cap is closed at once (HTTP: after a best-effort 503).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <list>

#include "ipc/protocol.hpp"
#include "platform/unique_fd.hpp"
#include "proxy-worker/client_session.hpp"
#include "proxy-worker/dns_server.hpp"
#include "proxy-worker/supervisor_client.hpp"

namespace fence::proxy_worker {

class ProxyServer {
 public:
  ProxyServer(boost::asio::io_context& io, SupervisorClient& supervisor, WorkerStart start);
  ProxyServer(const ProxyServer&) = delete;
  ProxyServer& operator=(const ProxyServer&) = delete;

  // Runs until the supervisor closes the channel (throws SupervisorGone) or violates the
  // protocol (throws ipc::ProtocolError). Never returns normally.
  void run();

  // --- for SupervisorClient ---
  // A transparent listener (allowLocalOutboundPorts) for the host's `port`.
  void add_local_listener(std::uint16_t port, platform::UniqueFd fd);
  // The transparent path (TransparentStart): the redirect listener, the DNS socket and the DNS
  // listener (TCP).
  // `verify_names`: network.verifyTls (ClientSession reads a connection's claimed name).
  void start_transparent(platform::UniqueFd listener, platform::UniqueFd dns,
                         platform::UniqueFd dns_streams, bool verify_names);
  // The supervisor's answer to a DnsQuery (throws ipc::ProtocolError without one pending).
  void dns_answer(const ipc::DnsAnswer& answer);
  // Relays the bytes of an inbound (-p) connection as they are; RelayClosed at its end.
  void start_inbound_relay(std::uint64_t id, platform::UniqueFd outer, platform::UniqueFd inner);

  // --- for ClientSession ---
  boost::asio::io_context& io() { return io_; }
  SupervisorClient& supervisor() { return supervisor_; }
  const ipc::ProxyStart& limits() const { return limits_; }
  bool verify_names() const { return verify_names_; }
  void session_opened() { ++live_sessions_; }
  void session_closed() { --live_sessions_; }

 private:
  struct Listener {
    boost::asio::posix::stream_descriptor socket;
    boost::asio::steady_timer pause;  // after EMFILE and friends
    ClientKind kind;
    std::uint16_t port = 0;  // ClientKind::Local: the host port it stands for
  };

  void wait_accept(Listener& listener);
  void accept_ready(Listener& listener);
  void reject(platform::UniqueFd client, ClientKind kind);
  void start_transparent_session(platform::UniqueFd client);

  boost::asio::io_context& io_;
  SupervisorClient& supervisor_;
  ipc::ProxyStart limits_;
  Listener http_;
  Listener socks_;
  std::list<Listener> locals_;           // transparent listeners (stable addresses)
  std::optional<Listener> transparent_;  // the transparent path's redirect listener
  std::unique_ptr<DnsServer> dns_;       // the transparent path's DNS socket
  std::optional<Listener> dns_streams_;  // and its DNS listener (TCP)
  std::size_t live_sessions_ = 0;
  bool verify_names_ = false;
};

}  // namespace fence::proxy_worker
