// Every audit record's builder, in one place: the schema of docs/audit-log.md. The fields "v",
// "time" and "pid" are added by the sinks (AuditLog::write, AuditSyslog::send).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ipc/protocol.hpp"
#include "supervisor/audit/events.hpp"

namespace fence::supervisor {

// "http-connect", "http-forward", "socks5", "local-forward", "inbound".
std::string_view protocol_name(ConnectionKind kind);
// "policy", "resolve-failed", "non-public-address", "connect-failed", "timeout", "overloaded".
std::string_view deny_reason_name(ipc::DenyReason reason);

// {"event":"session_start","version":...,"argv":[...],"cwd":...,"uid":N,"pid":N,
//  "policy_sha256": sha256_hex(canonical_config_json),"features":{...}}
nlohmann::json session_start(const std::vector<std::string>& argv, const std::string& cwd,
                             uid_t uid, std::string_view canonical_config_json,
                             const nlohmann::json& features);

// {"event":"sandbox_ready","command_pid":N,"landlock_abi":N,"seccomp":bool}: what the finished
// sandbox enforces, as init measured it (session_start has what was asked for).
nlohmann::json sandbox_ready_record(const ipc::SandboxReady& ready);

// {"event":"network","protocol":"http-connect"|"http-forward"|"socks5",
//  "host":...,"port":N,"resolved":"198.51.100.10, 2001:db8::10","connected":"198.51.100.10",
//  "rule":"*.example.com","verdict":"allow"|"deny","reason":...,
//  "bytes_up":N,"bytes_down":N,"duration_ms":N}
nlohmann::json network_decision(std::string_view protocol, std::string_view host,
                                std::uint16_t port, std::string_view resolved,
                                std::string_view connected, std::string_view rule, bool allowed,
                                std::string_view reason, std::uint64_t bytes_up,
                                std::uint64_t bytes_down, std::uint64_t duration_ms);
// network_decision of an event; a refusal also carries "deny_reason" (deny_reason_name).
nlohmann::json network_record(const NetworkEvent& event);

// {"event":"network","protocol":"unix","path":...,"rule":"allowUnixSockets","verdict":"allow",
//  "sandbox_pid":N,"comm":...}
nlohmann::json unix_connect_record(const ipc::UnixConnect& connect);

// {"event":"violation","kind":"filesystem"|"syscall","operation":...,"sandbox_pid":N,
//  "comm":...,"errno":N[,"path":...]}
nlohmann::json violation_record(const ipc::Violation& violation);

// {"event":"command","source":"preflight"|"exec","argv":[...],"verdict":"allow"|"deny"
//  [,"rule":...,"matched":...][,"path":...][,"sandbox_pid":N,"comm":...]}
nlohmann::json command_record(const CommandDecision& decision);

// {"event":"worker_fault","what":...}
nlohmann::json worker_fault_record(const WorkerFault& fault);

// {"event":"session_end","exit_code":N | "signal":N,"duration_ms":N,"counts":{...}}
// Exactly one of exit_code / signal is written (signal wins if both are given).
nlohmann::json session_end(std::optional<int> exit_code, std::optional<int> signal,
                           std::uint64_t duration_ms, const nlohmann::json& counts);

}  // namespace fence::supervisor
