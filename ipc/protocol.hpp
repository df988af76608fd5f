// The whole fence IPC protocol in one place: every message, its numeric type, who may send it,
// when, and how often. Bump kProtocolVersion on ANY change to this file's wire formats.
//
// Channels (one socketpair each, AF_UNIX SOCK_SEQPACKET, one datagram = one message):
//   supervisor <-> launcher      (launcher end at fd 3 of fence-launcher)
//   supervisor <-> proxy worker  (worker end at fd 3 of fence-proxy-worker)
// The identity of a peer is the channel a message arrived on, never anything in the message.
//
// Every message struct below says: sender, when, and how the receiver validates it. The
// receiver calls `validate(msg)` (declared next to the struct) after decoding; any failure is a
// protocol violation that ends the channel.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fence::ipc {

inline constexpr std::uint32_t kMagic = 0x46454e43;   // "FENC"
inline constexpr std::uint16_t kProtocolVersion = 5;  // bump on any change
// A payload travels in its datagram up to kMaxPayload bytes. Messages whose rule says `large`
// (an argv and environment as large as the kernel accepts for execve) may be bigger: their
// payload then travels in a sealed memfd attached as the last fd (frame.hpp), up to
// kMaxLargePayload bytes.
inline constexpr std::size_t kMaxPayload = 64 * 1024;
inline constexpr std::size_t kMaxLargePayload = 16 * 1024 * 1024;
inline constexpr std::size_t kMaxFdsPerMessage = 4;

// Bounds used by message schemas. Checked before any allocation while decoding.
inline constexpr std::size_t kMaxPathLen = 4096;
inline constexpr std::size_t kMaxPathCount = 512;
// argv and environment: as the kernel allows for execve (MAX_ARG_STRLEN, 131072 bytes with the
// NUL, per string; ARG_MAX, at most 3/4 of an 8 MiB stack with every string and its pointer
// counted, for all of them). The counts only bound what kMaxLargePayload already bounds.
inline constexpr std::size_t kMaxArgLen = 128 * 1024 - 1;
inline constexpr std::size_t kMaxArgBytes = 6 * 1024 * 1024;
inline constexpr std::size_t kMaxArgCount = kMaxArgBytes / 8;
inline constexpr std::size_t kMaxEnvCount = kMaxArgCount;
inline constexpr std::size_t kMaxEnvLen = kMaxArgLen;
inline constexpr std::size_t kMaxTextLen = 1024;
inline constexpr std::size_t kMaxPlanLines = 512;
inline constexpr std::size_t kMaxPortCount = 256;        // -p ports, allowLocalOutboundPorts
inline constexpr std::size_t kMaxSocketCount = 64;       // allowUnixSockets entries
inline constexpr std::size_t kMaxNamePatternCount = 64;  // protected name patterns, per list
inline constexpr std::size_t kMaxNamePatternLen = 256;

enum class Role : std::uint8_t { Supervisor = 1, Launcher = 2, ProxyWorker = 3 };

enum class MessageType : std::uint16_t {
  Hello = 1,
  LaunchSpec = 2,
  SandboxReady = 3,
  SetupFailed = 4,
  ExecFailed = 5,
  CommandExited = 6,
  ListenersReady = 7,
  ProxyStart = 8,
  ConnectRequest = 9,
  ConnectAllowed = 10,
  ConnectDenied = 11,
  TunnelClosed = 12,
  LocalListenerReady = 13,
  LocalListener = 14,
  InboundOpen = 15,
  InboundReady = 16,
  InboundFailed = 17,
  RelayStart = 18,
  RelayClosed = 19,
  Violation = 20,
  ExecCheck = 21,
  ExecVerdict = 22,
  StartCommand = 23,
  UnixConnect = 24,
  WorkerLog = 25,
};

// Bounds of the network messages.
inline constexpr std::size_t kMaxHostLen = 253;
inline constexpr std::size_t kMaxReasonLen = 256;

// ---------------------------------------------------------------------------------------------
// Hello — first message on every channel, in both directions, exactly once.
// Receiver checks: version == kProtocolVersion, role == the role expected on this channel.
struct Hello {
  std::uint16_t version = kProtocolVersion;
  Role role = Role::Supervisor;
};

