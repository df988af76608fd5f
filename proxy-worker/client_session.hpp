// One client connection to the HTTP or SOCKS5 listener, from accept to the end of its tunnel:
//   read the request (header_timeout deadline, size-capped by the parser) -> ask the supervisor
//   (ConnectRequest) -> answer the client (200 / SOCKS success, or 403 / 502 / SOCKS failure)
//   -> relay (relay.hpp) -> TunnelClosed.
// SECURITY: the only thing this object can do with a parsed target is ask; the upstream socket,
// if any, comes from the supervisor's answer.
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "ipc/protocol.hpp"
#include "platform/unique_fd.hpp"
#include "proxy-worker/http_request.hpp"
#include "proxy-worker/relay.hpp"
#include "proxy-worker/socks5.hpp"

namespace fence::proxy {

class ProxyServer;

enum class ClientKind { Http, Socks5 };

// Body of the 403 for a denied target: fence's wording, which users and scripts match on.
inline constexpr std::string_view kBlockedBody = "Connection blocked by network allowlist";
inline constexpr std::string_view kConnectEstablished =
    "HTTP/1.1 200 Connection Established\r\n\r\n";

// SOCKS5 reply code for a supervisor's denial.
std::uint8_t socks_reply_for(ipc::DenyReason reason);

class ClientSession : public std::enable_shared_from_this<ClientSession> {
 public:
  // The server counts live sessions: the constructor and destructor report to it.
  ClientSession(ProxyServer& server, platform::UniqueFd client, ClientKind kind);
  ~ClientSession();
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  void start();

  // The supervisor's answer to this session's ConnectRequest (`id` is the request's).
  void allowed(std::uint64_t id, platform::UniqueFd upstream);
  void denied(const ipc::ConnectDenied& answer);

 private:
  enum class State { Reading, Asking, Answering, Relaying, Closing, Closed };

  void read_more();
  void on_read(std::size_t n);
  void http_progress(std::string_view fresh);
  void socks_progress(std::string_view fresh);
  void ask(const std::string& host, std::uint16_t port, ipc::ProxyProtocol protocol);
  void on_deadline();
  // Writes `reply`, half-closes, drains the client briefly (so the reply is not lost to an
  // RST), then closes.
  void reply_and_close(std::string reply);
  void drain_then_close();
  void drain();
  void close();
  std::string client_leftover() const;

  ProxyServer& server_;
  boost::asio::posix::stream_descriptor client_;
  boost::asio::steady_timer deadline_;
  ClientKind kind_;
  State state_ = State::Reading;
  std::unique_ptr<HttpRequestParser> http_;
  std::unique_ptr<Socks5Parser> socks_;
  bool greeting_answered_ = false;
  std::string received_;  // every byte read from the client before the decision
  std::string write_buf_;
  std::array<char, 512> drain_buf_{};
  std::uint64_t id_ = 0;
  ipc::ProxyProtocol protocol_ = ipc::ProxyProtocol::HttpConnect;
};

}  // namespace fence::proxy
