#include "proxy-worker/supervisor_client.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "ipc/errors.hpp"
#include "platform/sys_error.hpp"
#include "proxy-worker/client_session.hpp"
#include "proxy-worker/proxy_server.hpp"

namespace fence::proxy_worker {

namespace {

namespace asio = boost::asio;
using platform::SysError;
using platform::UniqueFd;

void set_non_blocking(int fd, const char* what) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    throw SysError(std::string("worker: O_NONBLOCK on ") + what);
  }
}

// SECURITY: the supervisor checked these already; re-checking costs two getsockopt calls and
// means the accept loop can never be pointed at a connected socket or a pipe.
void check_listener(int fd, const char* what) {
  int listening = 0;
  socklen_t len = sizeof(listening);
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || listening != 1) {
    throw ipc::ProtocolError(std::string("ProxyStart: ") + what + " is not a listening socket");
  }
}

bool supervisor_gone(int err) {
  return err == EPIPE || err == ECONNRESET;
}

}  // namespace

// --- handshake --------------------------------------------------------------------------------

// The channel is blocking until the event loop takes over.
SupervisorClient::SupervisorClient(UniqueFd channel_end)
    : channel_(std::move(channel_end), ipc::Role::ProxyWorker, ipc::Role::Supervisor) {
  channel_.send_hello();
  // The channel admits nothing but Hello before Hello, and checks its version and role.
  if (!channel_.receive()) throw ipc::ProtocolError("supervisor did not say Hello");
}

SupervisorClient::~SupervisorClient() {
  if (!watch_) return;
  boost::system::error_code ignored;
  watch_->cancel(ignored);
  watch_->release();  // channel_ owns the fd
}

WorkerStart SupervisorClient::await_proxy_start() {
  auto message = channel_.receive();
  if (!message) throw ipc::ProtocolError("supervisor closed the channel before ProxyStart");
  // The one ordering rule of this channel: its Once rule keeps ProxyStart from coming later.
  if (message->type != ipc::ProxyStart::kType) {
    throw ipc::ProtocolError("expected ProxyStart, got " +
                             std::string(ipc::message_name(message->type)));
  }
  ipc::dispatch(kRoutes, *this, *message);
  WorkerStart start = std::move(*start_);
  start_.reset();
  set_non_blocking(channel_.fd(), "channel");
  set_non_blocking(start.http_listener.get(), "HTTP listener");
  set_non_blocking(start.socks_listener.get(), "SOCKS5 listener");
  return start;
}

void SupervisorClient::start(asio::io_context& io, ProxyServer& server) {
  server_ = &server;
  watch_.emplace(io, channel_.fd());
  wait_readable();
}

// --- receiving --------------------------------------------------------------------------------

void SupervisorClient::wait_readable() {
  watch_->async_wait(asio::posix::descriptor_base::wait_read,
                     [this](const boost::system::error_code& ec) {
                       if (ec) throw SysError("channel wait", ec.value());
                       receive_all();
                       wait_readable();
                     });
}

void SupervisorClient::receive_all() {
  for (;;) {
    auto result = channel_.try_receive();  // throws ipc::ProtocolError on any violation
    if (result.status == ipc::ReceiveStatus::WouldBlock) return;
    if (result.status == ipc::ReceiveStatus::Closed) {
      throw SupervisorGone("supervisor closed the channel");
    }
    ipc::dispatch(kRoutes, *this, *result.message);
    admit_waiting();  // an answer frees a place for a waiting request
  }
}

void SupervisorClient::on_proxy_start(const ipc::ProxyStart& limits, std::vector<UniqueFd> fds) {
  check_listener(fds.at(0).get(), "HTTP listener");
  check_listener(fds.at(1).get(), "SOCKS5 listener");
  start_.emplace(WorkerStart{std::move(fds.at(0)), std::move(fds.at(1)), limits});
}

void SupervisorClient::on_transparent_start(const ipc::TransparentStart& start,
                                            std::vector<UniqueFd> sockets) {
  if (transparent_started_) throw ipc::ProtocolError("TransparentStart given twice");
  transparent_started_ = true;
  check_listener(sockets.at(0).get(), "transparent listener");
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(sockets.at(1).get(), SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
      type != SOCK_DGRAM)
    throw ipc::ProtocolError("TransparentStart: the DNS socket is not a datagram socket");
  check_listener(sockets.at(2).get(), "DNS listener");
  server_->start_transparent(std::move(sockets.at(0)), std::move(sockets.at(1)),
                             std::move(sockets.at(2)), start.verify_names);
}

