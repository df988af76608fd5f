#include "supervisor/audit/audit_events.hpp"

#include <unistd.h>

#include "supervisor/audit/sha256.hpp"

namespace fence::supervisor {

std::string_view protocol_name(ConnectionKind kind) {
  switch (kind) {
    case ConnectionKind::HttpConnect:
      return "http-connect";
    case ConnectionKind::HttpForward:
      return "http-forward";
    case ConnectionKind::Socks5:
      return "socks5";
    case ConnectionKind::LocalForward:
      return "local-forward";
    case ConnectionKind::Inbound:
      return "inbound";
    case ConnectionKind::Transparent:
      return "transparent";
    case ConnectionKind::Dns:
      return "dns";
  }
  return "unknown";
}

std::string_view deny_reason_name(ipc::DenyReason reason) {
  switch (reason) {
    case ipc::DenyReason::Policy:
      return "policy";
    case ipc::DenyReason::ResolveFailed:
      return "resolve-failed";
    case ipc::DenyReason::NonPublicAddress:
      return "non-public-address";
    case ipc::DenyReason::ConnectFailed:
      return "connect-failed";
    case ipc::DenyReason::Timeout:
      return "timeout";
    case ipc::DenyReason::Overloaded:
      return "overloaded";
  }
  return "unknown";
}

nlohmann::json session_start(const std::vector<std::string>& argv, const std::string& cwd,
                             uid_t uid, std::string_view canonical_config_json,
                             const nlohmann::json& features) {
  return nlohmann::json{{"event", "session_start"},
                        {"version", FENCE_VERSION},
                        {"argv", argv},
                        {"cwd", cwd},
                        {"uid", static_cast<std::uint64_t>(uid)},
                        {"pid", static_cast<std::int64_t>(::getpid())},
                        {"policy_sha256", sha256_hex(canonical_config_json)},
                        {"features", features}};
}

nlohmann::json network_decision(std::string_view protocol, std::string_view host,
                                std::uint16_t port, std::string_view resolved,
                                std::string_view connected, std::string_view rule, bool allowed,
                                std::string_view reason, std::uint64_t bytes_up,
                                std::uint64_t bytes_down, std::uint64_t duration_ms) {
  return nlohmann::json{{"event", "network"},
                        {"protocol", protocol},
                        {"host", host},
                        {"port", port},
                        {"resolved", resolved},
                        {"connected", connected},
                        {"rule", rule},
                        {"verdict", allowed ? "allow" : "deny"},
                        {"reason", reason},
                        {"bytes_up", bytes_up},
                        {"bytes_down", bytes_down},
                        {"duration_ms", duration_ms}};
}

nlohmann::json sandbox_ready_record(const ipc::SandboxReady& ready) {
  return {{"event", "sandbox_ready"},
          {"command_pid", ready.command_pid},
          {"landlock_abi", ready.landlock_abi},
          {"seccomp", ready.seccomp}};
}

nlohmann::json network_record(const NetworkEvent& e) {
  nlohmann::json record =
      network_decision(protocol_name(e.kind), e.host, e.port, e.resolved, e.connected, e.rule,
                       e.allowed, e.reason, e.bytes_up, e.bytes_down, e.duration_ms);
  if (!e.allowed) record["deny_reason"] = deny_reason_name(e.deny_reason);
  if (!e.route.empty()) record["route"] = e.route;
  return record;
}

nlohmann::json unix_connect_record(const ipc::UnixConnect& c) {
  return {
      {"event", "network"}, {"protocol", "unix"},   {"path", c.path}, {"rule", "allowUnixSockets"},
      {"verdict", "allow"}, {"sandbox_pid", c.pid}, {"comm", c.comm}};
}

nlohmann::json violation_record(const ipc::Violation& v) {
  const bool fs = v.kind == ipc::ViolationKind::Filesystem;
  nlohmann::json event = {{"event", "violation"},     {"kind", fs ? "filesystem" : "syscall"},
                          {"operation", v.operation}, {"sandbox_pid", v.pid},
                          {"comm", v.comm},           {"errno", v.error}};
  if (!v.detail.empty()) event["path"] = v.detail;
  return event;
}

nlohmann::json command_record(const CommandDecision& d) {
  nlohmann::json event = {{"event", "command"},
                          {"source", d.source},
                          {"argv", d.argv},
                          {"verdict", d.blocked ? "deny" : "allow"}};
  if (d.blocked) {
    event["rule"] = d.rule;
    event["matched"] = d.command;
  }
  if (!d.path.empty()) event["path"] = d.path;
  if (d.pid) {
    event["sandbox_pid"] = d.pid;
    event["comm"] = d.comm;
  }
  return event;
}

nlohmann::json worker_fault_record(const WorkerFault& fault) {
  return {{"event", "worker_fault"}, {"what", fault.what}};
}

nlohmann::json session_end(std::optional<int> exit_code, std::optional<int> signal,
                           std::uint64_t duration_ms, const nlohmann::json& counts) {
  nlohmann::json e{{"event", "session_end"}, {"duration_ms", duration_ms}, {"counts", counts}};
  if (signal) {
    e["signal"] = *signal;
  } else {
    e["exit_code"] = exit_code.value_or(0);
  }
  return e;
}

}  // namespace fence::supervisor