// LaunchSpec — supervisor -> launcher, once, after Hello. Everything the launcher needs to
// build the sandbox. Carries 3 fds: the command's stdin, stdout and stderr (fence's own; the
// launcher's standard streams are /dev/null, so only the command ever uses these). Large. All paths
// are absolute, normalized, symlink-free as resolved by the supervisor; the launcher re-opens each
// with RESOLVE_NO_SYMLINKS and fails closed if one has changed into a symlink since. Receiver
// checks: absolute paths without "..", NUL-free strings, argv non-empty, env entries of the form
// KEY=VALUE with a valid KEY.
struct LaunchSpec {
  std::vector<std::string> argv;        // exact argv; argv[0] is searched in PATH inside
  std::vector<std::string> env;         // KEY=VALUE, already sanitized by the supervisor
  std::string cwd;                      // working directory inside the sandbox
  std::vector<std::string> readable;    // tier allowRead: read, list, execute
  std::vector<std::string> executable;  // tier allowExecute: read files, execute; no listing
  std::vector<std::string> writable;    // tier allowWrite: bound read-write, all rights
  std::vector<std::string> read_only;   // denyWrite + always-protected: read-only bind on top
  std::vector<std::string> hidden;      // denyRead: masked (empty, read-only)
  bool host_tmp = false;                // allowWrite contains /tmp: host /tmp instead of tmpfs
  // Protected at any depth below a writable root (launcher/protected_names.hpp): relative
  // component patterns ("*", "?" within a component, "**" for any number of them).
  std::vector<std::string> protected_names;      // the name and everything beneath it
  std::vector<std::string> protected_files;      // the name, unless it is a directory
  std::vector<std::string> creatable_protected;  // creation exceptions (git's sample hooks)
  // allowAllUnixSockets: any AF_UNIX socket, connect unmediated. Otherwise a non-empty
  // unix_sockets (below) permits stream/seqpacket sockets whose connects init mediates.
  bool allow_all_unix_sockets = false;
  bool debug = false;                    // launcher reports its plan in SandboxReady
  std::uint16_t http_proxy_port = 3128;  // listener ports inside the sandbox's loopback
  std::uint16_t socks_proxy_port = 1080;
  // Localhost and inbound (docs/configuration.md, "network"). Port lists: 1..65535, unique,
  // none equal to a proxy port.
  bool allow_local_binding = false;                 // the command may bind any TCP port
  std::vector<std::uint16_t> bind_ports;            // ...or only these (the -p ports)
  std::vector<std::uint16_t> inbound_ports;         // -p: InboundOpen may name these
  std::vector<std::uint16_t> local_outbound_ports;  // transparent listeners to create
  std::vector<std::string> unix_sockets;            // host sockets made visible (normalized paths)
  bool allow_pty = false;                           // the command may open /dev/ptmx
  // Observability (docs/monitoring.md).
  bool report_violations = false;  // denied syscalls and writes reported as Violation
  bool check_exec = false;         // every execve inside is asked about with ExecCheck
};

// SandboxReady — launcher -> supervisor, once, after the sandbox is complete and just before
// exec of the command. Receiver checks: bounded line count/length, landlock_abi in [0, 64].
struct SandboxReady {
  std::uint32_t command_pid = 0;   // pid of the command as seen from the host pid namespace
  std::uint32_t landlock_abi = 0;  // ABI actually enforced
  bool seccomp = false;            // seccomp filter installed
  std::vector<std::string> plan;   // human-readable sandbox plan (only when debug)
};

// SetupFailed — launcher -> supervisor, at most once, instead of SandboxReady. The command was
// NOT run. Receiver checks: bounded strings, errno in [0, 4096].
struct SetupFailed {
  std::string step;        // plan step that failed, e.g. "landlock: restrict_self"
  std::int32_t error = 0;  // errno
  std::string detail;      // path or extra context
};

// ExecFailed — launcher -> supervisor, at most once, after SandboxReady when execve of the
// command failed (not found / not executable). Receiver checks: errno in [1, 4096].
struct ExecFailed {
  std::int32_t error = 0;
};

// CommandExited — launcher -> supervisor, once, when the command (the sandbox's main process)
// has ended. Receiver checks: signaled => 1 <= status <= 64, else 0 <= status <= 255.
struct CommandExited {
  bool signaled = false;
  std::int32_t status = 0;  // exit code, or signal number when signaled
};

// ---------------------------------------------------------------------------------------------
// Network (supervisor <-> launcher, supervisor <-> proxy worker).

