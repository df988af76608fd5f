#include "proxy-worker/client_session.hpp"

#include <sys/socket.h>

#include <boost/asio/write.hpp>
#include <chrono>

#include "proxy-worker/proxy_server.hpp"

namespace fence::proxy_worker {

namespace {

namespace asio = boost::asio;
using platform::UniqueFd;

// One read from a client before the decision. The parsers cap what they keep; this caps a read.
constexpr std::size_t kReadChunk = 4096;
// How long an error reply waits for the client to close before the socket is closed anyway.
constexpr std::chrono::seconds kLinger{2};

}  // namespace

std::uint8_t socks_reply_for(ipc::DenyReason reason) {
  switch (reason) {
    case ipc::DenyReason::Policy:
    case ipc::DenyReason::NonPublicAddress:  // refused by policy, not by the network
      return kSocksNotAllowed;
    case ipc::DenyReason::ResolveFailed:
      return kSocksHostUnreachable;
    case ipc::DenyReason::ConnectFailed:
      return kSocksConnectionRefused;
    case ipc::DenyReason::Timeout:
      return kSocksTtlExpired;
    case ipc::DenyReason::Overloaded:
      return kSocksGeneralFailure;
  }
  return kSocksGeneralFailure;
}

ClientSession::ClientSession(ProxyServer& server, UniqueFd client, ClientKind kind,
                             std::uint16_t local_port)
    : server_(server),
      client_(server.io(), client.release()),
      deadline_(server.io()),
      kind_(kind),
      local_port_(local_port) {
  server_.session_opened();
  if (kind_ == ClientKind::Http) {
    http_ = std::make_unique<HttpRequestParser>(server_.limits().max_header_bytes);
  } else if (kind_ == ClientKind::Socks5) {
    socks_ = std::make_unique<Socks5Parser>();
  }
}

ClientSession::~ClientSession() {
  server_.session_closed();
}

void ClientSession::start() {
  // A transparent connection has nothing to parse: its target is the listener's port.
  if (kind_ == ClientKind::Local)
    return ask("127.0.0.1", local_port_, ipc::ProxyProtocol::LocalForward);
  start_request();
}

// Reading the next request: the first on the connection, or the next one after a keep-alive
// response (received_ then holds the bytes the client pipelined, possibly a whole request).
void ClientSession::start_request() {
  state_ = State::Reading;
  got_request_bytes_ = !received_.empty();
  if (kind_ == ClientKind::Http) {
    http_ = std::make_unique<HttpRequestParser>(server_.limits().max_header_bytes);
  }
  // SECURITY: one deadline for the whole request (slowloris): it is not reset by progress.
  deadline_.expires_after(std::chrono::milliseconds(server_.limits().header_timeout_ms));
  deadline_.async_wait(
      [self = shared_from_this(), gen = requests_served_](const boost::system::error_code& ec) {
        if (!ec && gen == self->requests_served_) self->on_deadline();
      });
  if (received_.empty()) return read_more();
  // A fresh parser over the bytes already buffered: the same path as freshly read bytes.
  const std::string_view buffered(received_);
  http_progress(buffered);
}

void ClientSession::read_more() {
  const std::size_t old = received_.size();
  received_.resize(old + kReadChunk);
  client_.async_read_some(
      asio::buffer(received_.data() + old, kReadChunk),
      [self = shared_from_this(), old](const boost::system::error_code& ec, std::size_t n) {
        // After a state change this read was cancelled: received_ may belong to others now.
        if (self->state_ != State::Reading) return;
        self->received_.resize(old + (ec ? 0 : n));
        if (ec) return self->close();  // EOF or error before a complete request
        self->on_read(n);
      });
}

void ClientSession::on_read(std::size_t n) {
  got_request_bytes_ = true;
  const std::string_view fresh(received_.data() + received_.size() - n, n);
  if (kind_ == ClientKind::Http) {
    http_progress(fresh);
  } else {
    socks_progress(fresh);
  }
}

void ClientSession::http_progress(std::string_view fresh) {
  switch (http_->feed(fresh)) {
    case ParseStatus::NeedMore:
      return read_more();
    case ParseStatus::Bad:
      return reply_and_close(http_response(
          http_->error_status(), http_reason(http_->error_status()), http_->error_text()));
    case ParseStatus::Done: {
      const auto& target = http_->target();
      return ask(
          target.host, target.port,
          target.is_connect ? ipc::ProxyProtocol::HttpConnect : ipc::ProxyProtocol::HttpForward);
    }
  }
}

void ClientSession::socks_progress(std::string_view fresh) {
  const ParseStatus status = socks_->feed(fresh);
  // The greeting reply goes out as soon as the greeting is complete, before anything else.
  if (socks_->greeting_complete() && !greeting_answered_) {
    greeting_answered_ = true;
    write_buf_ = socks_->greeting_reply();
    // No acceptable method offered: {5, 0xFF} is the last thing the client hears.
    if (static_cast<std::uint8_t>(write_buf_.at(1)) == kSocksMethodNone) {
      return reply_and_close(std::move(write_buf_));
    }
    asio::async_write(
        client_, asio::buffer(write_buf_),
        [self = shared_from_this(), status](const boost::system::error_code& ec, std::size_t) {
          if (self->state_ != State::Reading) return;
          if (ec) return self->close();
          self->socks_progress({});
        });
    return;
  }
  switch (status) {
    case ParseStatus::NeedMore:
      // The parser keeps at most one message; this bounds what a client can make us hold.
      if (received_.size() > server_.limits().max_header_bytes) return close();
      return read_more();
    case ParseStatus::Bad:
      if (!greeting_answered_) return close();  // not even a SOCKS5 greeting
      return reply_and_close(socks5_reply(socks_->error_reply_code()));
    case ParseStatus::Done:
      return ask(socks_->host(), socks_->port(), ipc::ProxyProtocol::Socks5);
  }
}

void ClientSession::ask(const std::string& host, std::uint16_t port, ipc::ProxyProtocol protocol) {
  state_ = State::Asking;
  deadline_.cancel();  // the supervisor bounds its own resolve/connect time
  protocol_ = protocol;
  id_ = server_.supervisor().ask_connect(shared_from_this(), host, port, protocol);
}

void ClientSession::on_deadline() {
  if (state_ != State::Reading) return;
  state_ = State::Closing;
  boost::system::error_code ignored;
  client_.cancel(ignored);  // the pending read must not run into the reply's drain
  // An idle keep-alive connection with no new request: just close it.
  if (requests_served_ > 0 && !got_request_bytes_) return close();
  if (kind_ == ClientKind::Http) {
    return reply_and_close(
        http_response(408, http_reason(408), "request head not received in time"));
  }
  close();
}

std::string ClientSession::client_leftover() const {
  if (kind_ == ClientKind::Local) return {};
  const std::size_t used = kind_ == ClientKind::Http ? http_->head_bytes() : socks_->consumed();
  return used < received_.size() ? received_.substr(used) : std::string();
}

void ClientSession::denied(const ipc::ConnectDenied& answer) {
  if (state_ != State::Asking) return;
  state_ = State::Answering;
  if (kind_ == ClientKind::Local) return close();  // the program sees the connection reset
  if (kind_ == ClientKind::Socks5)
    return reply_and_close(socks5_reply(socks_reply_for(answer.reason)));
  if (answer.reason == ipc::DenyReason::Policy) {
    return reply_and_close(http_response(403, http_reason(403), kBlockedBody));
  }
  const std::string body = answer.text.empty() ? "upstream connection failed" : answer.text;
  reply_and_close(http_response(502, http_reason(502), body));
}

void ClientSession::allowed(std::uint64_t id, UniqueFd upstream) {
  if (state_ != State::Asking) {
    // The client is gone; the supervisor still gets its TunnelClosed for this id.
    server_.supervisor().send_tunnel_closed(ipc::TunnelClosed{id, 0, 0, 0});
    return;
  }
  state_ = State::Answering;
  if (protocol_ == ipc::ProxyProtocol::HttpForward) return start_forward(id, std::move(upstream));
  RelayOptions options;
  options.idle_timeout = std::chrono::milliseconds(server_.limits().idle_timeout_ms);
  options.early_up = client_leftover();
  received_.clear();
  received_.shrink_to_fit();
  if (protocol_ == ipc::ProxyProtocol::HttpConnect) {
    write_buf_ = std::string(kConnectEstablished);
  } else if (protocol_ == ipc::ProxyProtocol::Socks5) {
    write_buf_ = socks5_reply(kSocksSucceeded);
  }  // LocalForward: no reply of its own, the tunnel starts at once
  // The parsers are done; a long-lived tunnel should not keep their buffers.
  http_.reset();
  socks_.reset();
  auto start = [self = shared_from_this(), id, options = std::move(options),
                upstream = std::make_shared<UniqueFd>(std::move(upstream))](
                   const boost::system::error_code& ec, std::size_t) mutable {
    if (ec) {
      self->close();
      self->server_.supervisor().send_tunnel_closed(ipc::TunnelClosed{id, 0, 0, 0});
      return;
    }
    self->state_ = State::Relaying;
    UniqueFd client(self->client_.release());
    start_relay(self->server_.io(), std::move(client), std::move(*upstream), std::move(options),
                [self, id](const RelayStats& stats) {
                  self->state_ = State::Closed;
                  self->server_.supervisor().send_tunnel_closed(
                      ipc::TunnelClosed{id, stats.bytes_up, stats.bytes_down, stats.duration_ms});
                });
  };
  // The success reply (CONNECT 200 / SOCKS5 0x00) goes out before any tunnel byte.
  asio::async_write(client_, asio::buffer(write_buf_), std::move(start));
}

// --- absolute-form forwarding ----------------------------------------------------------------

void ClientSession::start_forward(std::uint64_t id, UniqueFd upstream) {
  state_ = State::Forwarding;
  ++fwd_gen_;
  const auto& target = http_->target();
  fwd_ = std::make_unique<Forward>(server_.io());
  Forward& f = *fwd_;
  f.upstream.assign(upstream.release());
  f.id = id;
  f.started = std::chrono::steady_clock::now();
  const std::string_view raw_head(received_.data(),
                                  std::min(http_->head_bytes(), received_.size()));
  f.keep_alive = client_wants_keep_alive(raw_head);
  f.request_was_head = target.upstream_head.rfind("HEAD ", 0) == 0;
  f.up_out = target.upstream_head;
  f.body =
      target.chunked ? BodyFramer::chunked() : BodyFramer::content_length(target.content_length);
  // Bytes the client sent after the head: body first, then (pipelined) the next request.
  const std::string early = client_leftover();
  const std::size_t n = f.body.accept(early);
  if (f.body.bad()) {
    http_.reset();
    return abort_forward();
  }
  f.up_out.append(early, 0, n);
  f.pipelined = early.substr(n);
  received_.clear();
  received_.shrink_to_fit();
  http_.reset();
  touch();
  arm_idle();
  forward_up();
  forward_down();
}

void ClientSession::arm_idle() {
  const auto idle = std::chrono::milliseconds(server_.limits().idle_timeout_ms);
  deadline_.expires_at(last_activity_ + idle);
  deadline_.async_wait(
      [self = shared_from_this(), gen = fwd_gen_, idle](const boost::system::error_code& ec) {
        if (ec || gen != self->fwd_gen_ || self->state_ != State::Forwarding) return;
        if (std::chrono::steady_clock::now() - self->last_activity_ >= idle) {
          return self->abort_forward();
        }
        self->arm_idle();
      });
}

void ClientSession::forward_up() {
  Forward& f = *fwd_;
  if (f.up_writing || f.up_reading_client) return;
  if (!f.up_out.empty()) {
    f.up_writing = true;
    asio::async_write(f.upstream, asio::buffer(f.up_out),
                      [self = shared_from_this(), gen = fwd_gen_](
                          const boost::system::error_code& ec, std::size_t n) {
                        if (gen != self->fwd_gen_ || self->state_ != State::Forwarding) return;
                        Forward& f = *self->fwd_;
                        f.up_writing = false;
                        if (ec) return self->abort_forward();
                        f.bytes_up += n;
                        f.up_out.clear();
                        self->touch();
                        self->forward_up();
                      });
    return;
  }
  if (f.body.done()) {
    f.up_done = true;
    return maybe_finish_forward();
  }
  // SECURITY: the client is read only while the request body is incomplete; what follows the
  // body stays in `pipelined` (at most one read) until this response is over.
  f.up_reading_client = true;
  client_.async_read_some(
      asio::buffer(f.up_buf), [self = shared_from_this(), gen = fwd_gen_](
                                  const boost::system::error_code& ec, std::size_t n) {
        if (gen != self->fwd_gen_ || self->state_ != State::Forwarding) return;
        Forward& f = *self->fwd_;
        f.up_reading_client = false;
        if (ec) return self->abort_forward();  // the client left in the middle of its body
        self->touch();
        const std::string_view bytes(f.up_buf.data(), n);
        const std::size_t used = f.body.accept(bytes);
        if (f.body.bad()) return self->abort_forward();
        f.up_out.append(bytes.substr(0, used));
        if (f.body.done()) f.pipelined.append(bytes.substr(used));
        self->forward_up();
      });
}

void ClientSession::forward_down() {
  Forward& f = *fwd_;
  f.upstream.async_read_some(asio::buffer(f.down_buf),
                             [self = shared_from_this(), gen = fwd_gen_](
                                 const boost::system::error_code& ec, std::size_t n) {
                               if (gen != self->fwd_gen_ || self->state_ != State::Forwarding)
                                 return;
                               Forward& f = *self->fwd_;
                               if (ec == asio::error::eof) return self->on_upstream_eof();
                               if (ec) return self->abort_forward();
                               self->touch();
                               self->on_upstream_bytes(std::string_view(f.down_buf.data(), n));
                             });
}

void ClientSession::on_upstream_bytes(std::string_view bytes) {
  Forward& f = *fwd_;
  while (!bytes.empty() && !f.response_done) {
    if (!f.head_sent) {
      if (!f.response) {
        f.response = std::make_unique<HttpResponseParser>(server_.limits().max_header_bytes,
                                                          f.request_was_head);
        f.response_fed = 0;
      }
      const ParseStatus status = f.response->feed(bytes);
      if (status == ParseStatus::NeedMore) {
        f.response_fed += bytes.size();
        break;
      }
      if (status == ParseStatus::Bad) return bad_response(f.response->error_text());
      bytes.remove_prefix(f.response->head_bytes() - f.response_fed);
      if (f.response->interim()) {  // 100 Continue and friends: relayed, a final one follows
        f.down_out += f.response->client_head({});
        f.response.reset();
        continue;
      }
      f.framing = f.response->framing();
      // SECURITY: the client connection stays open only at a known request boundary.
      f.close_after = !f.keep_alive || f.framing == ResponseFraming::Close || !f.body.done();
      f.down_out += f.response->client_head(f.close_after ? "close" : "keep-alive");
      f.head_sent = true;
      if (f.framing == ResponseFraming::ContentLength) {
        f.response_body = BodyFramer::content_length(f.response->content_length());
      } else if (f.framing == ResponseFraming::Chunked) {
        f.response_body = BodyFramer::chunked();
      }
      if (f.framing == ResponseFraming::None || (f.response_body && f.response_body->done())) {
        f.response_done = true;
      }
      continue;
    }
    if (f.framing == ResponseFraming::Close) {
      f.down_out.append(bytes);
      break;
    }
    const std::size_t used = f.response_body->accept(bytes);
    if (f.response_body->bad()) return abort_forward();
    f.down_out.append(bytes.substr(0, used));
    if (f.response_body->done()) f.response_done = true;
    break;  // bytes after a complete response are dropped: the origin closes anyway
  }
  flush_down();
}

void ClientSession::on_upstream_eof() {
  Forward& f = *fwd_;
  f.upstream_eof = true;
  if (!f.head_sent) return bad_response("upstream closed the connection without a response");
  if (f.framing != ResponseFraming::Close) return abort_forward();  // truncated response
  f.response_done = true;
  flush_down();
}

void ClientSession::flush_down() {
  Forward& f = *fwd_;
  if (f.down_writing) return;
  if (f.down_out.empty()) {
    if (f.response_done) return maybe_finish_forward();
    return forward_down();
  }
  f.down_writing = true;
  asio::async_write(client_, asio::buffer(f.down_out),
                    [self = shared_from_this(), gen = fwd_gen_](const boost::system::error_code& ec,
                                                                std::size_t n) {
                      if (gen != self->fwd_gen_ || self->state_ != State::Forwarding) return;
                      Forward& f = *self->fwd_;
                      f.down_writing = false;
                      if (ec) return self->abort_forward();
                      f.bytes_down += n;
                      f.down_out.clear();
                      self->touch();
                      self->flush_down();
                    });
}

void ClientSession::maybe_finish_forward() {
  Forward& f = *fwd_;
  if (!f.response_done || f.down_writing || !f.down_out.empty()) return;
  if (f.close_after) return end_forward(false);
  if (!f.up_done) return;  // the last body bytes are still on their way upstream
  end_forward(true);
}

void ClientSession::report_forward() {
  Forward& f = *fwd_;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - f.started)
                      .count();
  server_.supervisor().send_tunnel_closed(
      ipc::TunnelClosed{f.id, f.bytes_up, f.bytes_down, static_cast<std::uint32_t>(ms)});
  ++fwd_gen_;  // every pending handler of this forward is now stale
  boost::system::error_code ignored;
  f.upstream.close(ignored);
}

