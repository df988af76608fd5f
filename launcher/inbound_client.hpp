// Inbound connections (-p PORT), init's side: the mirror of the supervisor's inbound host. The
// supervisor accepts on the host and asks init, which lives in the sandbox's network namespace,
// for a connection to 127.0.0.1:PORT there (InboundOpen). init connects and hands the socket
// back (InboundReady) or says why not (InboundFailed); it never relays.
//
// Trust: the request comes from the supervisor (SupervisorLink::on_inbound_open), but only the
// -p ports of the LaunchSpec may be asked for; the connect reaches whatever listens inside the
// sandbox, so the socket handed back carries sandbox-controlled bytes, which the proxy worker
// relays without parsing.
#pragma once

#include <poll.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "ipc/protocol.hpp"
#include "platform/unique_fd.hpp"

namespace fence::launcher {

class SupervisorLink;

class InboundClient {
 public:
  // `ports`: LaunchSpec::inbound_ports. Answers go out through `link`.
  InboundClient(const std::vector<std::uint16_t>& ports, SupervisorLink& link)
      : ports_(ports.begin(), ports.end()), link_(link) {}

  // Answers one InboundOpen, at once unless the connect is still in progress.
  // SECURITY: only the -p ports of the LaunchSpec may be asked for; anything else (or a
  // duplicate id) is a protocol violation of the supervisor (ipc::ProtocolError).
  void open(const ipc::InboundOpen& request);

  // Connects in progress, to be polled for POLLOUT.
  void add_poll_fds(std::vector<pollfd>& fds) const;
  // Handles a ready entry of add_poll_fds.
  void on_ready(int fd);
  // Answers every connect past its deadline.
  void expire();
  // Milliseconds until the earliest deadline, or -1 when nothing is pending.
  int next_timeout_ms() const;

 private:
  struct Pending {
    std::uint64_t id;
    platform::UniqueFd fd;
    std::chrono::steady_clock::time_point deadline;
  };
  void finish(Pending& pending, int error);

  std::set<std::uint16_t> ports_;
  SupervisorLink& link_;
  std::map<int, Pending> pending_;  // by fd
  std::set<std::uint64_t> ids_;     // ids with a connect in progress
};

}  // namespace fence::launcher
