#include "supervisor/network/upstream_connector.hpp"

#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "platform/tcp_listener.hpp"
#include "supervisor/policy/safe_text.hpp"

namespace fence::supervisor {

namespace {

using Clock = std::chrono::steady_clock;

std::string join(const std::vector<IpAddress>& addresses) {
  std::string out;
  for (const IpAddress& a : addresses) {
    if (!out.empty()) out += ", ";
    out += a.to_string();
  }
  return out;
}

void finish(ConnectOutcome& out, ipc::DenyReason reason, std::string text) {
  if (text.size() > ipc::kMaxReasonLen) text.resize(ipc::kMaxReasonLen);
  out.reason = reason;
  out.text = std::move(text);
}

// One connection attempt; on failure `error` is the errno (ETIMEDOUT for the deadline).
platform::UniqueFd connect_one(const IpAddress& a, std::uint16_t port, Clock::time_point deadline,
                               int& error) {
  platform::UniqueFd fd(::socket(a.is_v4() ? AF_INET : AF_INET6,
                                 SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_TCP));
  if (!fd) {
    error = errno;
    return {};
  }
  sockaddr_storage ss;
  const socklen_t len = a.to_sockaddr(port, ss);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&ss), len) != 0) {
    if (errno != EINPROGRESS) {
      error = errno;
      return {};
    }
    while (true) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        error = ETIMEDOUT;
        return {};
      }
      pollfd p{fd.get(), POLLOUT, 0};
      const int n = ::poll(&p, 1, static_cast<int>(left.count()));
      if (n < 0) {
        if (errno == EINTR) continue;
        error = errno;
        return {};
      }
      if (n == 0) continue;  // deadline re-checked above
      break;
    }
    int so_error = 0;
    socklen_t so_len = sizeof so_error;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &so_len) != 0) {
      error = errno;
      return {};
    }
    if (so_error != 0) {
      error = so_error;
      return {};
    }
  }
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
    error = errno;
    return {};
  }
  // A host-local target (allowLocalOutbound, allowLocalOutboundPorts) is reached over lo.
  platform::use_unpaced_congestion_control_if_local(fd.get());
  return fd;
}

std::string connect_error_text(int error, const IpAddress& a, std::uint16_t port) {
  const std::string ep = format_endpoint(a, port);
  switch (error) {
    case ECONNREFUSED:
      return "connection refused by " + ep;
    case ENETUNREACH:
      return "network unreachable for " + ep;
    case EHOSTUNREACH:
      return "host unreachable: " + ep;
    case ECONNRESET:
      return "connection reset by " + ep;
    default:
      return "connection to " + ep + " failed: " + std::strerror(error);
  }
}

// One lookup, through the injected resolver when there is one.
ResolveResult lookup(const std::string& host, const ConnectOptions& options) {
  return options.resolver ? options.resolver(host, options.resolve_timeout_ms)
                          : resolve_name(host, options.resolve_timeout_ms);
}

// The proxy's answer to CONNECT: its header block, at most this long.
constexpr std::size_t kMaxProxyAnswer = 8192;

bool send_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// Reads the proxy's answer up to the end of its header block, and not one byte more (the
// tunnel's first bytes may follow). Returns the status line, or "" with `error` set.
std::string read_proxy_answer(int fd, Clock::time_point deadline, std::string& error) {
  std::string seen;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      error = "no answer in time";
      return {};
    }
    pollfd p{fd, POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    char buf[kMaxProxyAnswer];
    const ssize_t got = ::recv(fd, buf, sizeof buf, MSG_PEEK);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      error = "closed the connection";
      return {};
    }
    // The terminator may straddle what was consumed before and what is peeked now: search
    // both, and consume exactly up to its end (what follows belongs to the tunnel), or all
    // that was peeked when it is not there yet (every peeked byte is then header).
    const std::string combined = seen + std::string(buf, static_cast<std::size_t>(got));
    const std::size_t from = seen.size() >= 3 ? seen.size() - 3 : 0;
    const std::size_t end = combined.find("\r\n\r\n", from);
    const std::size_t take =
        end != std::string::npos ? end + 4 - seen.size() : static_cast<std::size_t>(got);
    std::string chunk(take, '\0');
    if (::recv(fd, chunk.data(), take, 0) != static_cast<ssize_t>(take)) {
      error = "read failed";
      return {};
    }
    seen += chunk;
    if (end != std::string::npos) return seen.substr(0, seen.find("\r\n"));
    if (seen.size() >= kMaxProxyAnswer) {
      error = "answer too long";
      return {};
    }
  }
}

