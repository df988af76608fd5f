#include "supervisor/audit/reporter.hpp"

#include <cstdio>

#include "supervisor/audit/audit_events.hpp"
#include "supervisor/audit/diagnostics.hpp"
#include "supervisor/policy/safe_text.hpp"

namespace fence::supervisor {

std::string describe_network_event(const NetworkEvent& e) {
  using P = ConnectionKind;
  const std::string target = e.host + ":" + std::to_string(e.port);
  const std::string counts = " (" + std::to_string(e.bytes_up) + " bytes up, " +
                             std::to_string(e.bytes_down) + " down, " +
                             std::to_string(e.duration_ms) + " ms)";
  if (e.kind == P::Inbound) {
    // host = the host-side client, port = the sandbox port it was carried to.
    const std::string inner = "127.0.0.1:" + std::to_string(e.port);
    if (e.closed) return "[fence:inbound] ✓ closed " + e.host + " -> " + inner + counts;
    if (e.allowed) return "[fence:inbound] ✓ " + e.host + " -> " + inner + " (" + e.rule + ")";
    return "[fence:inbound] ✗ " + e.host + " -> " + inner + " (" + e.reason + ")";
  }
  if (e.kind == P::Dns) {
    if (e.allowed)
      return "[fence:dns] ✓ " + e.host + (e.connected.empty() ? "" : " -> " + e.connected) + " (" +
             e.rule + ")";
    return "[fence:dns] ✗ " + e.host + " (" + (e.reason.empty() ? e.rule : e.reason) + ")";
  }
  if (e.kind == P::Transparent) {
    if (e.closed) return "[fence:transparent] ✓ closed " + target + counts;
    if (e.allowed)
      return "[fence:transparent] ✓ " + target + " -> " + e.connected + " (" + e.rule + ")";
    return "[fence:transparent] ✗ " + target + " (" + (e.reason.empty() ? e.rule : e.reason) + ")";
  }
  if (e.kind == P::LocalForward) {
    if (e.closed) return "[fence:local] ✓ closed " + target + counts;
    if (e.allowed)
      return "[fence:local] ✓ " + target + " -> host " + e.connected + " (" + e.rule + ")";
    return "[fence:local] ✗ " + target + " (" + (e.reason.empty() ? e.rule : e.reason) + ")";
  }
  const bool socks = e.kind == P::Socks5;
  const std::string line = socks ? "[fence:socks] " : "[fence:http] ";
  const std::string method = e.kind == P::HttpForward ? "HTTP" : "CONNECT";
  if (e.closed) return line + "✓ closed " + target + counts;
  if (e.allowed)
    return line + "✓ " + method + " " + target + " -> " + e.connected + " (" + e.rule + ")";
  // The status the worker answered with (client_session.cpp): 403 for a policy refusal.
  const std::string status =
      socks ? "" : (e.deny_reason == ipc::DenyReason::Policy ? "403 " : "502 ");
  return line + "✗ " + method + " " + status + target + " (" +
         (e.reason.empty() ? e.rule : e.reason) + ")";
}

Reporter::Reporter(bool debug, bool monitor, std::optional<AuditLog> audit,
                   std::optional<AuditSyslog> syslog)
    : debug_(debug), monitor_(monitor), audit_(std::move(audit)), syslog_(std::move(syslog)) {}

void Reporter::print(const std::string& line) const {
  write_diagnostic_line(line);
}

void Reporter::debug_line(const std::string& line) const {
  if (debug_) print(line);
}

void Reporter::record(const nlohmann::json& event) const {
  if (audit_) audit_->write(event);
  if (syslog_) syslog_->send(event);
}

void Reporter::network(const NetworkEvent& event) {
  if (debug_ || (monitor_ && !event.allowed)) print(describe_network_event(event));
  if (!event.closed) {
    if (event.kind == ConnectionKind::Inbound && event.allowed) ++inbound_;
    if (event.kind == ConnectionKind::Transparent) ++transparent_;
    if (event.kind == ConnectionKind::Dns) ++dns_;
    (event.allowed ? network_allowed_ : network_denied_)++;
  }
  if (!recording()) return;
  // One record per decision: refusals when they happen, allowed connections when they end
  // (with their byte counts and duration), DNS answers when they are given (no connection
  // follows them).
  if (event.closed || !event.allowed || event.kind == ConnectionKind::Dns)
    record(network_record(event));
}

void Reporter::worker_fault(const WorkerFault& fault) {
  ++worker_faults_;
  print("[fence:proxy] worker fault: " + fault.what + "; the sandbox has no network now");
  record(worker_fault_record(fault));
}

void Reporter::worker_log(const std::string& text) {
  print("[fence:proxy] " + text);
}

void Reporter::sandbox_ready(const ipc::SandboxReady& ready) {
  record(sandbox_ready_record(ready));
}

void Reporter::violation(const ipc::Violation& v) {
  ++violations_;
  const bool fs = v.kind == ipc::ViolationKind::Filesystem;
  if (debug_ || monitor_) {
    std::string line =
        fs ? "[fence:fs] ✗ " + v.operation + " " + v.detail : "[fence:syscall] ✗ " + v.operation;
    line += " (" + v.comm + ", pid " + std::to_string(v.pid) + ")";
    print(line);
  }
  record(violation_record(v));
}

void Reporter::unix_connect(const ipc::UnixConnect& c) {
  ++network_allowed_;
  if (debug_)
    print("[fence:unix] ✓ connect " + c.path + " (" + c.comm + ", pid " + std::to_string(c.pid) +
          ")");
  record(unix_connect_record(c));
}

void Reporter::command(const CommandDecision& d) {
  ++commands_checked_;
  if (d.blocked) ++commands_blocked_;
  std::string shown;
  for (const auto& a : d.argv) {
    shown += (shown.empty() ? "" : " ") + a;
    if (shown.size() > kMaxShownArgv) break;  // an argv may hold megabytes
  }
  shown = shortened(shown, kMaxShownArgv);
  // A shell walking PATH tries the same argv once per directory (/usr/bin/git, /bin/git):
  // one line for the attempt; the audit log keeps every exec.
  bool repeat = false;
  if (debug_ || monitor_) {
    std::string key = std::to_string(d.pid) + '\0' + d.rule + '\0' + shown;
    repeat = d.pid != 0 && key == last_command_line_;
    last_command_line_ = std::move(key);
  }
  if (!repeat && d.blocked && (debug_ || monitor_)) {
    std::string line = "[fence:cmd] ✗ " + shown + " (blocked by rule " + in_quotes(d.rule);
    if (d.pid) line += ", " + d.comm + " pid " + std::to_string(d.pid);
    print(line + ")");
  } else if (!repeat && !d.blocked && debug_) {
    print("[fence:cmd] ✓ " + d.source + " " + shown);
  }
  if (recording()) record(command_record(d));
}

nlohmann::json Reporter::counts() const {
  return {{"network_allowed", network_allowed_},
          {"network_denied", network_denied_},
          {"inbound", inbound_},
          {"transparent", transparent_},
          {"dns", dns_},
          {"worker_faults", worker_faults_},
          {"violations", violations_},
          {"commands_checked", commands_checked_},
          {"commands_blocked", commands_blocked_}};
}

}  // namespace fence::supervisor
