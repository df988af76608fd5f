// One client connection to the HTTP or SOCKS5 listener, from accept to the end of its tunnel:
//   read the request (header_timeout deadline, size-capped by the parser) -> ask the supervisor
//   (ConnectRequest) -> answer the client (200 / SOCKS success, or 403 / 502 / SOCKS failure)
//   -> relay (relay.hpp) -> TunnelClosed.
// Absolute-form (http://) requests are not relayed blindly: the session forwards exactly one
// request (the rewritten head, then the body as BodyFramer frames it) on its own upstream
// socket, reads the response head (HttpResponseParser) and relays exactly its body, then —
// when the response framing allows and the client wants it — goes back to reading the next
// request on the same client connection, which gets its own ConnectRequest. Pipelined bytes
// wait in the session (at most one read) and are parsed only after the response is complete.
// SECURITY: the only thing this object can do with a parsed target is ask; the upstream socket,
// if any, comes from the supervisor's answer.
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "ipc/protocol.hpp"
#include "platform/unique_fd.hpp"
#include "proxy-worker/body_framer.hpp"
#include "proxy-worker/http_request.hpp"
#include "proxy-worker/http_response.hpp"
#include "proxy-worker/relay.hpp"
#include "proxy-worker/socks5.hpp"

namespace fence::proxy_worker {

class ProxyServer;

// Local: a connection accepted on a transparent listener (allowLocalOutboundPorts); no
// protocol of its own, the target is the listener's port on the host's loopback.
enum class ClientKind { Http, Socks5, Local };

// Body of the 403 for a denied target: fence's wording, which users and scripts match on.
inline constexpr std::string_view kBlockedBody = "Connection blocked by network allowlist";
inline constexpr std::string_view kConnectEstablished =
    "HTTP/1.1 200 Connection Established\r\n\r\n";

// SOCKS5 reply code for a supervisor's denial.
std::uint8_t socks_reply_for(ipc::DenyReason reason);

class ClientSession : public std::enable_shared_from_this<ClientSession> {
 public:
  // The server counts live sessions: the constructor and destructor report to it.
  ClientSession(ProxyServer& server, platform::UniqueFd client, ClientKind kind,
                std::uint16_t local_port = 0);
  ~ClientSession();
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  void start();

  // The supervisor's answer to this session's ConnectRequest (`id` is the request's).
  void allowed(std::uint64_t id, platform::UniqueFd upstream);
  void denied(const ipc::ConnectDenied& answer);

 private:
  enum class State { Reading, Asking, Answering, Forwarding, Relaying, Closing, Closed };

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
  void start_request();

  // --- absolute-form forwarding (State::Forwarding) ---
  void start_forward(std::uint64_t id, platform::UniqueFd upstream);
  void forward_up();    // request head + body -> upstream
  void forward_down();  // upstream -> response -> client
  void on_upstream_bytes(std::string_view bytes);
  void on_upstream_eof();
  void flush_down();
  void maybe_finish_forward();
  void abort_forward();  // error: close both, report
  void bad_response(const std::string& why);
  void end_forward(bool keep_client);
  void report_forward();
  void arm_idle();
  void touch() { last_activity_ = std::chrono::steady_clock::now(); }

  ProxyServer& server_;
  boost::asio::posix::stream_descriptor client_;
  boost::asio::steady_timer deadline_;
  ClientKind kind_;
  std::uint16_t local_port_ = 0;  // ClientKind::Local
  State state_ = State::Reading;
  std::unique_ptr<HttpRequestParser> http_;
  std::unique_ptr<Socks5Parser> socks_;
  bool greeting_answered_ = false;
  std::string received_;  // every byte read from the client before the decision
  std::string write_buf_;
  std::array<char, 512> drain_buf_{};
  std::uint64_t id_ = 0;
  ipc::ProxyProtocol protocol_ = ipc::ProxyProtocol::HttpConnect;
  bool got_request_bytes_ = false;  // any byte of the current request read yet
  std::uint64_t requests_served_ = 0;

  struct Forward {
    explicit Forward(boost::asio::io_context& io) : upstream(io) {}
    boost::asio::posix::stream_descriptor upstream;
    std::uint64_t id = 0;
    bool keep_alive = false;  // the client asked for it
    bool request_was_head = false;
    std::string up_out;  // bytes waiting for upstream
    bool up_writing = false;
    bool up_reading_client = false;
    bool up_done = false;  // head and whole body written upstream
    BodyFramer body = BodyFramer::content_length(0);
    std::string pipelined;  // client bytes after the request body: the next request
    std::unique_ptr<HttpResponseParser> response;
    std::size_t response_fed = 0;             // bytes fed to `response` before the current feed
    std::optional<BodyFramer> response_body;  // framed body being relayed
    ResponseFraming framing = ResponseFraming::None;
    bool head_sent = false;    // a final response head went to the client
    bool close_after = false;  // the client connection ends after this response
    bool response_done = false;
    bool upstream_eof = false;
    std::string down_out;  // bytes waiting for the client
    bool down_writing = false;
    std::array<char, 16384> up_buf{};
    std::array<char, 16384> down_buf{};
    std::uint64_t bytes_up = 0, bytes_down = 0;
    std::chrono::steady_clock::time_point started;
  };
  std::unique_ptr<Forward> fwd_;
  std::uint64_t fwd_gen_ = 0;  // handlers of an earlier forward see a different generation
  std::chrono::steady_clock::time_point last_activity_;
};

}  // namespace fence::proxy_worker
