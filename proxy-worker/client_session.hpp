// One client connection to a proxy listener, from accept to its end:
//   read the request (one header_timeout deadline, size-capped by the parser) -> ask the
//   supervisor (ConnectRequest) -> answer the client (200 / SOCKS success, or 403 / 502 / SOCKS
//   failure) -> relay (relay.hpp) -> TunnelClosed.
// An absolute-form (http://) request is forwarded instead of relayed (http_forwarder.hpp);
// when the forward ends with the connection kept alive, the session reads the client's next
// request, which gets its own ConnectRequest.
//
// Trust: everything read from the client socket is hostile: the sandboxed program writes it.
// Until the decision the session keeps what it read, at most max_header_bytes plus one read,
// and hands it to the parsers (HttpRequestParser, Socks5Parser: size caps, strict grammar).
// SECURITY: the only thing this object can do with a parsed target is ask; the upstream socket,
// if any, comes from the supervisor's answer.
#pragma once

#include <array>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "ipc/protocol.hpp"
#include "platform/unique_fd.hpp"
#include "proxy-worker/http_forwarder.hpp"
#include "proxy-worker/http_request.hpp"
#include "proxy-worker/relay.hpp"
#include "proxy-worker/socks5.hpp"

namespace fence::proxy_worker {

class ProxyServer;
class SupervisorClient;

// Local: a connection accepted on a transparent listener (allowLocalOutboundPorts); no
// protocol of its own, the target is the listener's port on the host's loopback.
// DnsStream: a TCP connection to the transparent path's DNS (DnsStream, not a ClientSession).
enum class ClientKind { Http, Socks5, Local, Transparent, DnsStream };

// Body of the 403 for a denied target: fence's wording, which users and scripts match on.
inline constexpr std::string_view kBlockedBody = "Connection blocked by network allowlist";
inline constexpr std::string_view kConnectEstablished =
    "HTTP/1.1 200 Connection Established\r\n\r\n";

// SOCKS5 reply code for a supervisor's denial.
std::uint8_t socks_reply_for(ipc::DenyReason reason);

class ClientSession : public std::enable_shared_from_this<ClientSession> {
 public:
  // The server counts live sessions: the constructor and destructor report to it.
  // `local_port`: Local, the host port; Transparent, the original destination's port, with
  // `target_host` its address.
  ClientSession(ProxyServer& server, platform::UniqueFd client, ClientKind kind,
                std::uint16_t local_port = 0, std::string target_host = {});
  ~ClientSession();
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  void start();

  // The supervisor's answer to this session's ConnectRequest (`id` is the request's).
  void allowed(std::uint64_t id, platform::UniqueFd upstream);
  void denied(const ipc::ConnectDenied& answer);

 private:
  enum class State { Reading, Asking, Answering, Forwarding, Relaying, Closing, Closed };

  void start_request();
  void read_more();
  void on_read(std::size_t n);
  void http_progress(std::string_view fresh);
  void socks_progress(std::string_view fresh);
  void claim_progress();
  void on_deadline();
  void ask(const std::string& host, std::uint16_t port, ipc::ProxyProtocol protocol,
           std::string claimed_host = {});
  std::string client_leftover() const;
  void start_tunnel(std::uint64_t id, platform::UniqueFd upstream);
  void start_forward(std::uint64_t id, platform::UniqueFd upstream);
  void forward_ended(std::uint64_t id, ForwardResult result);
  // Writes `reply`, half-closes, drains the client briefly (so the reply is not lost to an
  // RST), then closes.
  void reply_and_close(std::string reply);
  void drain_then_close();
  void drain();
  void close();

  ProxyServer& server_;
  SupervisorClient& supervisor_;
  boost::asio::posix::stream_descriptor client_;
  boost::asio::steady_timer deadline_;
  ClientKind kind_;
  std::uint16_t local_port_ = 0;  // ClientKind::Local and Transparent
  std::string target_host_;       // ClientKind::Transparent
  // ClientKind::Transparent with network.verifyTls, to a synthetic address: the first bytes are
  // read (into received_, up to claim_bytes_) for the name they claim before asking.
  bool read_claim_ = false;
  std::size_t claim_bytes_ = 0;
  // Plain HTTP under network.verifyTls: each request is parsed, asked about and forwarded on
  // its own (as the HTTP proxy forwards absolute-form requests).
  bool forward_http_ = false;
  State state_ = State::Reading;
  std::unique_ptr<HttpRequestParser> http_;
  std::unique_ptr<Socks5Parser> socks_;
  bool greeting_answered_ = false;
  std::string received_;  // every byte read from the client before the decision
  std::string write_buf_;
  std::array<char, 512> drain_buf_{};
  ipc::ProxyProtocol protocol_ = ipc::ProxyProtocol::HttpConnect;
  bool got_request_bytes_ = false;  // any byte of the current request read yet
  // Requests forwarded on this connection; a deadline armed for an earlier one sees another
  // count and does nothing.
  std::uint64_t requests_served_ = 0;
};

}  // namespace fence::proxy_worker