// network.defaultAction "proxy": through the upstream proxy, by CONNECT.
void via_upstream_proxy(ConnectOutcome& out, const NetworkPolicy& policy, const std::string& host,
                        std::uint16_t port, const ConnectOptions& options) {
  const std::string proxy =
      options.upstream_proxy_host + ":" + std::to_string(options.upstream_proxy_port);
  // SECURITY-RULES 2 on this route too: fence resolves the name itself (a denied name never
  // comes here, so nothing denied is resolved), checks every answer like a connection it makes
  // (no loopback, private, metadata or host-own address unless the policy opens it; never one
  // of fence's own listeners), and asks the proxy for exactly the address it checked.
  std::vector<IpAddress> targets;
  if (out.decision.literal) {
    targets.push_back(*out.decision.literal);
  } else {
    const ResolveResult rr = lookup(host, options);
    if (rr.overloaded || rr.timed_out || rr.error != 0 || rr.addresses.empty()) {
      finish(out,
             rr.overloaded  ? ipc::DenyReason::Overloaded
             : rr.timed_out ? ipc::DenyReason::Timeout
                            : ipc::DenyReason::ResolveFailed,
             "resolution failed: " + host + ": " +
                 (rr.addresses.empty() && rr.error == 0 ? "no addresses" : rr.error_text));
      return;
    }
    targets = rr.addresses;
  }
  out.resolved = join(targets);
  Decision grey{true, "defaultAction proxy", "no rule decided; through the upstream proxy"};
  grey.literal = out.decision.literal;
  Decision checked = evaluate_answer(policy, grey, port, targets, options.host_own);
  if (checked.allowed) checked = evaluate_endpoints(policy, std::move(checked), port, targets);
  if (!checked.allowed || !checked.chosen) {
    out.decision = checked;
    finish(out, checked.deny_reason, "blocked by network policy: " + host + " " + checked.reason);
    return;
  }
  const IpAddress chosen = *checked.chosen;
  out.route = "upstream_proxy";
  out.decision.rule = "defaultAction proxy";
  std::vector<IpAddress> addresses;
  if (const auto literal = parse_ip_literal(options.upstream_proxy_host)) {
    addresses.push_back(*literal);
  } else {
    const ResolveResult rr = lookup(options.upstream_proxy_host, options);
    if (rr.error != 0 || rr.timed_out || rr.overloaded || rr.addresses.empty()) {
      finish(out, ipc::DenyReason::ResolveFailed,
             "upstream proxy " + proxy + ": " +
                 (rr.error_text.empty() ? "no addresses" : rr.error_text));
      return;
    }
    addresses = rr.addresses;
  }
  // SECURITY-RULES 3: not even the configured proxy may be one of fence's own listeners.
  Decision endpoints{true, "defaultAction proxy", ""};
  endpoints =
      evaluate_endpoints(policy, std::move(endpoints), options.upstream_proxy_port, addresses);
  if (!endpoints.allowed) {
    finish(out, ipc::DenyReason::Policy, "upstream proxy " + proxy + ": " + endpoints.reason);
    return;
  }
  const auto deadline = Clock::now() + std::chrono::milliseconds(options.connect_timeout_ms);
  int error = 0;
  platform::UniqueFd fd;
  for (const IpAddress& a : addresses) {
    fd = connect_one(a, options.upstream_proxy_port, deadline, error);
    if (fd) {
      out.connected_address = a.to_string();
      break;
    }
  }
  if (!fd) {
    finish(out, error == ETIMEDOUT ? ipc::DenyReason::Timeout : ipc::DenyReason::ConnectFailed,
           "upstream proxy " + proxy + ": " + std::strerror(error));
    return;
  }
  const std::string target = format_endpoint(chosen, port);
  if (!send_all(fd.get(), "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n")) {
    finish(out, ipc::DenyReason::ConnectFailed, "upstream proxy " + proxy + ": send failed");
    return;
  }
  std::string why;
  const std::string status = read_proxy_answer(fd.get(), deadline, why);
  // "HTTP/1.1 200 Connection established": any 2xx.
  const bool ok =
      status.size() >= 12 && status.starts_with("HTTP/1.") && status[8] == ' ' && status[9] == '2';
  if (!ok) {
    if (why.empty()) why = "answered " + one_line(status.substr(0, 64));
    finish(out,
           status.size() >= 12 && status.substr(9, 3) == "403" ? ipc::DenyReason::Policy
                                                               : ipc::DenyReason::ConnectFailed,
           "upstream proxy " + proxy + " " + why);
    return;
  }
  out.decision.allowed = true;
  out.decision.chosen = chosen;
  out.decision.reason = "no rule decided; through the upstream proxy " + proxy + " to " + target;
  out.fd = std::move(fd);
}

}  // namespace

