#include "proxy-worker/proxy_server.hpp"

#include <arpa/inet.h>

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>

#include "ipc/errors.hpp"
#include "platform/sys_error.hpp"
#include "platform/tcp_listener.hpp"

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
    // A DNS connection is no tunnel: the DNS server bounds its own (kMaxDnsStreams).
    if (listener.kind == ClientKind::DnsStream) {
      dns_->add_stream(std::move(client));
      continue;
    }
    if (live_sessions_ >= limits_.max_tunnels) {
      reject(std::move(client), listener.kind);
      continue;
    }
    if (listener.kind == ClientKind::Transparent) {
      start_transparent_session(std::move(client));
      continue;
    }
    std::make_shared<ClientSession>(*this, std::move(client), listener.kind, listener.port)
        ->start();
  }
  wait_accept(listener);
}

void ProxyServer::reject(UniqueFd client, ClientKind kind) {
  if (kind == ClientKind::Transparent) return platform::reset_on_close(client.get());
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

void ProxyServer::start_transparent(UniqueFd listener, UniqueFd dns, UniqueFd dns_streams,
                                    bool verify_names) {
  verify_names_ = verify_names;
  for (const int fd : {listener.get(), dns.get(), dns_streams.get()})
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  transparent_.emplace(Listener{asio::posix::stream_descriptor(io_, listener.release()),
                                asio::steady_timer(io_), ClientKind::Transparent, 0});
  dns_ = std::make_unique<DnsServer>(io_, supervisor_, std::move(dns));
  dns_streams_.emplace(Listener{asio::posix::stream_descriptor(io_, dns_streams.release()),
                                asio::steady_timer(io_), ClientKind::DnsStream, 0});
  wait_accept(*transparent_);
  wait_accept(*dns_streams_);
  dns_->start();
}

void ProxyServer::dns_answer(const ipc::DnsAnswer& answer) {
  if (!dns_) throw ipc::ProtocolError("DnsAnswer without the transparent path");
  dns_->answer(answer);
}

// A redirected connection: its target is where the program connected (the kernel's record of
// the original destination). One that has none was not redirected: it is reset.
void ProxyServer::start_transparent_session(UniqueFd client) {
  const std::optional<sockaddr_storage> original = platform::original_destination(client.get());
  char host[INET6_ADDRSTRLEN] = {};
  std::uint16_t port = 0;
  if (original && original->ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&*original);
    ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
  } else if (original && original->ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&*original);
    ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
  }
  if (port == 0 || host[0] == '\0') return platform::reset_on_close(client.get());
  std::make_shared<ClientSession>(*this, std::move(client), ClientKind::Transparent, port, host)
      ->start();
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