// ListenersReady — launcher -> supervisor, once, after lo is up and before the command is
// forked. Carries 2 fds: the listening HTTP proxy socket and the listening SOCKS5 socket, both
// bound to 127.0.0.1 inside the sandbox's network namespace (a socket keeps the namespace it
// was created in). Receiver checks: ports in 1..65535 and equal to the LaunchSpec's; each fd
// is a listening AF_INET stream socket (SO_ACCEPTCONN, SO_DOMAIN, SO_TYPE).
struct ListenersReady {
  std::uint16_t http_port = 0;
  std::uint16_t socks_port = 0;
};

// ProxyStart — supervisor -> proxy worker, once, after Hello. Carries the 2 listening fds of
// ListenersReady (HTTP first) and the worker's limits. Receiver checks: limits in range.
struct ProxyStart {
  std::uint32_t max_tunnels = 4096;         // open client connections at once
  std::uint32_t max_header_bytes = 16384;   // request line + headers (HTTP), whole greeting (SOCKS)
  std::uint32_t header_timeout_ms = 10000;  // to receive a complete request / greeting
  std::uint32_t idle_timeout_ms = 300000;   // a tunnel with no traffic either way
  bool debug = false;
};

// LocalForward: a connection accepted on a transparent local listener (allowLocalOutboundPorts).
// Inbound: a -p connection; never sent by the worker (only names events in the supervisor).
enum class ProxyProtocol : std::uint8_t {
  HttpConnect = 1,
  HttpForward = 2,
  Socks5 = 3,
  LocalForward = 4,
  Inbound = 5,
};

// ConnectRequest — proxy worker -> supervisor, any number, after Hello. The worker asks for a
// connection to host:port on behalf of one client. Receiver checks: id not already pending
// (ids are the worker's; the supervisor never trusts them for anything but matching the
// reply), host is a DNS name ([A-Za-z0-9-.], labels 1..63, total <= 253) or an IPv4 literal
// or an IPv6 literal (no brackets, no zone), port 1..65535, protocol known. The number of
// pending requests is capped; over the cap is a protocol violation.
struct ConnectRequest {
  std::uint64_t id = 0;
  std::string host;
  std::uint16_t port = 0;
  ProxyProtocol protocol = ProxyProtocol::HttpConnect;
};

// ConnectAllowed — supervisor -> proxy worker, answers one ConnectRequest. Carries 1 fd: a TCP
// socket already connected to exactly the address the supervisor checked. Receiver checks: id
// is one it asked for and not yet answered.
struct ConnectAllowed {
  std::uint64_t id = 0;
};

enum class DenyReason : std::uint8_t {
  Policy = 1,            // no rule allows the name (or a deny rule matches)
  ResolveFailed = 2,     // the name did not resolve
  NonPublicAddress = 3,  // resolved to loopback/private/link-local/... and the policy forbids it
  ConnectFailed = 4,     // refused / unreachable
  Timeout = 5,           // resolving or connecting took too long
  Overloaded = 6,        // too many requests in flight
};

// ConnectDenied — supervisor -> proxy worker, answers one ConnectRequest. Receiver checks: id
// is pending, reason known, text bounded. `text` is shown to the client (403/502 body).
struct ConnectDenied {
  std::uint64_t id = 0;
  DenyReason reason = DenyReason::Policy;
  std::string text;
};

// TunnelClosed — proxy worker -> supervisor, once per ConnectAllowed, when the client
// connection that used it has ended. Receiver checks: id was allowed and is not closed yet.
// The counts are the worker's and only feed the audit log.
struct TunnelClosed {
  std::uint64_t id = 0;
  std::uint64_t bytes_up = 0;    // client -> upstream
  std::uint64_t bytes_down = 0;  // upstream -> client
  std::uint32_t duration_ms = 0;
};

// ---------------------------------------------------------------------------------------------
// Localhost and inbound.

// LocalListenerReady — launcher -> supervisor, once per LaunchSpec::local_outbound_ports entry,
// after ListenersReady. Carries 1 fd: a listening socket on 127.0.0.1:port inside the sandbox.
// Receiver checks: port is in local_outbound_ports and not reported before; the fd is a
// listening AF_INET stream socket.
struct LocalListenerReady {
  std::uint16_t port = 0;
};

// LocalListener — supervisor -> proxy worker, once per transparent port, after ProxyStart.
// Carries 1 fd (the listener). The worker accepts on it and asks with ConnectRequest{host
// "127.0.0.1", port, LocalForward}; the supervisor decides as for any request. Receiver
// checks: port non-zero, not given before.
struct LocalListener {
  std::uint16_t port = 0;
};

