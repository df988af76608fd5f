#include "proxy-worker/proxy_server.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <chrono>

#include "ipc/errors.hpp"
#include "platform/sys_error.hpp"
#include "proxy-worker/worker_log.hpp"

namespace fence::proxy_worker {

namespace {

namespace asio = boost::asio;
using platform::UniqueFd;

// Accepts per wake-up before the loop serves others (fairness under a connection flood).
constexpr int kAcceptBurst = 64;
// Out of fds or memory: stop accepting for a moment instead of spinning on a readable listener.
constexpr std::chrono::milliseconds kAcceptPause{100};

// Errors of accept4 that concern only the connection being accepted.
bool transient_accept_error(int err) {
  return err == EINTR || err == ECONNABORTED || err == EPROTO || err == EPERM || err == ENETDOWN ||
         err == ENOPROTOOPT || err == EHOSTDOWN || err == ENONET || err == EHOSTUNREACH ||
         err == EOPNOTSUPP || err == ENETUNREACH;
}

}  // namespace

ProxyServer::ProxyServer(asio::io_context& io, WorkerStart start)
    : io_(io),
      channel_(std::move(start.channel)),
      limits_(start.limits),
      channel_watch_(io, channel_.fd()),
      http_{asio::posix::stream_descriptor(io, start.http_listener.release()),
            asio::steady_timer(io), ClientKind::Http},
      socks_{asio::posix::stream_descriptor(io, start.socks_listener.release()),
             asio::steady_timer(io), ClientKind::Socks5} {
  attach_log_channel(&channel_);
}

ProxyServer::~ProxyServer() {
  boost::system::error_code ignored;
  channel_watch_.cancel(ignored);
  channel_watch_.release();  // channel_ owns the fd
}

void ProxyServer::run() {
  wait_channel();
  wait_accept(http_);
  wait_accept(socks_);
  io_.run();
  throw SupervisorGone("event loop ran out of work");
}

// --- listeners --------------------------------------------------------------------------------

void ProxyServer::wait_accept(Listener& listener) {
  listener.socket.async_wait(asio::posix::descriptor_base::wait_read,
                             [this, &listener](const boost::system::error_code& ec) {
                               if (ec) throw platform::SysError("listener wait", ec.value());
                               accept_ready(listener);
                             });
}

void ProxyServer::accept_ready(Listener& listener) {
  for (int i = 0; i < kAcceptBurst; ++i) {
    UniqueFd client(
        ::accept4(listener.socket.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!client) {
      const int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) break;
      if (transient_accept_error(err)) continue;
      if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        listener.pause.expires_after(kAcceptPause);
        listener.pause.async_wait([this, &listener](const boost::system::error_code& ec) {
          if (!ec) wait_accept(listener);
        });
        return;
      }
      throw platform::SysError("accept4", err);
    }
    if (live_sessions_ >= limits_.max_tunnels) {
      reject(std::move(client), listener.kind);
      continue;
    }
    std::make_shared<ClientSession>(*this, std::move(client), listener.kind, listener.port)
        ->start();
  }
  wait_accept(listener);
}