void ClientSession::abort_forward() {
  report_forward();
  close();
}

void ClientSession::bad_response(const std::string& why) {
  report_forward();
  boost::system::error_code ignored;
  client_.cancel(ignored);
  reply_and_close(http_response(502, http_reason(502), "bad response from upstream: " + why));
}

void ClientSession::end_forward(bool keep_client) {
  report_forward();
  if (!keep_client) {
    state_ = State::Closing;
    boost::system::error_code ignored;
    client_.cancel(ignored);  // a read of request body bytes may still be pending
    return drain_then_close();
  }
  // No operation of this forward is pending (request written, response relayed).
  received_ = std::move(fwd_->pipelined);
  fwd_.reset();
  ++requests_served_;
  start_request();
}

void ClientSession::reply_and_close(std::string reply) {
  state_ = State::Closing;
  deadline_.cancel();
  write_buf_ = std::move(reply);
  asio::async_write(client_, asio::buffer(write_buf_),
                    [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                      if (ec) return self->close();
                      self->drain_then_close();
                    });
}

void ClientSession::drain_then_close() {
  ::shutdown(client_.native_handle(), SHUT_WR);
  deadline_.expires_after(kLinger);
  deadline_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) self->close();
  });
  received_.clear();
  received_.shrink_to_fit();
  drain();
}

void ClientSession::drain() {
  client_.async_read_some(
      asio::buffer(drain_buf_),
      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
        if (self->state_ != State::Closing) return;
        if (ec) return self->close();  // the client closed: done
        self->drain();
      });
}

void ClientSession::close() {
  if (state_ == State::Closed) return;
  state_ = State::Closed;
  deadline_.cancel();
  boost::system::error_code ignored;
  client_.close(ignored);
}

}  // namespace fence::proxy_worker
