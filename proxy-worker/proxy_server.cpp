#include "proxy-worker/proxy_server.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>

#include "platform/sys_error.hpp"

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

ProxyServer::ProxyServer(asio::io_context& io, SupervisorClient& supervisor, WorkerStart start)
    : io_(io),
      supervisor_(supervisor),
      limits_(start.limits),
      http_{asio::posix::stream_descriptor(io, start.http_listener.release()),
            asio::steady_timer(io), ClientKind::Http},
      socks_{asio::posix::stream_descriptor(io, start.socks_listener.release()),
             asio::steady_timer(io), ClientKind::Socks5} {}

void ProxyServer::run() {
  supervisor_.start(io_, *this);
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

// --- from the supervisor ------------------------------------------------------------------

void ProxyServer::add_local_listener(std::uint16_t port, UniqueFd fd) {
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
  locals_.push_back(Listener{asio::posix::stream_descriptor(io_, fd.release()),
                             asio::steady_timer(io_), ClientKind::Local, port});
  wait_accept(locals_.back());
}

void ProxyServer::start_inbound_relay(std::uint64_t id, UniqueFd outer, UniqueFd inner) {
  RelayOptions options;
  options.idle_timeout = std::chrono::milliseconds(limits_.idle_timeout_ms);
  start_relay(io_, std::move(outer), std::move(inner), std::move(options),
              [this, id](const RelayStats& stats) {
                supervisor_.send_relay_closed(
                    ipc::RelayClosed{id, stats.bytes_up, stats.bytes_down, stats.duration_ms});
              });
}

}  // namespace fence::proxy_worker