void ProxyServer::reject(UniqueFd client, ClientKind kind) {
  if (kind == ClientKind::Http) {
    const std::string reply =
        http_response(503, http_reason(503), "too many connections through the proxy");
    // Best effort, never waits: a fresh socket's send buffer takes this at once.
    [[maybe_unused]] const auto n =
        ::send(client.get(), reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::shutdown(client.get(), SHUT_WR);
  }
}

// --- channel ----------------------------------------------------------------------------------

void ProxyServer::wait_channel() {
  channel_watch_.async_wait(asio::posix::descriptor_base::wait_read,
                            [this](const boost::system::error_code& ec) {
                              if (ec) throw platform::SysError("channel wait", ec.value());
                              drain_channel();
                              wait_channel();
                            });
}

void ProxyServer::drain_channel() {
  for (;;) {
    auto result = channel_.try_receive();  // throws ipc::ProtocolError on any violation
    switch (result.status) {
      case ipc::ReceiveStatus::WouldBlock:
        return;
      case ipc::ReceiveStatus::Closed:
        throw SupervisorGone("supervisor closed the channel");
      case ipc::ReceiveStatus::Message:
        on_message(*result.message);
        break;
    }
  }
}

void ProxyServer::on_message(ipc::Incoming& message) {
  switch (message.type) {
    case ipc::MessageType::ConnectAllowed: {
      const auto answer = message.decode<ipc::ConnectAllowed>();  // exactly one fd
      auto session = take_pending(answer.id);
      session->allowed(answer.id, std::move(message.fds.at(0)));
      break;
    }
    case ipc::MessageType::ConnectDenied: {
      const auto answer = message.decode<ipc::ConnectDenied>();
      take_pending(answer.id)->denied(answer);
      break;
    }
    case ipc::MessageType::LocalListener: {
      const auto msg = message.decode<ipc::LocalListener>();
      add_local_listener(msg.port, std::move(message.fds.at(0)));
      break;
    }
    case ipc::MessageType::RelayStart: {
      const auto msg = message.decode<ipc::RelayStart>();
      start_inbound_relay(msg.id, std::move(message.fds.at(0)), std::move(message.fds.at(1)));
      break;
    }
    default:
      throw ipc::ProtocolError("unexpected " + std::string(ipc::message_name(message.type)) +
                               " from the supervisor");
  }
  admit_waiting();
}

void ProxyServer::add_local_listener(std::uint16_t port, UniqueFd fd) {
  if (!local_ports_.insert(port).second)
    throw ipc::ProtocolError("LocalListener for port " + std::to_string(port) + " given twice");
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
  locals_.push_back(Listener{asio::posix::stream_descriptor(io_, fd.release()),
                             asio::steady_timer(io_), ClientKind::Local, port});
  wait_accept(locals_.back());
}

// An inbound (-p) connection: both ends come from the supervisor, nothing is parsed, the
// bytes are relayed as they are.
void ProxyServer::start_inbound_relay(std::uint64_t id, UniqueFd outer, UniqueFd inner) {
  if (!relays_.insert(id).second)
    throw ipc::ProtocolError("RelayStart reuses id " + std::to_string(id));
  RelayOptions options;
  options.idle_timeout = std::chrono::milliseconds(limits_.idle_timeout_ms);
  start_relay(
      io_, std::move(outer), std::move(inner), std::move(options),
      [this, id](const RelayStats& stats) {
        relays_.erase(id);
        relay_closed(ipc::RelayClosed{id, stats.bytes_up, stats.bytes_down, stats.duration_ms});
      });
}

std::shared_ptr<ClientSession> ProxyServer::take_pending(std::uint64_t id) {
  const auto it = pending_.find(id);
  if (it == pending_.end()) {
    throw ipc::ProtocolError("answer for connect request " + std::to_string(id) +
                             ", which is not pending");
  }
  auto session = std::move(it->second);
  pending_.erase(it);
  return session;
}

std::uint64_t ProxyServer::ask(std::shared_ptr<ClientSession> session, const std::string& host,
                               std::uint16_t port, ipc::ProxyProtocol protocol) {
  ipc::ConnectRequest request{next_id_++, host, port, protocol};
  if (auto error = ipc::validate(request)) {
    // The parsers only produce valid targets; if one ever does not, the client hears "bad
    // request" from us and the supervisor never sees it.
    log_line("refusing to ask for an invalid target: " + *error);
    const std::uint64_t id = request.id;
    asio::post(io_, [session, id] {
      session->denied(ipc::ConnectDenied{id, ipc::DenyReason::ConnectFailed, "invalid target"});
    });
    return id;
  }
  waiting_.push_back(Waiting{std::move(session), std::move(request)});
  const std::uint64_t id = waiting_.back().request.id;
  admit_waiting();
  return id;
}

void ProxyServer::admit_waiting() {
  while (!waiting_.empty() && pending_.size() < kMaxInFlight) {
    Waiting next = std::move(waiting_.front());
    waiting_.pop_front();
    pending_.emplace(next.request.id, std::move(next.session));
    send(std::move(next.request));
  }
}

void ProxyServer::tunnel_closed(const ipc::TunnelClosed& closed) {
  send(closed);
}

void ProxyServer::relay_closed(const ipc::RelayClosed& closed) {
  send(closed);
}

void ProxyServer::send(Outgoing message) {
  outgoing_.push_back(std::move(message));
  flush();
}

void ProxyServer::flush() {
  while (!outgoing_.empty() && !channel_write_waiting_) {
    try {
      std::visit([this](const auto& msg) { channel_.send(msg); }, outgoing_.front());
    } catch (const platform::SysError& e) {
      if (e.error_code() != EAGAIN && e.error_code() != EWOULDBLOCK) {
        if (e.error_code() == EPIPE || e.error_code() == ECONNRESET) {
          throw SupervisorGone("supervisor closed the channel");
        }
        throw;
      }
      // The supervisor is behind: wait until the channel drains, in order.
      channel_write_waiting_ = true;
      channel_watch_.async_wait(asio::posix::descriptor_base::wait_write,
                                [this](const boost::system::error_code& ec) {
                                  if (ec) throw platform::SysError("channel wait", ec.value());
                                  channel_write_waiting_ = false;
                                  flush();
                                });
      return;
    }
    outgoing_.pop_front();
  }
}

}  // namespace fence::proxy_worker
