#include "supervisor/network/worker_host.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc/handlers.hpp"
#include "platform/sys_error.hpp"
#include "platform/tcp_listener.hpp"
#include "supervisor/spawn.hpp"

namespace fence::supervisor {
namespace {

// network.verifyTls: why a transparent connection to `name` (the name its synthetic address
// stands for) is refused, or nothing when the name its first bytes claim is that name.
// SECURITY: the claim is the worker's reading of hostile bytes; it can only narrow what the
// address already allows.
std::optional<std::string> claim_mismatch(const std::string& claimed, const std::string& name) {
  const std::string normalized = normalized_host_name(claimed);
  if (normalized == name) return std::nullopt;
  if (normalized.empty())
    return "verifyTls: the connection to " + name +
           " names no host (no TLS server name or HTTP Host header)";
  return "verifyTls: the connection names " + normalized + " but its address stands for " + name +
         " (domain fronting)";
}

constexpr ipc::Route<WorkerHost> kRoutes[] = {
    ipc::route<&WorkerHost::on_connect_request>(), ipc::route<&WorkerHost::on_tunnel_closed>(),
    ipc::route<&WorkerHost::on_relay_closed>(),    ipc::route<&WorkerHost::on_worker_log>(),
    ipc::route<&WorkerHost::on_dns_query>(),
};
static_assert(ipc::routes_complete(kRoutes, ipc::Role::ProxyWorker, ipc::Role::Supervisor));

ConnectOptions connect_options(const WorkerHostOptions& host_options) {
  ConnectOptions options;
  options.host_own = host_addresses();
  options.upstream_proxy_host = host_options.upstream_proxy_host;
  options.upstream_proxy_port = host_options.upstream_proxy_port;
  return options;
}

}  // namespace

WorkerHost::WorkerHost(NetworkPolicy policy, WorkerHostOptions options, EventSink& events)
    : options_(options),
      events_(events),
      pool_(std::move(policy), connect_options(options), options.connect_threads) {}

WorkerHost::~WorkerHost() {
  stop();
}

void WorkerHost::start(const std::string& worker_path) {
  auto [ours, theirs] = ipc::make_channel_pair();
  std::error_code error;
  const pid_t pid = spawn_helper(worker_path, theirs.get(), error);
  theirs.reset();
  if (pid < 0) throw std::runtime_error("cannot start " + worker_path + ": " + error.message());
  adopt_worker(pid, std::move(ours));
}

void WorkerHost::adopt_worker(pid_t pid, platform::UniqueFd channel) {
  worker_pid_ = pid;
  channel_ = std::make_unique<ipc::Channel>(std::move(channel), ipc::Role::Supervisor,
                                            ipc::Role::ProxyWorker);
  channel_->send_hello();
  hello_pending_ = true;
}

void WorkerHost::await_worker() {
  if (!hello_pending_) return;
  if (!channel_) throw std::runtime_error("no proxy worker");
  // A worker that never says Hello must not hang fence at startup.
  struct pollfd p {
    channel_->fd(), POLLIN, 0
  };
  if (platform::retry_eintr([&] { return ::poll(&p, 1, 5000); }) != 1)
    throw std::runtime_error("the proxy worker did not answer within 5 s");
  auto hello = channel_->receive();
  if (!hello || hello->type != ipc::MessageType::Hello)
    throw std::runtime_error("the proxy worker did not start");
  // From here on the channel is non-blocking: see WorkerReply.
  const int flags = ::fcntl(channel_->fd(), F_GETFL);
  if (flags < 0 || ::fcntl(channel_->fd(), F_SETFL, flags | O_NONBLOCK) != 0)
    throw platform::SysError("fcntl(O_NONBLOCK) on the worker channel");
  hello_pending_ = false;
}

// --- supervisor -> worker ---------------------------------------------------------------------

void WorkerHost::send_proxy_start(std::vector<platform::UniqueFd> listeners) {
  // SECURITY: the launcher is trusted, but a listener that is not what it claims would hand
  // the worker something else entirely; check before passing it on.
  if (listeners.size() != 2) throw ipc::ProtocolError("ListenersReady: expected 2 fds");
  for (const auto& fd : listeners)
    if (!platform::is_listening_tcp_socket(fd.get()))
      throw ipc::ProtocolError("ListenersReady: fd is not a listening TCP socket");
  if (!channel_) return;
  ipc::ProxyStart start;
  start.debug = options_.debug;
  const int raw[] = {listeners[0].get(), listeners[1].get()};
  channel_->send(start, raw);
  // Our copies close here: the worker alone holds the listeners, so if it dies the sandbox's
  // proxies refuse connections (fail closed).
}

void WorkerHost::send_local_listener(std::uint16_t port, platform::UniqueFd listener) {
  if (!platform::is_listening_tcp_socket(listener.get()))
    throw ipc::ProtocolError("LocalListenerReady: fd is not a listening TCP socket");
  WorkerReply r;
  r.kind = WorkerReply::Kind::LocalListener;
  r.id = port;
  r.fd = std::move(listener);
  reply(std::move(r));
}

void WorkerHost::send_transparent_start(std::uint16_t tcp_port, std::uint16_t dns_port,
                                        std::vector<platform::UniqueFd> sockets) {
  if (transparent_started_) throw ipc::ProtocolError("TransparentReady: sent twice");
  if (sockets.size() != 3 || !platform::is_listening_tcp_socket(sockets[0].get()) ||
      !platform::is_udp_socket(sockets[1].get()) ||
      !platform::is_listening_tcp_socket(sockets[2].get()))
    throw ipc::ProtocolError(
        "TransparentReady: expected a listening TCP socket, a UDP socket and a listening TCP "
        "socket");
  transparent_started_ = true;
  WorkerReply r;
  r.kind = WorkerReply::Kind::TransparentStart;
  r.transparent = ipc::TransparentStart{tcp_port, dns_port, options_.verify_names};
  r.fd = std::move(sockets[0]);
  r.second = std::move(sockets[1]);
  r.third = std::move(sockets[2]);
  reply(std::move(r));
}

bool WorkerHost::send_relay_start(NetworkEvent event, platform::UniqueFd outer,
                                  platform::UniqueFd inner) {
  if (!channel_) return false;
  const std::uint64_t id = next_relay_id_++;
  relays_.emplace(id, event);
  events_.network(event);
  WorkerReply r;
  r.kind = WorkerReply::Kind::Relay;
  r.id = id;
  r.fd = std::move(outer);
  r.second = std::move(inner);
  reply(std::move(r));
  return true;
}

// The pool's completions: ConnectAllowed with the connected socket, or ConnectDenied.
void WorkerHost::answer_completions() {
  for (ConnectPool::Done& d : pool_.take_done()) {
    const std::uint64_t id = d.request.id;
    pending_.erase(id);
    NetworkEvent event;
    event.kind = kind_of(d.request.protocol);
    event.host = std::move(d.request.host);
    event.port = d.request.port;
    event.allowed = d.outcome.ok();
    event.deny_reason = d.outcome.reason;
    event.rule = d.outcome.decision.rule;
    event.reason = event.allowed ? std::string() : d.outcome.text;
    event.resolved = d.outcome.resolved;
    event.connected = d.outcome.connected_address;
    event.route = d.outcome.route;
    if (!channel_) {
      // The worker is gone: the decision is still reported, the connection is closed unused.
      events_.network(event);
      continue;
    }
    if (event.allowed) open_.emplace(id, event);
    events_.network(event);
    if (d.outcome.ok())
      send_connect_allowed(id, std::move(d.outcome.fd));
    else
      send_connect_denied(id, d.outcome.reason, d.outcome.text);
  }
}

void WorkerHost::send_connect_allowed(std::uint64_t id, platform::UniqueFd connected) {
  WorkerReply r;
  r.id = id;
  r.fd = std::move(connected);
  reply(std::move(r));
}

void WorkerHost::send_connect_denied(std::uint64_t id, ipc::DenyReason reason,
                                     const std::string& text) {
  WorkerReply r;
  r.id = id;
  r.reason = reason;
  r.text = text.substr(0, ipc::kMaxReasonLen);
  reply(std::move(r));
}

// --- worker -> supervisor ---------------------------------------------------------------------

void WorkerHost::on_connect_request(const ipc::ConnectRequest& request) {
  // SECURITY: ids are the worker's; a duplicate or a flood is a violation.
  if (pending_.count(request.id) || open_.count(request.id))
    return fault("ConnectRequest reuses id " + std::to_string(request.id));
  if (pending_.size() >= options_.max_in_flight)
    return fault("more than " + std::to_string(options_.max_in_flight) +
                 " ConnectRequests in flight");
  if (request.protocol == ipc::ProxyProtocol::Transparent && !transparent_started_)
    return fault("a transparent ConnectRequest without the transparent path");
  if (!request.claimed_host.empty() && !options_.verify_names)
    return fault("a claimed host without verifyTls");
  ipc::ConnectRequest decided = request;
  // A synthetic address stands for exactly the name it was given for: the connection is
  // decided as one to that name (resolved and checked now), whichever way it was asked for (a
  // SOCKS5 client that resolved the name itself asks for the address). An unbound one names
  // nothing.
  if (transparent_started_) {
    std::optional<IpAddress> literal = parse_ip_literal(request.host);
    // An IPv4-mapped spelling (::ffff:198.18.0.1) reaches the same address.
    if (literal && !literal->is_v4()) {
      const in6_addr v6 = literal->to_in6_addr();
      if (IN6_IS_ADDR_V4MAPPED(&v6)) literal = literal->embedded_v4();
    }
    if (literal && literal->is_v4() && SyntheticAddresses::in_range(literal->v4_host_order())) {
      const std::optional<std::string> name = synthetic_.name_for(literal->v4_host_order());
      std::optional<std::string> refusal;
      std::string rule = "default deny";
      if (!name) {
        refusal = "a synthetic address no name was given";
      } else if (request.protocol == ipc::ProxyProtocol::HttpForward) {
        // The request's Host would be the address, which no server knows: name the host.
        refusal = "an HTTP proxy request for a synthetic address: ask for " + *name;
      } else if (options_.verify_names && request.protocol == ipc::ProxyProtocol::Transparent) {
        refusal = claim_mismatch(request.claimed_host, *name);
        rule = "verifyTls";
      }
      if (refusal) {
        NetworkEvent event;
        event.kind = kind_of(request.protocol);
        event.host = name.value_or(request.host);
        event.port = request.port;
        event.rule = rule;
        event.reason = std::move(*refusal);
        events_.network(event);
        return send_connect_denied(request.id, ipc::DenyReason::Policy, event.reason);
      }
      decided.host = *name;
    }
  }
  pending_.insert(request.id);
  pool_.submit(decided);
}

void WorkerHost::on_dns_query(const ipc::DnsQuery& query) {
  // SECURITY: ids are the worker's, numbered upwards; a reused one is a violation.
  if (!transparent_started_) return fault("a DnsQuery without the transparent path");
  if (query.id <= last_dns_id_)
    return fault("DnsQuery id " + std::to_string(query.id) + " not above the last one");
  last_dns_id_ = query.id;
  NetworkEvent event;
  event.kind = ConnectionKind::Dns;
  event.host = query.name.empty() ? "." : query.name;
  event.port = 53;
  ipc::DnsAnswer answer;
  answer.id = query.id;
  const Decision decision = evaluate_lookup(pool_.policy(), query.name);
  event.rule = decision.rule;
  if (!decision.allowed) {
    // SECURITY: denied and unknown names are never resolved: no query leaves the sandbox.
    answer.rcode = static_cast<std::uint8_t>(ipc::DnsRcode::NxDomain);
    event.reason = decision.reason + " (NXDOMAIN)";
  } else if (query.type != ipc::kDnsTypeA) {
    // AAAA, HTTPS, PTR, ...: NOERROR without a record (the program falls back to A); no
    // synthetic address is spent on a question that cannot carry one.
    event.allowed = true;
  } else if (const std::optional<std::uint32_t> address = synthetic_.assign(query.name)) {
    event.allowed = true;
    event.connected = IpAddress::v4(*address).to_string();
    answer.address = *address;
  } else {
    answer.rcode = static_cast<std::uint8_t>(ipc::DnsRcode::ServFail);  // the range is used up
    event.reason = "no synthetic address left";
  }
  events_.network(event);
  WorkerReply r;
  r.kind = WorkerReply::Kind::Dns;
  r.dns = answer;
  reply(std::move(r));
}

void WorkerHost::on_tunnel_closed(const ipc::TunnelClosed& closed) {
  report_closed(open_, "TunnelClosed", closed.id, closed.bytes_up, closed.bytes_down,
                closed.duration_ms);
}

void WorkerHost::on_relay_closed(const ipc::RelayClosed& closed) {
  report_closed(relays_, "RelayClosed", closed.id, closed.bytes_up, closed.bytes_down,
                closed.duration_ms);
}

void WorkerHost::on_worker_log(const ipc::WorkerLog& log) {
  // SECURITY: the worker's only voice; bounded so a compromised one cannot flood it.
  if (++log_lines_ <= kMaxWorkerLogLines) events_.worker_log(log.text);
  if (log_lines_ == kMaxWorkerLogLines + 1)
    events_.worker_log("(further lines of the proxy worker dropped)");
}

void WorkerHost::report_closed(std::map<std::uint64_t, NetworkEvent>& open, std::string_view what,
                               std::uint64_t id, std::uint64_t bytes_up, std::uint64_t bytes_down,
                               std::uint32_t duration_ms) {
  auto it = open.find(id);
  // SECURITY: the ids are the supervisor's record of what it allowed; anything else is a lie.
  if (it == open.end()) return fault(std::string(what) + " for unknown id " + std::to_string(id));
  NetworkEvent event = std::move(it->second);
  open.erase(it);
  event.closed = true;
  event.bytes_up = bytes_up;
  event.bytes_down = bytes_down;
  event.duration_ms = duration_ms;
  events_.network(event);
}

// --- the event loop ---------------------------------------------------------------------------

std::vector<int> WorkerHost::poll_fds() const {
  std::vector<int> fds{pool_.wakeup_fd()};
  if (channel_) fds.push_back(channel_->fd());
  return fds;
}

void WorkerHost::on_readable(int fd) {
  flush_outbox();
  if (fd == pool_.wakeup_fd()) {
    answer_completions();
  } else if (channel_ && fd == channel_->fd()) {
    receive_from_worker();
  }
}

void WorkerHost::receive_from_worker() {
  // Drain everything queued, one datagram at a time.
  for (int i = 0; i < 256 && channel_; ++i) {
    try {
      ipc::ReceiveResult result = channel_->try_receive();
      if (result.status == ipc::ReceiveStatus::WouldBlock) return;
      if (result.status == ipc::ReceiveStatus::Closed) return fault("the proxy worker exited");
      ipc::dispatch(kRoutes, *this, *result.message);
    } catch (const ipc::ProtocolError& e) {
      return fault(std::string("protocol violation: ") + e.what());
    } catch (const platform::SysError& e) {
      return fault(e.what());
    }
  }
}

void WorkerHost::reply(WorkerReply r) {
  if (!channel_) return;
  if (outbox_.empty() && try_send(r)) return;
  if (!channel_) return;
  if (outbox_.size() >= options_.max_in_flight)
    return fault("the proxy worker does not read its answers");
  outbox_.push_back(std::move(r));
}

bool WorkerHost::try_send(WorkerReply& r) {
  try {
    if (r.kind == WorkerReply::Kind::LocalListener) {
      const int fd = r.fd.get();
      channel_->send(ipc::LocalListener{static_cast<std::uint16_t>(r.id)},
                     std::span<const int>(&fd, 1));
    } else if (r.kind == WorkerReply::Kind::TransparentStart) {
      const int fds[] = {r.fd.get(), r.second.get(), r.third.get()};
      channel_->send(r.transparent, fds);
    } else if (r.kind == WorkerReply::Kind::Dns) {
      channel_->send(r.dns);
    } else if (r.kind == WorkerReply::Kind::Relay) {
      const int fds[] = {r.fd.get(), r.second.get()};
      channel_->send(ipc::RelayStart{r.id}, fds);
    } else if (r.fd) {
      const int fd = r.fd.get();
      channel_->send(ipc::ConnectAllowed{r.id}, std::span<const int>(&fd, 1));
    } else {
      channel_->send(ipc::ConnectDenied{r.id, r.reason, r.text});
    }
    return true;
  } catch (const platform::SysError& e) {
    if (e.error_code() == EAGAIN || e.error_code() == EWOULDBLOCK) return false;
    fault(std::string("cannot answer the proxy worker: ") + e.what());
  } catch (const std::exception& e) {
    fault(std::string("cannot answer the proxy worker: ") + e.what());
  }
  return true;  // not queued: the worker is gone
}

void WorkerHost::flush_outbox() {
  while (channel_ && !outbox_.empty()) {
    if (!try_send(outbox_.front())) return;
    outbox_.pop_front();
  }
}

void WorkerHost::fault(const std::string& what) {
  outbox_.clear();
  // Requests not started yet are dropped: nothing is resolved or connected for a worker
  // that has been cut off.
  pool_.drop_queued();
  events_.worker_fault(WorkerFault{what});
  // SECURITY: a misbehaving worker is cut off at once; the sandbox's listeners die with it.
  channel_.reset();
  if (worker_pid_ > 0) {
    ::kill(worker_pid_, SIGKILL);
    int status = 0;
    platform::retry_eintr([&] { return ::waitpid(worker_pid_, &status, 0); });
    worker_pid_ = -1;
  }
  pending_.clear();
  // Inbound relays died with the worker: report them closed (without byte counts).
  for (auto& [id, event] : relays_) {
    event.closed = true;
    events_.network(event);
  }
  relays_.clear();
}

void WorkerHost::drain(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (channel_ && (!open_.empty() || !relays_.empty())) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    struct pollfd p {
      channel_->fd(), POLLIN, 0
    };
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return;
    receive_from_worker();
  }
}

void WorkerHost::stop() {
  pool_.stop();
  outbox_.clear();
  // Killed before its channel closes: a worker that saw the close first would report it as a
  // protocol violation by the supervisor.
  if (worker_pid_ > 0) ::kill(worker_pid_, SIGKILL);
  channel_.reset();
  if (worker_pid_ > 0) {
    int status = 0;
    platform::retry_eintr([&] { return ::waitpid(worker_pid_, &status, 0); });
    worker_pid_ = -1;
  }
  // Allowed connections still open when the sandbox ends are reported without byte counts.
  for (auto* open : {&open_, &relays_}) {
    for (auto& [id, event] : *open) {
      event.closed = true;
      events_.network(event);
    }
    open->clear();
  }
}

}  // namespace fence::supervisor
