#include "proxy-worker/client_session.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstring>

#include "platform/tcp_listener.hpp"
#include "proxy-worker/claimed_name.hpp"
#include "proxy-worker/proxy_server.hpp"
#include "proxy-worker/supervisor_client.hpp"

namespace fence::proxy_worker {
namespace {

// An address of the transparent path's synthetic range, IPv4 or IPv4-mapped IPv6.
bool is_synthetic(const std::string& host) {
  std::uint32_t v4 = 0;
  in_addr a{};
  in6_addr a6{};
  if (::inet_pton(AF_INET, host.c_str(), &a) == 1) {
    v4 = ntohl(a.s_addr);
  } else if (::inet_pton(AF_INET6, host.c_str(), &a6) == 1 && IN6_IS_ADDR_V4MAPPED(&a6)) {
    std::memcpy(&v4, a6.s6_addr + 12, 4);
    v4 = ntohl(v4);
  } else {
    return false;
  }
  return (v4 & ~(ipc::kSyntheticSize - 1)) == ipc::kSyntheticBase;
}

// network.verifyTls, plain HTTP: the request line with its origin-form target made
// absolute-form for `host` (the name the request's Host header claims) and the connection's
// port, so that HttpRequestParser reads it as a proxy request to that name. Empty when the
// line is not METHOD SP /target SP version.
std::string absolute_request_line(std::string_view line, const std::string& host,
                                  std::uint16_t port) {
  const std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 + 1 >= line.size() || line[sp1 + 1] != '/') return {};
  const std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return {};
  const bool v6 = host.find(':') != std::string::npos;
  return std::string(line.substr(0, sp1 + 1)) + "http://" + (v6 ? "[" + host + "]" : host) + ":" +
         std::to_string(port) + std::string(line.substr(sp1 + 1));
}

}  // namespace

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
                             std::uint16_t local_port, std::string target_host)
    : server_(server),
      supervisor_(server.supervisor()),
      client_(server.io(), client.release()),
      deadline_(server.io()),
      kind_(kind),
      local_port_(local_port),
      target_host_(std::move(target_host)) {
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

// --- reading the request ---------------------------------------------------------------------

void ClientSession::start() {
  // A transparent connection has nothing to parse: its target is the listener's port.
  if (kind_ == ClientKind::Local)
    return ask("127.0.0.1", local_port_, ipc::ProxyProtocol::LocalForward);
  if (kind_ == ClientKind::Transparent) {
    read_claim_ = server_.verify_names() && is_synthetic(target_host_);
    if (!read_claim_) return ask(target_host_, local_port_, ipc::ProxyProtocol::Transparent);
  }
  start_request();
}

// Reading the next request: the first on the connection, or the next one after a keep-alive
// response (received_ then holds the bytes the client pipelined, possibly a whole request).
void ClientSession::start_request() {
  state_ = State::Reading;
  got_request_bytes_ = !received_.empty();
  if (kind_ == ClientKind::Http || kind_ == ClientKind::Transparent) {
    http_ = std::make_unique<HttpRequestParser>(server_.limits().max_header_bytes);
  }
  // SECURITY: one deadline for the whole request (slowloris): it is not reset by progress.
  deadline_.expires_after(std::chrono::milliseconds(server_.limits().header_timeout_ms));
  deadline_.async_wait(
      [self = shared_from_this(), gen = requests_served_](const boost::system::error_code& ec) {
        if (!ec && gen == self->requests_served_) self->on_deadline();
      });
  if (received_.empty()) return read_more();
  if (kind_ == ClientKind::Transparent) {
    claim_bytes_ = received_.size();
    return claim_progress();
  }
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
  if (kind_ == ClientKind::Transparent) {
    claim_bytes_ = received_.size();
    return claim_progress();
  }
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
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
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

// network.verifyTls: the first bytes of a transparent connection, until they claim a name or
// cannot (claimed_name.hpp bounds them at kMaxClaimBytes). TLS, or no claim: asked once, then
// relayed as they are (an empty claim is refused by the supervisor). Plain HTTP: every request
// on the connection is read and asked about on its own, its Host the claim, and forwarded as
// the HTTP proxy forwards one (HttpForwarder), so that a second request on a kept-alive
// connection cannot name another host.
void ClientSession::claim_progress() {
  const Claim claim = find_claimed_name(
      std::span(reinterpret_cast<const std::uint8_t*>(received_.data()), claim_bytes_));
  if (claim.status == ClaimStatus::NeedMore) return read_more();
  const bool http = claim_bytes_ > 0 && static_cast<unsigned char>(received_[0]) != 0x16;
  if (!http || claim.status != ClaimStatus::Found) {
    if (forward_http_)  // a later request that is not a well-formed one
      return reply_and_close(http_response(400, http_reason(400), "bad request: " + claim.why));
    return ask(target_host_, local_port_, ipc::ProxyProtocol::Transparent,
               claim.status == ClaimStatus::Found ? claim.name : std::string());
  }
  forward_http_ = true;
  const std::size_t eol = received_.find("\r\n");
  const std::string line = absolute_request_line(
      std::string_view(received_).substr(0, eol == std::string::npos ? 0 : eol), claim.name,
      local_port_);
  if (line.empty())
    return reply_and_close(
        http_response(400, http_reason(400), "only origin-form requests reach a server directly"));
  received_.replace(0, eol, line);
  claim_bytes_ = received_.size();
  switch (http_->feed(received_)) {
    case ParseStatus::Done:
      break;
    case ParseStatus::NeedMore:  // a head the claim reader accepted but over the proxy's limit
      return reply_and_close(http_response(431, http_reason(431), "request head too large"));
    case ParseStatus::Bad:
      return reply_and_close(http_response(
          http_->error_status(), http_reason(http_->error_status()), http_->error_text()));
  }
  if (http_->target().is_connect)
    return reply_and_close(http_response(400, http_reason(400), "CONNECT to a server"));
  ask(target_host_, local_port_, ipc::ProxyProtocol::Transparent, claim.name);
}

void ClientSession::on_deadline() {
  if (state_ != State::Reading) return;
  if (kind_ == ClientKind::Transparent && !forward_http_) {
    // No claim in time (a protocol whose server speaks first): asked with none, refused.
    boost::system::error_code ignored;
    client_.cancel(ignored);
    return ask(target_host_, local_port_, ipc::ProxyProtocol::Transparent, std::string());
  }
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

// --- asking, and the answer -------------------------------------------------------------------

void ClientSession::ask(const std::string& host, std::uint16_t port, ipc::ProxyProtocol protocol,
                        std::string claimed_host) {
  state_ = State::Asking;
  deadline_.cancel();  // the supervisor bounds its own resolve/connect time
  protocol_ = protocol;
  supervisor_.ask_connect(shared_from_this(), host, port, protocol, std::move(claimed_host));
}

std::string ClientSession::client_leftover() const {
  if (kind_ == ClientKind::Local) return {};
  // The bytes read for the claim go upstream first (none unless network.verifyTls).
  if (kind_ == ClientKind::Transparent && !forward_http_) return received_.substr(0, claim_bytes_);
  const std::size_t used = kind_ != ClientKind::Socks5 ? http_->head_bytes() : socks_->consumed();
  return used < received_.size() ? received_.substr(used) : std::string();
}

void ClientSession::denied(const ipc::ConnectDenied& answer) {
  if (state_ != State::Asking) return;
  state_ = State::Answering;
  if (kind_ == ClientKind::Local) return close();  // the program sees the connection reset
  if (kind_ == ClientKind::Transparent && !forward_http_) {
    // A reset: the program's connect/read fails at once (no half-open wait).
    platform::reset_on_close(client_.native_handle());
    return close();
  }
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
    supervisor_.send_tunnel_closed(ipc::TunnelClosed{id, 0, 0, 0});
    return;
  }
  state_ = State::Answering;
  if (protocol_ == ipc::ProxyProtocol::HttpForward || forward_http_)
    return start_forward(id, std::move(upstream));
  start_tunnel(id, std::move(upstream));
}

// CONNECT, SOCKS5 and transparent connections: the client's bytes go upstream as they are.
void ClientSession::start_tunnel(std::uint64_t id, UniqueFd upstream) {
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
      self->supervisor_.send_tunnel_closed(ipc::TunnelClosed{id, 0, 0, 0});
      return;
    }
    self->state_ = State::Relaying;
    UniqueFd client(self->client_.release());
    start_relay(self->server_.io(), std::move(client), std::move(*upstream), std::move(options),
                [self, id](const RelayStats& stats) {
                  self->state_ = State::Closed;
                  self->supervisor_.send_tunnel_closed(
                      ipc::TunnelClosed{id, stats.bytes_up, stats.bytes_down, stats.duration_ms});
                });
  };
  // The success reply (CONNECT 200 / SOCKS5 0x00) goes out before any tunnel byte.
  asio::async_write(client_, asio::buffer(write_buf_), std::move(start));
}

