// Inbound connections (-p [ADDR:]PORT): the supervisor listens on the host, and for every
// connection it accepts asks the launcher (init, inside the sandbox's network namespace) to
// connect to 127.0.0.1:PORT there (InboundOpen). The inner socket comes back as an fd
// (InboundReady) and the proxy worker relays the pair; nothing is parsed.
//
// A server that is not listening yet is retried (connection refused) every kRetryInterval
// until kRetryWindow after the accept; then the host connection is closed and the refusal
// reported. The host listeners are bound before the command runs, so a port in use is an
// error before anything starts.
#pragma once

#include <poll.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ipc/channel.hpp"
#include "platform/unique_fd.hpp"
#include "supervisor/audit/events.hpp"
#include "supervisor/network/exposed_port.hpp"
#include "supervisor/network/worker_host.hpp"

namespace fence::supervisor {

inline constexpr std::chrono::milliseconds kInboundRetryInterval{100};
inline constexpr std::chrono::milliseconds kInboundRetryWindow{5000};
// Host connections waiting for their inner end at once, and relayed at once: at either cap
// accepting pauses (the kernel's backlog holds the rest), so a flood of host connections can
// neither grow the supervisor nor exhaust the worker's descriptors.
inline constexpr std::size_t kMaxInboundPending = 256;
inline constexpr std::size_t kMaxInboundRelays = 1024;

// Where InboundOpen goes: the launcher's host (launcher_host.hpp) implements it.
class InboundOpener {
 public:
  virtual ~InboundOpener() = default;
  virtual void send_inbound_open(std::uint64_t id, std::uint16_t port) = 0;
};

class InboundForwarder {
 public:
  // Binds every listener (non-blocking). Throws platform::SysError naming the address when one
  // cannot be bound (e.g. "cannot listen on 127.0.0.1:8000: Address already in use").
  InboundForwarder(const std::vector<ExposedPort>& ports, EventSink& events);

  // `relays`: inbound relays the worker is running now.
  void add_poll_fds(std::vector<pollfd>& fds, std::size_t relays) const;
  bool owns(int fd) const;
  // A listener is readable: accept what is queued and ask the launcher for each.
  void on_readable(int fd, InboundOpener& launcher);
  // The launcher's answers.
  void on_ready(std::uint64_t id, platform::UniqueFd inner, WorkerHost* worker);
  void on_failed(std::uint64_t id, int error);
  // Retries that are due.
  void on_timer(InboundOpener& launcher);
  // Milliseconds until the next retry, -1 when none is waiting.
  int next_timeout_ms() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Listener {
    ExposedPort where;
    platform::UniqueFd fd;
  };
  struct Pending {
    std::uint16_t port = 0;
    std::string rule;  // "-p 127.0.0.1:8000"
    std::string peer;  // the host client, "127.0.0.1:51234"
    platform::UniqueFd outer;
    Clock::time_point accepted;
    std::optional<Clock::time_point> retry_at;  // set: waiting to ask again
    bool asked = false;                         // an InboundOpen is outstanding
  };
  void ask(InboundOpener& launcher, std::uint64_t id, Pending& pending);
  void refuse(Pending& pending, const std::string& reason);
  static NetworkEvent event_for(const Pending& pending);

  std::vector<Listener> listeners_;
  std::map<std::uint64_t, Pending> pending_;
  std::uint64_t next_id_ = 1;
  EventSink& events_;
};

}  // namespace fence::supervisor
