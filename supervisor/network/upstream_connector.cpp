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

}  // namespace

ConnectOutcome establish(const NetworkPolicy& policy, const std::string& host, std::uint16_t port,
                         const ConnectOptions& options) {
  ConnectOutcome out;
  out.decision = evaluate_name(policy, host, port);
  if (!out.decision.allowed) {
    // SECURITY-RULES 3: decided on the name; nothing is resolved.
    finish(out, ipc::DenyReason::Policy, "blocked by network policy: " + out.decision.reason);
    return out;
  }

  std::vector<IpAddress> addresses;
  if (out.decision.literal) {
    addresses.push_back(*out.decision.literal);
  } else {
    const ResolveResult rr = options.resolver ? options.resolver(host, options.resolve_timeout_ms)
                                              : resolve_name(host, options.resolve_timeout_ms);
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