// An absolute-form request: one request forwarded on the upstream socket, by its own object.
void ClientSession::start_forward(std::uint64_t id, UniqueFd upstream) {
  state_ = State::Forwarding;
  const ipc::ProxyStart& limits = server_.limits();
  const std::string_view raw_head(received_.data(),
                                  std::min(http_->head_bytes(), received_.size()));
  auto forwarder = std::make_shared<HttpForwarder>(
      server_.io(), client_, std::move(upstream), http_->target(), raw_head, client_leftover(),
      ForwardOptions{std::chrono::milliseconds(limits.idle_timeout_ms), limits.max_header_bytes},
      [self = shared_from_this(), id](ForwardResult result) {
        self->forward_ended(id, std::move(result));
      });
  received_.clear();
  received_.shrink_to_fit();
  http_.reset();
  forwarder->start();
}

// The forwarder is done with its request: report it, then go on as the forward's end says.
void ClientSession::forward_ended(std::uint64_t id, ForwardResult result) {
  supervisor_.send_tunnel_closed(
      ipc::TunnelClosed{id, result.bytes_up, result.bytes_down, result.duration_ms});
  boost::system::error_code ignored;
  switch (result.end) {
    case ForwardEnd::Failed:
      return close();
    case ForwardEnd::BadResponse:
      client_.cancel(ignored);
      return reply_and_close(
          http_response(502, http_reason(502), "bad response from upstream: " + result.why));
    case ForwardEnd::Close:
      state_ = State::Closing;
      client_.cancel(ignored);  // a read of request body bytes may still be pending
      return drain_then_close();
    case ForwardEnd::KeepAlive:
      received_ = std::move(result.pipelined);
      ++requests_served_;
      return start_request();
  }
}

// --- the end ----------------------------------------------------------------------------------

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
