#include "supervisor/network/inbound_forwarder.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "platform/sys_error.hpp"
#include "platform/tcp_listener.hpp"

namespace fence::supervisor {
namespace {

std::string peer_name(const sockaddr_storage& addr) {
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(addr);
    ::inet_ntop(AF_INET, &v4.sin_addr, text, sizeof text);
    return std::string(text) + ":" + std::to_string(ntohs(v4.sin_port));
  }
  const auto& v6 = reinterpret_cast<const sockaddr_in6&>(addr);
  ::inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text);
  return "[" + std::string(text) + "]:" + std::to_string(ntohs(v6.sin6_port));
}

std::string rule_text(const ExposedPort& p) {
  const bool v6 = p.address.find(':') != std::string::npos;
  return "-p " + (v6 ? "[" + p.address + "]" : p.address) + ":" + std::to_string(p.port);
}

}  // namespace

InboundForwarder::InboundForwarder(const std::vector<ExposedPort>& ports, EventSink& events)
    : events_(events) {
  for (const ExposedPort& p : ports)
    listeners_.push_back({p, platform::listen_on(p.address, p.port)});
}

void InboundForwarder::add_poll_fds(std::vector<pollfd>& fds, std::size_t relays) const {
  // SECURITY: at a cap, accepting pauses (see kMaxInboundRelays).
  if (pending_.size() >= kMaxInboundPending || relays >= kMaxInboundRelays) return;
  for (const Listener& l : listeners_) fds.push_back({l.fd.get(), POLLIN, 0});
}

bool InboundForwarder::owns(int fd) const {
  return std::any_of(listeners_.begin(), listeners_.end(),
                     [fd](const Listener& l) { return l.fd.get() == fd; });
}

void InboundForwarder::on_readable(int fd, InboundOpener& launcher) {
  auto listener = std::find_if(listeners_.begin(), listeners_.end(),
                               [fd](const Listener& l) { return l.fd.get() == fd; });
  if (listener == listeners_.end()) return;
  while (pending_.size() < kMaxInboundPending) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    platform::UniqueFd client(
        ::accept4(fd, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!client) return;  // EAGAIN, or an error that concerns only that connection
    platform::use_unpaced_congestion_control_if_local(client.get());
    const std::uint64_t id = next_id_++;
    Pending p;
    p.port = listener->where.port;
    p.rule = rule_text(listener->where);
    p.peer = peer_name(addr);
    p.outer = std::move(client);
    p.accepted = Clock::now();
    auto& entry = pending_.emplace(id, std::move(p)).first->second;
    ask(launcher, id, entry);
  }
}

void InboundForwarder::ask(InboundOpener& launcher, std::uint64_t id, Pending& pending) {
  pending.retry_at.reset();
  pending.asked = true;
  launcher.send_inbound_open(id, pending.port);
}

void InboundForwarder::on_ready(std::uint64_t id, platform::UniqueFd inner, WorkerHost* worker) {
  auto it = pending_.find(id);
  // SECURITY: ids are ours; an answer we did not ask for is the launcher breaking protocol.
  if (it == pending_.end() || !it->second.asked)
    throw ipc::ProtocolError("InboundReady for id " + std::to_string(id) +
                             ", which is not pending");
  if (!platform::is_connected_tcp_socket(inner.get()))
    throw ipc::ProtocolError("InboundReady: fd is not a connected TCP socket");
  Pending p = std::move(it->second);
  pending_.erase(it);
  NetworkEvent event = event_for(p);
  event.allowed = true;
  event.connected = "127.0.0.1";
  if (!worker || !worker->send_relay_start(event, std::move(p.outer), std::move(inner)))
    refuse(p, "the proxy worker is gone");
}

void InboundForwarder::on_failed(std::uint64_t id, int error) {
  auto it = pending_.find(id);
  if (it == pending_.end() || !it->second.asked)
    throw ipc::ProtocolError("InboundFailed for id " + std::to_string(id) +
                             ", which is not pending");
  Pending& p = it->second;
  p.asked = false;
  const auto now = Clock::now();
  if (error == ECONNREFUSED && now + kInboundRetryInterval < p.accepted + kInboundRetryWindow) {
    p.retry_at = now + kInboundRetryInterval;  // the server may not be listening yet
    return;
  }
  refuse(p, "nothing accepted the connection at 127.0.0.1:" + std::to_string(p.port) +
                " inside the sandbox: " + std::strerror(error) +
                (error == ECONNREFUSED
                     ? " (retried for " + std::to_string(kInboundRetryWindow.count() / 1000) + " s)"
                     : std::string()));
  pending_.erase(it);
}

NetworkEvent InboundForwarder::event_for(const Pending& p) {
  NetworkEvent event;
  event.kind = ConnectionKind::Inbound;
  event.host = p.peer;
  event.port = p.port;
  event.rule = p.rule;
  return event;
}

void InboundForwarder::refuse(Pending& p, const std::string& reason) {
  NetworkEvent event = event_for(p);
  event.deny_reason = ipc::DenyReason::ConnectFailed;  // inside, nothing took the connection
  event.reason = reason;
  events_.network(event);
  // The host client sees its connection closed (refused cleanly).
  p.outer.reset();
}

void InboundForwarder::on_timer(InboundOpener& launcher) {
  const auto now = Clock::now();
  for (auto& [id, p] : pending_)
    if (p.retry_at && *p.retry_at <= now) ask(launcher, id, p);
}

int InboundForwarder::next_timeout_ms() const {
  std::optional<Clock::time_point> earliest;
  for (const auto& [id, p] : pending_)
    if (p.retry_at && (!earliest || *p.retry_at < *earliest)) earliest = p.retry_at;
  if (!earliest) return -1;
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(*earliest - Clock::now()).count();
  return static_cast<int>(std::max<std::int64_t>(left, 0) + 1);
}

}  // namespace fence::supervisor