void SupervisorClient::on_dns_answer(const ipc::DnsAnswer& answer) {
  server_->dns_answer(answer);
}

void SupervisorClient::ask_dns(const ipc::DnsQuery& query) {
  send(query);
}

void SupervisorClient::on_local_listener(const ipc::LocalListener& listener,
                                         std::vector<UniqueFd> fd) {
  if (!local_ports_.insert(listener.port).second) {
    throw ipc::ProtocolError("LocalListener for port " + std::to_string(listener.port) +
                             " given twice");
  }
  server_->add_local_listener(listener.port, std::move(fd.at(0)));
}

void SupervisorClient::on_connect_allowed(const ipc::ConnectAllowed& answer,
                                          std::vector<UniqueFd> upstream) {
  take_pending(answer.id)->allowed(answer.id, std::move(upstream.at(0)));
}

void SupervisorClient::on_connect_denied(const ipc::ConnectDenied& answer) {
  take_pending(answer.id)->denied(answer);
}

// An inbound (-p) connection: both ends come from the supervisor, nothing is parsed.
void SupervisorClient::on_relay_start(const ipc::RelayStart& relay, std::vector<UniqueFd> ends) {
  if (!relays_.insert(relay.id).second) {
    throw ipc::ProtocolError("RelayStart reuses id " + std::to_string(relay.id));
  }
  server_->start_inbound_relay(relay.id, std::move(ends.at(0)), std::move(ends.at(1)));
}

std::shared_ptr<ClientSession> SupervisorClient::take_pending(std::uint64_t id) {
  const auto it = pending_.find(id);
  if (it == pending_.end()) {
    throw ipc::ProtocolError("answer for connect request " + std::to_string(id) +
                             ", which is not pending");
  }
  auto session = std::move(it->second);
  pending_.erase(it);
  return session;
}

// --- sending ----------------------------------------------------------------------------------

void SupervisorClient::ask_connect(std::shared_ptr<ClientSession> session, const std::string& host,
                                   std::uint16_t port, ipc::ProxyProtocol protocol,
                                   std::string claimed_host) {
  waiting_.push_back(
      Waiting{std::move(session),
              ipc::ConnectRequest{next_id_++, host, port, protocol, std::move(claimed_host)}});
  admit_waiting();
}

void SupervisorClient::admit_waiting() {
  while (!waiting_.empty() && pending_.size() < ipc::kMaxPendingRequests) {
    Waiting next = std::move(waiting_.front());
    waiting_.pop_front();
    pending_.emplace(next.request.id, std::move(next.session));
    send(std::move(next.request));
  }
}

void SupervisorClient::send_tunnel_closed(const ipc::TunnelClosed& closed) {
  send(closed);
}

void SupervisorClient::send_relay_closed(const ipc::RelayClosed& closed) {
  relays_.erase(closed.id);
  send(closed);
}

void SupervisorClient::send_worker_log(std::string_view text) noexcept {
  if (text.empty()) return;
  try {
    ipc::WorkerLog line{std::string(text.substr(0, ipc::kMaxTextLen))};
    std::replace(line.text.begin(), line.text.end(), '\0', '?');
    channel_.send(line);
  } catch (...) {
    // Nobody to tell.
  }
}

void SupervisorClient::send(Outgoing message) {
  outgoing_.push_back(std::move(message));
  flush();
}

// SECURITY: the one check of an outgoing message is the channel's (Channel::send validates
// it): a ConnectRequest's host comes from normalize_target_host, whose results the channel's
// grammar accepts (fuzzed: fuzz_http_request, fuzz_socks5).
void SupervisorClient::flush() {
  while (!outgoing_.empty() && !write_waiting_) {
    try {
      std::visit([this](const auto& msg) { channel_.send(msg); }, outgoing_.front());
    } catch (const SysError& e) {
      if (e.error_code() != EAGAIN && e.error_code() != EWOULDBLOCK) {
        if (supervisor_gone(e.error_code())) throw SupervisorGone("supervisor closed the channel");
        throw;
      }
      // The supervisor is behind: wait until the channel drains, in order.
      write_waiting_ = true;
      watch_->async_wait(asio::posix::descriptor_base::wait_write,
                         [this](const boost::system::error_code& ec) {
                           if (ec) throw SysError("channel wait", ec.value());
                           write_waiting_ = false;
                           flush();
                         });
      return;
    }
    outgoing_.pop_front();
  }
}

}  // namespace fence::proxy_worker