// InboundOpen — supervisor -> launcher, once per connection accepted on a -p host listener.
// Asks init to connect to 127.0.0.1:port inside the sandbox. Receiver checks: port is one of
// LaunchSpec::inbound_ports (anything else is a protocol violation), id not pending.
struct InboundOpen {
  std::uint64_t id = 0;
  std::uint16_t port = 0;
};

// InboundReady — launcher -> supervisor, answers one InboundOpen. Carries 1 fd: the connected
// inner socket. Receiver checks: id pending; the fd is a connected AF_INET stream socket.
struct InboundReady {
  std::uint64_t id = 0;
};

// InboundFailed — launcher -> supervisor, answers one InboundOpen when connecting failed.
// Receiver checks: id pending, 1 <= error <= 4096.
struct InboundFailed {
  std::uint64_t id = 0;
  std::int32_t error = 0;
};

// RelayStart — supervisor -> proxy worker, any number. Carries 2 fds: the accepted host
// connection, then the inner connection; the worker relays bytes between them (no parsing).
// Receiver checks: id not in use.
struct RelayStart {
  std::uint64_t id = 0;
};

// RelayClosed — proxy worker -> supervisor, once per RelayStart, when the relay has ended.
// Receiver checks: id was started and is not closed yet. Counts only feed the audit log.
struct RelayClosed {
  std::uint64_t id = 0;
  std::uint64_t bytes_up = 0;    // host client -> sandbox server
  std::uint64_t bytes_down = 0;  // sandbox server -> host client
  std::uint32_t duration_ms = 0;
};

// ---------------------------------------------------------------------------------------------
// Observability: violations and the runtime command policy (launcher -> supervisor).

enum class ViolationKind : std::uint8_t {
  Syscall = 1,     // a syscall the seccomp policy denies; operation = syscall name
  Filesystem = 2,  // a write the filesystem policy denies; operation = what, detail = path
};

// Violation — launcher -> supervisor, any number, only when LaunchSpec::report_violations.
// Reported by init, which saw the attempt; the kernel mechanisms are what refused it. The
// fields come from the sandbox (comm, paths) and are only displayed and logged. Receiver
// checks: kind known, 1 <= pid <= kMaxPid, bounded NUL-free strings.
struct Violation {
  ViolationKind kind = ViolationKind::Syscall;
  std::uint32_t pid = 0;   // in the sandbox's pid namespace
  std::string comm;        // the process's name (/proc/PID/comm), <= 16 bytes
  std::string operation;   // e.g. "ptrace", "write", "unlink"
  std::string detail;      // e.g. a path; may be empty
  std::int32_t error = 0;  // errno returned to the process
};

// ExecCheck — launcher -> supervisor, any number, only when LaunchSpec::check_exec: a process
// inside is blocked in execve until the answer. argv is what init read from the process's
// memory, whole (an argv that cannot be read whole is refused by init, never sent in part).
// Large. Receiver checks: id not pending, pid range, bounds.
// SECURITY: path and argv are hostile text (the sandboxed process wrote them).
struct ExecCheck {
  std::uint64_t id = 0;
  std::uint32_t pid = 0;
  std::string comm;
  std::string path;  // execve's path argument as given
  std::vector<std::string> argv;
};

// ExecVerdict — supervisor -> launcher, answers one ExecCheck. Receiver checks: id pending.
struct ExecVerdict {
  std::uint64_t id = 0;
  bool allowed = false;
};

// StartCommand — supervisor -> launcher, once, after LaunchSpec, when the proxy worker has
// answered its Hello. Init forks the command only after it arrives, so the launcher builds the
// sandbox while the worker starts, and a command never runs in a sandbox whose proxies nobody
// serves. No fields: its arrival is the message.
struct StartCommand {};

// UnixConnect — launcher -> supervisor, any number, only when LaunchSpec::report_violations:
// init performed a connect to one of the listed host sockets (allowUnixSockets), for the
// audit log and -d. The path is the listed socket's. Receiver checks: pid range, bounds, path
// absolute.
struct UnixConnect {
  std::uint32_t pid = 0;  // in the sandbox's pid namespace
  std::string comm;
  std::string path;
};

// WorkerLog — proxy worker -> supervisor, any number: one diagnostic line (the worker's own
// failures; with ProxyStart::debug, its sandbox steps). The worker's standard streams are
// /dev/null, so this is its only voice. Receiver checks: bounded, NUL-free text; the
// supervisor escapes it for display, prefixes it, and prints a bounded number per worker.
struct WorkerLog {
  std::string text;
};