ConnectOutcome establish(const NetworkPolicy& policy, const std::string& host, std::uint16_t port,
                         const ConnectOptions& options) {
  ConnectOutcome out;
  out.decision = evaluate_name(policy, host, port);
  if (!out.decision.allowed && out.decision.no_rule && options.upstream_proxy_port != 0) {
    via_upstream_proxy(out, policy, host, port, options);
    return out;
  }
  if (!out.decision.allowed) {
    // SECURITY-RULES 3: decided on the name; nothing is resolved.
    finish(out, ipc::DenyReason::Policy, "blocked by network policy: " + out.decision.reason);
    return out;
  }

  std::vector<IpAddress> addresses;
  if (out.decision.literal) {
    addresses.push_back(*out.decision.literal);
  } else {
    const ResolveResult rr = lookup(host, options);
    if (rr.overloaded) {
      finish(out, ipc::DenyReason::Overloaded,
             "resolution of " + host + " refused: " + rr.error_text);
      return out;
    }
    if (rr.timed_out) {
      finish(out, ipc::DenyReason::Timeout, "resolution of " + host + " " + rr.error_text);
      return out;
    }
    if (rr.error != 0) {
      finish(out, ipc::DenyReason::ResolveFailed,
             "resolution failed: " + host + ": " + rr.error_text);
      return out;
    }
    if (rr.addresses.empty()) {
      finish(out, ipc::DenyReason::ResolveFailed, "resolution failed: " + host + ": no addresses");
      return out;
    }
    addresses = rr.addresses;
  }
  out.resolved = join(addresses);

  out.decision = evaluate_answer(policy, out.decision, port, addresses, options.host_own);
  if (!out.decision.allowed) {
    finish(out, out.decision.deny_reason,
           "blocked by network policy: " + host + " " + out.decision.reason);
    return out;
  }
  // SECURITY-RULES 3: fence's own listeners (the sandbox's proxies, the -p endpoints) are
  // never a target, whatever the rules allow.
  out.decision = evaluate_endpoints(policy, std::move(out.decision), port, addresses);
  if (!out.decision.allowed) {
    finish(out, out.decision.deny_reason, "blocked by network policy: " + out.decision.reason);
    return out;
  }

  // Every address in `addresses` passed evaluate_answer and evaluate_endpoints; the chosen one
  // comes first.
  const auto deadline = Clock::now() + std::chrono::milliseconds(options.connect_timeout_ms);
  int first_error = 0;
  const IpAddress* first_failed = nullptr;
  const IpAddress* timed_out = nullptr;
  for (const IpAddress& a : addresses) {
    int error = 0;
    platform::UniqueFd fd = connect_one(a, port, deadline, error);
    if (fd) {
      out.fd = std::move(fd);
      out.connected_address = a.to_string();
      out.decision.chosen = a;
      return out;
    }
    if (!first_failed) {
      first_failed = &a;
      first_error = error;
    }
    if (error == ETIMEDOUT) {  // the deadline covers all attempts
      timed_out = &a;
      break;
    }
  }
  if (timed_out) {
    finish(out, ipc::DenyReason::Timeout,
           "connection to " + format_endpoint(*timed_out, port) + " timed out after " +
               std::to_string(options.connect_timeout_ms) + " ms");
  } else {
    finish(out, ipc::DenyReason::ConnectFailed,
           connect_error_text(first_error, *first_failed, port));
  }
  return out;
}

ConnectOutcome establish_local(const NetworkPolicy& policy, std::uint16_t port,
                               const ConnectOptions& options) {
  ConnectOutcome out;
  out.decision = evaluate_local_forward(policy, port);
  if (!out.decision.allowed) {
    finish(out, ipc::DenyReason::Policy, "blocked by network policy: " + out.decision.reason);
    return out;
  }
  const std::vector<IpAddress> addresses = local_forward_addresses(policy, port);
  out.resolved = addresses.front().to_string();
  const auto deadline = Clock::now() + std::chrono::milliseconds(options.connect_timeout_ms);
  int first_error = 0;
  for (const IpAddress& a : addresses) {
    int error = 0;
    out.fd = connect_one(a, port, deadline, error);
    if (out.fd) {
      out.connected_address = a.to_string();
      out.decision.chosen = a;
      return out;
    }
    if (!first_error) first_error = error;
    if (error != ECONNREFUSED) break;  // only "nobody listens there" tries the next address
  }
  finish(out, first_error == ETIMEDOUT ? ipc::DenyReason::Timeout : ipc::DenyReason::ConnectFailed,
         connect_error_text(first_error, addresses.front(), port));
  return out;
}

std::vector<IpAddress> host_addresses() {
  std::vector<IpAddress> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    const socklen_t len =
        i->ifa_addr->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    if (auto a = IpAddress::from_sockaddr(i->ifa_addr, len)) {
      if (std::find(out.begin(), out.end(), *a) == out.end()) out.push_back(*a);
    }
  }
  ::freeifaddrs(list);
  return out;
}

}  // namespace fence::supervisor
