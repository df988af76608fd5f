// Where everything that happens in a run is reported: stderr lines for -d (everything) and -m
// (only what was blocked), the audit log file and the syslog socket. One place, so that every
// source (network, inbound, violations, commands, worker faults) is reported the same way and
// counted for session_end.
//
// Lines go to stderr (or the --fence-log-file, diagnostics.hpp), never into the command's
// stdout, prefixed by their source:
// [fence:http] [fence:socks] [fence:inbound] [fence:local] [fence:fs] [fence:syscall] [fence:cmd].
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ipc/protocol.hpp"
#include "supervisor/audit/audit_log.hpp"
#include "supervisor/audit/audit_syslog.hpp"
#include "supervisor/audit/events.hpp"

namespace fence::supervisor {

class Reporter final : public EventSink {
 public:
  // Bytes of an argv shown in a -m / -d line (the audit record keeps all of it).
  static constexpr std::size_t kMaxShownArgv = 2048;

  Reporter(bool debug, bool monitor, std::optional<AuditLog> audit,
           std::optional<AuditSyslog> syslog);

  bool debug() const { return debug_; }
  bool monitor() const { return monitor_; }
  // True when anything records events (audit file or syslog).
  bool recording() const { return audit_.has_value() || syslog_.has_value(); }

  // A -d line (printed only with -d).
  void debug_line(const std::string& line) const;
  // A record for the audit file and syslog ("v", "time" and "pid" are added).
  void record(const nlohmann::json& event) const;

  // EventSink: each event's line (for -d, or -m when refused), counter and record.
  void network(const NetworkEvent& event) override;
  void worker_fault(const WorkerFault& fault) override;
  // "[fence:proxy] TEXT", always printed.
  void worker_log(const std::string& text) override;
  void sandbox_ready(const ipc::SandboxReady& ready) override;
  void violation(const ipc::Violation& violation) override;
  void unix_connect(const ipc::UnixConnect& connect) override;
  void command(const CommandDecision& decision) override;

  // Totals for session_end.
  nlohmann::json counts() const;

 private:
  void print(const std::string& line) const;

  bool debug_;
  bool monitor_;
  std::optional<AuditLog> audit_;
  std::optional<AuditSyslog> syslog_;
  std::string last_command_line_;  // pid, rule and argv of the last command line printed
  std::uint64_t network_allowed_ = 0, network_denied_ = 0, inbound_ = 0, transparent_ = 0, dns_ = 0,
                worker_faults_ = 0, violations_ = 0, commands_blocked_ = 0, commands_checked_ = 0;
};

// The stderr line for a network event (without the trailing newline).
std::string describe_network_event(const NetworkEvent& e);

}  // namespace fence::supervisor