// ---------------------------------------------------------------------------------------------
// Dispatch table: who may send what, when, how often, with how many fds.
enum class Phase : std::uint8_t {
  Handshake,  // before the peer's Hello
  Running,    // after Hello
};

struct MessageRule {
  MessageType type;
  Role sender;
  Role receiver;
  Phase phase;       // phase the receiving side must be in
  bool once;         // may be received at most once per channel
  std::uint8_t fds;  // exact number of fds carried (a payload's memfd not counted)
  std::string_view name;
  bool large = false;  // the payload may exceed kMaxPayload (then up to kMaxLargePayload)
};

inline constexpr MessageRule kMessageRules[] = {
    {MessageType::Hello, Role::Supervisor, Role::Launcher, Phase::Handshake, true, 0, "Hello"},
    {MessageType::Hello, Role::Launcher, Role::Supervisor, Phase::Handshake, true, 0, "Hello"},
    {MessageType::LaunchSpec, Role::Supervisor, Role::Launcher, Phase::Running, true, 3,
     "LaunchSpec", true},
    {MessageType::SandboxReady, Role::Launcher, Role::Supervisor, Phase::Running, true, 0,
     "SandboxReady"},
    {MessageType::SetupFailed, Role::Launcher, Role::Supervisor, Phase::Running, true, 0,
     "SetupFailed"},
    {MessageType::ExecFailed, Role::Launcher, Role::Supervisor, Phase::Running, true, 0,
     "ExecFailed"},
    {MessageType::CommandExited, Role::Launcher, Role::Supervisor, Phase::Running, true, 0,
     "CommandExited"},
    {MessageType::ListenersReady, Role::Launcher, Role::Supervisor, Phase::Running, true, 2,
     "ListenersReady"},
    {MessageType::LocalListenerReady, Role::Launcher, Role::Supervisor, Phase::Running, false, 1,
     "LocalListenerReady"},
    {MessageType::InboundOpen, Role::Supervisor, Role::Launcher, Phase::Running, false, 0,
     "InboundOpen"},
    {MessageType::InboundReady, Role::Launcher, Role::Supervisor, Phase::Running, false, 1,
     "InboundReady"},
    {MessageType::InboundFailed, Role::Launcher, Role::Supervisor, Phase::Running, false, 0,
     "InboundFailed"},
    {MessageType::Violation, Role::Launcher, Role::Supervisor, Phase::Running, false, 0,
     "Violation"},
    {MessageType::ExecCheck, Role::Launcher, Role::Supervisor, Phase::Running, false, 0,
     "ExecCheck", true},
    {MessageType::ExecVerdict, Role::Supervisor, Role::Launcher, Phase::Running, false, 0,
     "ExecVerdict"},
    {MessageType::StartCommand, Role::Supervisor, Role::Launcher, Phase::Running, true, 0,
     "StartCommand"},
    {MessageType::UnixConnect, Role::Launcher, Role::Supervisor, Phase::Running, false, 0,
     "UnixConnect"},
    {MessageType::Hello, Role::Supervisor, Role::ProxyWorker, Phase::Handshake, true, 0, "Hello"},
    {MessageType::Hello, Role::ProxyWorker, Role::Supervisor, Phase::Handshake, true, 0, "Hello"},
    {MessageType::ProxyStart, Role::Supervisor, Role::ProxyWorker, Phase::Running, true, 2,
     "ProxyStart"},
    {MessageType::ConnectRequest, Role::ProxyWorker, Role::Supervisor, Phase::Running, false, 0,
     "ConnectRequest"},
    {MessageType::ConnectAllowed, Role::Supervisor, Role::ProxyWorker, Phase::Running, false, 1,
     "ConnectAllowed"},
    {MessageType::ConnectDenied, Role::Supervisor, Role::ProxyWorker, Phase::Running, false, 0,
     "ConnectDenied"},
    {MessageType::TunnelClosed, Role::ProxyWorker, Role::Supervisor, Phase::Running, false, 0,
     "TunnelClosed"},
    {MessageType::LocalListener, Role::Supervisor, Role::ProxyWorker, Phase::Running, false, 1,
     "LocalListener"},
    {MessageType::RelayStart, Role::Supervisor, Role::ProxyWorker, Phase::Running, false, 2,
     "RelayStart"},
    {MessageType::RelayClosed, Role::ProxyWorker, Role::Supervisor, Phase::Running, false, 0,
     "RelayClosed"},
    {MessageType::WorkerLog, Role::ProxyWorker, Role::Supervisor, Phase::Running, false, 0,
     "WorkerLog"},
};

}  // namespace fence::ipc
