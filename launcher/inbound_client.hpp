// Inbound connections (-p PORT): the supervisor accepts on the host and asks init, which lives
// in the sandbox's network namespace, for a connection to 127.0.0.1:PORT there. init connects
// and hands the socket back (InboundReady) or says why not (InboundFailed); it never relays.
#pragma once

#include <poll.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "ipc/channel.hpp"
#include "platform/unique_fd.hpp"

namespace fence::launcher {

class InboundConnector {
 public:
  explicit InboundConnector(const std::vector<std::uint16_t>& ports)
      : ports_(ports.begin(), ports.end()) {}

  // Answers one InboundOpen, at once unless the connect is still in progress.
  // SECURITY: only the -p ports of the LaunchSpec may be asked for; anything else (or a
  // duplicate id) is a protocol violation of the supervisor.
  void open(ipc::Channel& channel, const ipc::InboundOpen& request);

  // Connects in progress, to be polled for POLLOUT.
  void add_poll_fds(std::vector<pollfd>& fds) const;
  // Handles a ready entry of add_poll_fds (and any connect past its deadline).
  void on_ready(ipc::Channel& channel, int fd);
  void expire(ipc::Channel& channel);
  // Milliseconds until the earliest deadline, or -1 when nothing is pending.
  int next_timeout_ms() const;

 private:
  struct Pending {
    std::uint64_t id;
    platform::UniqueFd fd;
    std::chrono::steady_clock::time_point deadline;
  };
  void finish(ipc::Channel& channel, Pending& pending, int error);

  std::set<std::uint16_t> ports_;
  std::map<int, Pending> pending_;  // by fd
  std::set<std::uint64_t> ids_;     // ids with a connect in progress
};

}  // namespace fence::launcher
