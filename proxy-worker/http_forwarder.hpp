// One absolute-form (http://) request, forwarded. The rewritten head and exactly the body
// BodyFramer frames go to the upstream socket the supervisor connected for this request; the
// response head is read (HttpResponseParser) and rewritten for the client, and exactly its body
// is relayed back. Then the forwarder ends and says how the client connection goes on: closed,
// or kept alive for the client's next request, which is parsed and asked about on its own.
//
// Trust: both sides are hostile. The client's bytes (the request body, anything pipelined
// behind it) come from the sandboxed program, through the client socket; the response bytes
// come from an origin the policy allowed, which is no more trusted than the program that
// chose it. Both are framed by the pure parsers, with caps, and nothing is relayed whose end
// the worker cannot tell.
// SECURITY: one request per upstream connection. Client bytes after the request body (a
// pipelined request, possibly for another host) are never written upstream: they wait here (at
// most one read) and go back to the session when the response is over.
//
// Lifetime: one HttpForwarder per forwarded request. Every pending operation holds it, and it
// holds the session (through on_end) until it ends. A completion that arrives after the end
// finds it ended and touches nothing; a later request has a forwarder of its own.
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "platform/unique_fd.hpp"
#include "proxy-worker/body_framer.hpp"
#include "proxy-worker/http_request.hpp"
#include "proxy-worker/http_response.hpp"

namespace fence::proxy_worker {

// From ProxyStart: idle_timeout_ms and max_header_bytes.
struct ForwardOptions {
  std::chrono::milliseconds idle_timeout{};  // no byte either way for this long: Failed
  std::size_t max_header_bytes = 0;          // of the response head
};

// How a forward ended: what becomes of the client connection.
enum class ForwardEnd {
  Failed,       // an error on either side, or idle: the client connection is closed
  BadResponse,  // no readable response head, nothing sent to the client yet: 502, then close
  Close,        // the response is complete and the client connection ends with it
  KeepAlive,    // the response is complete; the client's next request follows
};

struct ForwardResult {
  ForwardEnd end = ForwardEnd::Failed;
  std::uint64_t bytes_up = 0;    // written upstream (head and body)
  std::uint64_t bytes_down = 0;  // written to the client
  std::uint32_t duration_ms = 0;
  std::string why;        // BadResponse: what was wrong with the response
  std::string pipelined;  // KeepAlive: what the client sent after the request (the next one)
};

class HttpForwarder : public std::enable_shared_from_this<HttpForwarder> {
 public:
  // `client` is the session's socket, used until on_end. `request` and `raw_head` are the
  // request as HttpRequestParser accepted it, `early` the client bytes read after its head.
  // `on_end` is called exactly once, from the event loop, after the upstream socket is closed.
  HttpForwarder(boost::asio::io_context& io, boost::asio::posix::stream_descriptor& client,
                platform::UniqueFd upstream, const HttpTarget& request, std::string_view raw_head,
                std::string early, ForwardOptions options,
                std::function<void(ForwardResult)> on_end);
  HttpForwarder(const HttpForwarder&) = delete;
  HttpForwarder& operator=(const HttpForwarder&) = delete;

  void start();

 private:
  void forward_up();    // request head + body -> upstream
  void forward_down();  // upstream -> response -> client
  void on_upstream_bytes(std::string_view bytes);
  ParseStatus read_response_head(std::string_view& bytes);
  void on_upstream_eof();
  void flush_down();
  void maybe_finish();
  void finish(ForwardEnd end, std::string why = {});
  void arm_idle();
  void touch() { last_activity_ = std::chrono::steady_clock::now(); }

  boost::asio::posix::stream_descriptor& client_;
  boost::asio::posix::stream_descriptor upstream_;
  boost::asio::steady_timer idle_timer_;
  ForwardOptions options_;
  std::function<void(ForwardResult)> on_end_;
  bool ended_ = false;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point last_activity_;

  // The request.
  bool keep_alive_ = false;  // the client asked for it
  bool request_was_head_ = false;
  BodyFramer body_ = BodyFramer::content_length(0);
  std::string early_;   // client bytes read after the head, until start()
  std::string up_out_;  // bytes waiting for upstream
  bool up_writing_ = false;
  bool up_reading_client_ = false;
  bool up_done_ = false;   // head and whole body written upstream
  std::string pipelined_;  // client bytes after the request body: the next request

  // The response.
  std::unique_ptr<HttpResponseParser> response_;
  std::size_t response_fed_ = 0;             // bytes fed to response_ before the current feed
  std::optional<BodyFramer> response_body_;  // framed body being relayed
  ResponseFraming framing_ = ResponseFraming::None;
  bool head_sent_ = false;    // a final response head went to the client
  bool close_after_ = false;  // the client connection ends after this response
  bool response_done_ = false;
  std::string down_out_;  // bytes waiting for the client
  bool down_writing_ = false;

  std::array<char, 16384> up_buf_{};
  std::array<char, 16384> down_buf_{};
  std::uint64_t bytes_up_ = 0, bytes_down_ = 0;
};

}  // namespace fence::proxy_worker
