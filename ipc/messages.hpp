// Wire schemas and receiver-side validation for every message of protocol.hpp.
//
// Wire schema: each message is a cereal binary archive of its fields in declaration order,
// every string/list/bool/enum through the bounded helpers of bounded.hpp. Integers are host
// byte order. The whole payload must be consumed (see decode_payload in frame.hpp).
//
// validate(msg) returns an error text when a field is outside what the protocol permits, or
// nullopt. It is the second line of defence after decoding, and it is also applied by the
// encoder's callers in tests; Incoming::decode (channel.hpp) always runs it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "ipc/bounded.hpp"
#include "ipc/grammar.hpp"
#include "ipc/protocol.hpp"

namespace fence::ipc {

// --- serialization ---------------------------------------------------------------------------

template <typename Archive>
void serialize(Archive& ar, Hello& m) {
  ar(m.version, checked(m.role, Role::Supervisor, Role::ProxyWorker));
}

template <typename Archive>
void serialize(Archive& ar, LaunchSpec& m) {
  ar(bounded(m.argv, kMaxArgCount, kMaxArgLen), bounded(m.env, kMaxEnvCount, kMaxEnvLen),
     bounded(m.cwd, kMaxPathLen), bounded(m.readable, kMaxPathCount, kMaxPathLen),
     bounded(m.executable, kMaxPathCount, kMaxPathLen),
     bounded(m.writable, kMaxPathCount, kMaxPathLen),
     bounded(m.creatable, kMaxPathCount, kMaxPathLen),
     bounded(m.read_only, kMaxPathCount, kMaxPathLen),
     bounded(m.hidden, kMaxPathCount, kMaxPathLen),
     bounded(m.protected_names, kMaxNamePatternCount, kMaxNamePatternLen),
     bounded(m.protected_files, kMaxNamePatternCount, kMaxNamePatternLen),
     bounded(m.creatable_protected, kMaxNamePatternCount, kMaxNamePatternLen),
     checked(m.protect_bare_repositories), checked(m.allow_all_unix_sockets), checked(m.debug),
     m.http_proxy_port, m.socks_proxy_port, bounded(m.inbound_ports, kMaxPortCount),
     bounded(m.local_outbound_ports, kMaxPortCount),
     bounded(m.unix_sockets, kMaxSocketCount, kMaxPathLen), checked(m.allow_pty),
     bounded(m.devices, kMaxPathCount, kMaxPathLen), checked(m.new_session),
     checked(m.report_violations), checked(m.check_exec), checked(m.nested),
     bounded(m.exec_rules, kMaxExecRulesLen), checked(m.transparent), m.transparent_port,
     m.dns_port);
}

template <typename Archive>
void serialize(Archive& ar, TransparentReady& m) {
  ar(m.tcp_port, m.dns_port);
}

template <typename Archive>
void serialize(Archive& ar, TransparentStart& m) {
  ar(m.tcp_port, m.dns_port, checked(m.verify_names));
}

template <typename Archive>
void serialize(Archive& ar, DnsQuery& m) {
  ar(m.id, bounded(m.name, kMaxHostLen), m.type);
}

template <typename Archive>
void serialize(Archive& ar, DnsAnswer& m) {
  ar(m.id, m.rcode, m.address);
}

template <typename Archive>
void serialize(Archive& ar, LocalListenerReady& m) {
  ar(m.port);
}

template <typename Archive>
void serialize(Archive& ar, LocalListener& m) {
  ar(m.port);
}

template <typename Archive>
void serialize(Archive& ar, InboundOpen& m) {
  ar(m.id, m.port);
}

template <typename Archive>
void serialize(Archive& ar, InboundReady& m) {
  ar(m.id);
}

template <typename Archive>
void serialize(Archive& ar, InboundFailed& m) {
  ar(m.id, m.error);
}

template <typename Archive>
void serialize(Archive& ar, RelayStart& m) {
  ar(m.id);
}

template <typename Archive>
void serialize(Archive& ar, RelayClosed& m) {
  ar(m.id, m.bytes_up, m.bytes_down, m.duration_ms);
}

template <typename Archive>
void serialize(Archive& ar, Violation& m) {
  ar(checked(m.kind, ViolationKind::Syscall, ViolationKind::Filesystem), m.pid,
     bounded(m.comm, kMaxCommLen), bounded(m.operation, kMaxTextLen),
     bounded(m.detail, kMaxPathLen), m.error);
}

template <typename Archive>
void serialize(Archive& ar, ExecCheck& m) {
  ar(m.id, m.pid, bounded(m.comm, kMaxCommLen), bounded(m.path, kMaxPathLen),
     bounded(m.argv, kMaxArgCount, kMaxArgLen));
}

template <typename Archive>
void serialize(Archive& ar, ExecVerdict& m) {
  ar(m.id, checked(m.allowed));
}

template <typename Archive>
void serialize(Archive&, StartCommand&) {}

template <typename Archive>
void serialize(Archive& ar, UnixConnect& m) {
  ar(m.pid, bounded(m.comm, kMaxCommLen), bounded(m.path, kMaxPathLen));
}

template <typename Archive>
void serialize(Archive& ar, WorkerLog& m) {
  ar(bounded(m.text, kMaxTextLen));
}

template <typename Archive>
void serialize(Archive& ar, ListenersReady& m) {
  ar(m.http_port, m.socks_port);
}

template <typename Archive>
void serialize(Archive& ar, ProxyStart& m) {
  ar(m.max_tunnels, m.max_header_bytes, m.header_timeout_ms, m.idle_timeout_ms, checked(m.debug));
}

template <typename Archive>
void serialize(Archive& ar, ConnectRequest& m) {
  ar(m.id, bounded(m.host, kMaxHostLen), m.port, bounded(m.claimed_host, kMaxHostLen),
     checked(m.protocol, ProxyProtocol::HttpConnect, ProxyProtocol::Transparent));
}

template <typename Archive>
void serialize(Archive& ar, ConnectAllowed& m) {
  ar(m.id);
}

template <typename Archive>
void serialize(Archive& ar, ConnectDenied& m) {
  ar(m.id, checked(m.reason, DenyReason::Policy, DenyReason::Overloaded),
     bounded(m.text, kMaxReasonLen));
}

template <typename Archive>
void serialize(Archive& ar, TunnelClosed& m) {
  ar(m.id, m.bytes_up, m.bytes_down, m.duration_ms);
}

template <typename Archive>
void serialize(Archive& ar, SandboxReady& m) {
  ar(m.command_pid, m.landlock_abi, checked(m.seccomp),
     bounded(m.plan, kMaxPlanLines, kMaxTextLen));
}

template <typename Archive>
void serialize(Archive& ar, SetupFailed& m) {
  ar(checked(m.stage, SetupStage::Launcher, SetupStage::Command), bounded(m.step, kMaxTextLen),
     m.error, bounded(m.detail, kMaxDetailLen));
}

template <typename Archive>
void serialize(Archive& ar, ExecFailed& m) {
  ar(m.error);
}

template <typename Archive>
void serialize(Archive& ar, CommandExited& m) {
  ar(checked(m.signaled), m.status);
}

// --- validation --------------------------------------------------------------------------------

// Version == kProtocolVersion and a known role. Whether the role is the one expected on the
// channel is checked by Channel::receive, which knows the peer.
std::optional<std::string> validate(const Hello& m);
// argv non-empty with a non-empty argv[0]; env entries KEY=VALUE with a valid, unique KEY;
// cwd and every path list entry normalized absolute; name patterns relative, without empty,
// "." or ".." components, not starting with "**"; all bounds of the wire schema.
std::optional<std::string> validate(const LaunchSpec& m);
// 1 <= command_pid <= kMaxPid, landlock_abi <= kMaxLandlockAbi, plan bounds.
std::optional<std::string> validate(const SandboxReady& m);
// Non-empty step, 0 <= error <= kMaxErrno, string bounds.
std::optional<std::string> validate(const SetupFailed& m);
// 1 <= error <= kMaxErrno.
std::optional<std::string> validate(const ExecFailed& m);
// signaled: 1 <= status <= kMaxSignal; else 0 <= status <= kMaxExitCode.
std::optional<std::string> validate(const CommandExited& m);
std::optional<std::string> validate(const ListenersReady& m);
std::optional<std::string> validate(const ProxyStart& m);
std::optional<std::string> validate(const ConnectRequest& m);
std::optional<std::string> validate(const ConnectAllowed& m);
std::optional<std::string> validate(const ConnectDenied& m);
std::optional<std::string> validate(const TunnelClosed& m);
// Ports non-zero.
// Ports non-zero and distinct.
std::optional<std::string> validate(const TransparentReady& m);
std::optional<std::string> validate(const TransparentStart& m);
// name empty or is_valid_target_host, at most kMaxHostLen.
std::optional<std::string> validate(const DnsQuery& m);
// rcode NOERROR, SERVFAIL, NXDOMAIN or REFUSED; addresses only with NOERROR.
std::optional<std::string> validate(const DnsAnswer& m);
std::optional<std::string> validate(const LocalListenerReady& m);
std::optional<std::string> validate(const LocalListener& m);
std::optional<std::string> validate(const InboundOpen& m);
std::optional<std::string> validate(const InboundReady& m);
// 1 <= error <= kMaxErrno.
std::optional<std::string> validate(const InboundFailed& m);
std::optional<std::string> validate(const RelayStart& m);
std::optional<std::string> validate(const RelayClosed& m);
// 1 <= pid <= kMaxPid, text bounds, 0 <= error <= kMaxErrno.
std::optional<std::string> validate(const Violation& m);
// 1 <= pid <= kMaxPid, text bounds.
std::optional<std::string> validate(const ExecCheck& m);
std::optional<std::string> validate(const ExecVerdict& m);
std::optional<std::string> validate(const StartCommand& m);
std::optional<std::string> validate(const UnixConnect& m);
std::optional<std::string> validate(const WorkerLog& m);

}  // namespace fence::ipc
