// What a run reports, as values. The network room, the launcher's host and the main flow
// produce these; the Reporter (reporter.hpp) turns each into its -d / -m line, its counter
// and its audit record (audit_events.hpp). EventSink is where they are handed over: the
// Reporter is the sink of a run; tests hold their own.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ipc/protocol.hpp"

namespace fence::supervisor {

// What a network event is about: a request of the worker (its protocol), or a -p connection
// carried in from the host (the supervisor's own; never on the wire).
enum class ConnectionKind {
  HttpConnect,
  HttpForward,
  Socks5,
  LocalForward,
  Inbound,
  Transparent,  // a connection the transparent path redirected (host: the name it stands for)
  Dns,          // a DNS query answered by fence (port 53; connected: the synthetic address)
};

constexpr ConnectionKind kind_of(ipc::ProxyProtocol protocol) {
  switch (protocol) {
    case ipc::ProxyProtocol::HttpConnect:
      return ConnectionKind::HttpConnect;
    case ipc::ProxyProtocol::HttpForward:
      return ConnectionKind::HttpForward;
    case ipc::ProxyProtocol::Socks5:
      return ConnectionKind::Socks5;
    case ipc::ProxyProtocol::LocalForward:
      return ConnectionKind::LocalForward;
    case ipc::ProxyProtocol::Transparent:
      return ConnectionKind::Transparent;
  }
  return ConnectionKind::HttpConnect;
}

// One network decision: reported when it is made, and again (closed, with counts) when an
// allowed connection ends.
struct NetworkEvent {
  ConnectionKind kind = ConnectionKind::HttpConnect;
  std::string host;
  std::uint16_t port = 0;
  bool allowed = false;
  // Refused: why, as the value the worker answered the client with (403 for Policy, 502 else).
  ipc::DenyReason deny_reason = ipc::DenyReason::Policy;
  std::string rule;       // the rule that decided, or "default deny"
  std::string reason;     // the text the client was given (empty when allowed)
  std::string resolved;   // the name's addresses, if resolved
  std::string connected;  // the address connected to
  std::string route;      // "" direct; "upstream_proxy" (network.defaultAction "proxy")
  std::uint64_t bytes_up = 0, bytes_down = 0;
  std::uint32_t duration_ms = 0;
  bool closed = false;  // a TunnelClosed / RelayClosed report (allowed connections end with one)
};

// A violation or fault of the proxy worker; it has been cut off.
struct WorkerFault {
  std::string what;
};

// A decision of the command policy: fence's own command before it starts, or an execve inside.
struct CommandDecision {
  std::string source;             // "preflight" (fence's own argv / -c) or "exec" (runtime)
  std::vector<std::string> argv;  // what was checked
  std::string path;               // exec: the path given to execve
  bool blocked = false;
  std::string rule;       // the deny rule that matched
  std::string command;    // the simple command that matched it
  std::uint32_t pid = 0;  // exec: pid inside the sandbox
  std::string comm;       // exec: the calling process's name
};

class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void network(const NetworkEvent& event) = 0;
  virtual void worker_fault(const WorkerFault& fault) = 0;
  // A diagnostic line of the proxy worker (hostile text: displayed escaped).
  virtual void worker_log(const std::string& text) = 0;
  // The sandbox is complete: what init measured it enforces.
  virtual void sandbox_ready(const ipc::SandboxReady& ready) = 0;
  virtual void violation(const ipc::Violation& violation) = 0;
  // A connect to a listed host socket (allowUnixSockets), performed by init.
  virtual void unix_connect(const ipc::UnixConnect& connect) = 0;
  virtual void command(const CommandDecision& decision) = 0;
};

}  // namespace fence::supervisor
