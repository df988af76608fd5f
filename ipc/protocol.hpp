// The whole fence IPC protocol in one place: every message, its numeric type, who may send it,
// when, how often and with how many fds (kMessageRules, the one table every other list is
// derived from), and every constant both ends of a channel must agree on. Bump
// kProtocolVersion on ANY change to this file's wire formats.
//
// Channels (one socketpair each, AF_UNIX SOCK_SEQPACKET, one datagram = one message):
//   supervisor <-> launcher      (launcher end at fd kChannelFd of fence-launcher)
//   supervisor <-> proxy worker  (worker end at fd kChannelFd of fence-proxy-worker)
// The identity of a peer is the channel a message arrived on, never anything in the message.
//
// Every message struct below says: sender, when, and how the receiver validates it; its kType
// ties it to its row of kMessageRules. The receiver calls `validate(msg)` (messages.hpp) after
// decoding; any failure is a protocol violation that ends the channel. Each side handles a
// message in one named function (`on_<message>`), routed by ipc/handlers.hpp.
#pragma once

#include <csignal>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

namespace fence::ipc {

// --- framing ---------------------------------------------------------------------------------

inline constexpr std::uint32_t kMagic = 0x46454e43;    // "FENC"
inline constexpr std::uint16_t kProtocolVersion = 13;  // bump on any change
// A payload travels in its datagram up to kMaxPayload bytes. Messages whose rule says `large`
// (an argv and environment as large as the kernel accepts for execve) may be bigger: their
// payload then travels in a sealed memfd attached as the last fd (frame.hpp), up to
// kMaxLargePayload bytes.
inline constexpr std::size_t kMaxPayload = 64 * 1024;
inline constexpr std::size_t kMaxLargePayload = 16 * 1024 * 1024;
inline constexpr std::size_t kMaxFdsPerMessage = 4;

// --- the processes ---------------------------------------------------------------------------

// The one descriptor a helper (fence-launcher, fence-proxy-worker) inherits: its channel end.
inline constexpr int kChannelFd = 3;
// Signals the supervisor forwards to the launcher, and init to the command, when a process
// (not the terminal) sends them.
inline constexpr int kForwardedSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
// The proxy listeners inside the sandbox, unless the configuration names other ports.
inline constexpr std::uint16_t kDefaultHttpProxyPort = 3128;
inline constexpr std::uint16_t kDefaultSocksProxyPort = 1080;
// The transparent path's own sockets inside the sandbox (init's: taken before the command).
inline constexpr std::uint16_t kDefaultTransparentPort = 41080;
inline constexpr std::uint16_t kDefaultDnsPort = 41053;
// The transparent path's synthetic addresses, 198.18.0.0/15 (host byte order): the supervisor
// gives them out, the worker recognizes them (network.verifyTls reads only those connections).
inline constexpr std::uint32_t kSyntheticBase = (198u << 24) | (18u << 16);
inline constexpr std::uint32_t kSyntheticSize = 1u << 17;

// The command's own runtime directory (XDG_RUNTIME_DIR), created by init in the private /run
// with mode 0700 and writable; the supervisor points XDG_RUNTIME_DIR there when the caller's
// is not usable inside.
inline std::string private_runtime_dir(unsigned uid) {
  return "/run/user/" + std::to_string(uid);
}

// Where the sandbox's init leaves LaunchSpec::exec_rules, on a read-only bind in the private
// /run: what a fence run inside reads to learn which command rules are checked at every exec
// already (supervisor/nested_run.hpp).
inline constexpr const char* kExecRulesFile = "/run/fence/exec-rules.json";
// Where the sandbox's init listens for fence runs inside (launcher/notify/nest_registry.hpp).
inline constexpr const char* kNestSocket = "/run/fence/nest.sock";

// --- bounds of the message schemas, checked before any allocation while decoding -----------

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
inline constexpr std::size_t kMaxDetailLen = kMaxPathLen;  // SetupFailed::detail may be a path
inline constexpr std::size_t kMaxCommLen = 16;             // TASK_COMM_LEN
inline constexpr std::int32_t kMaxErrno = 4096;
inline constexpr std::uint32_t kMaxLandlockAbi = 64;
inline constexpr std::int32_t kMaxSignal = 64;
inline constexpr std::int32_t kMaxExitCode = 255;
// Linux PID_MAX_LIMIT. SECURITY: command_pid is later passed to kill(); 0 or a value that
// turns negative as pid_t would address a whole process group.
inline constexpr std::uint32_t kMaxPid = 4 * 1024 * 1024;
// Network messages: a DNS name (RFC 1035) and the text shown to a refused client.
inline constexpr std::size_t kMaxExecRulesLen = 64 * 1024;  // LaunchSpec::exec_rules
inline constexpr std::size_t kMaxHostLen = 253;
inline constexpr std::size_t kMaxReasonLen = 256;
// ConnectRequests the worker may have pending at once; one more is a protocol violation.
inline constexpr std::size_t kMaxPendingRequests = 1024;

enum class Role : std::uint8_t { Supervisor = 1, Launcher = 2, ProxyWorker = 3 };

// Numbered by channel: 1xx supervisor <-> launcher, 2xx supervisor <-> proxy worker, each
// answer next to its request.
enum class MessageType : std::uint16_t {
  Hello = 1,
  // supervisor <-> launcher
  LaunchSpec = 101,
  ListenersReady = 102,
  LocalListenerReady = 103,
  StartCommand = 104,
  SandboxReady = 105,
  SetupFailed = 106,
  ExecFailed = 107,
  CommandExited = 108,
  InboundOpen = 109,
  InboundReady = 110,
  InboundFailed = 111,
  ExecCheck = 112,
  ExecVerdict = 113,
  Violation = 114,
  UnixConnect = 115,
  TransparentReady = 116,
  // supervisor <-> proxy worker
  ProxyStart = 201,
  LocalListener = 202,
  ConnectRequest = 203,
  ConnectAllowed = 204,
  ConnectDenied = 205,
  TunnelClosed = 206,
  RelayStart = 207,
  RelayClosed = 208,
  WorkerLog = 209,
  TransparentStart = 210,
  DnsQuery = 211,
  DnsAnswer = 212,
};

// ---------------------------------------------------------------------------------------------
// Hello — first message on every channel, in both directions, exactly once.
// Receiver checks: version == kProtocolVersion, role == the role expected on this channel.
struct Hello {
  static constexpr MessageType kType = MessageType::Hello;

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
  static constexpr MessageType kType = MessageType::LaunchSpec;

  std::vector<std::string> argv;        // exact argv; argv[0] is searched in PATH inside
  std::vector<std::string> env;         // KEY=VALUE, already sanitized by the supervisor
  std::string cwd;                      // working directory inside the sandbox
  std::vector<std::string> readable;    // tier allowRead: read, list, execute
  std::vector<std::string> executable;  // tier allowExecute: read files, execute; no listing
  std::vector<std::string> writable;    // tier allowWrite: read-write, all rights; "/tmp" here
                                        // is the host's /tmp (otherwise a private tmpfs)
  // allowWrite entries missing at start, outside every writable root: the command may create
  // each (a directory, or a regular file) and then write beneath it (launcher/notify/
  // creatable_roots.hpp). Outermost only; none at or beneath a read_only or hidden entry.
  std::vector<std::string> creatable;
  std::vector<std::string> read_only;  // denyWrite + always-protected: read-only bind on top
  std::vector<std::string> hidden;     // denyRead: masked (empty, read-only)
  // Protected at any depth below a writable root (launcher/notify/protected_names.hpp): relative
  // component patterns ("*", "?" within a component, "**" for any number of them).
  std::vector<std::string> protected_names;      // the name and everything beneath it
  std::vector<std::string> protected_files;      // the name, unless it is a directory
  std::vector<std::string> creatable_protected;  // creation exceptions (git's sample hooks)
  // Directories outside any .git that hold a HEAD are git directories too (a bare repository
  // git would use there): their config, commondir and hooks are protected (no allowGitConfig).
  bool protect_bare_repositories = false;
  // allowAllUnixSockets: any AF_UNIX socket, connect unmediated. Otherwise a non-empty
  // unix_sockets (below) permits stream/seqpacket sockets whose connects init mediates.
  bool allow_all_unix_sockets = false;
  bool debug = false;  // launcher reports its plan in SandboxReady
  std::uint16_t http_proxy_port = kDefaultHttpProxyPort;  // listeners inside the sandbox
  std::uint16_t socks_proxy_port = kDefaultSocksProxyPort;
  // Localhost and inbound (docs/configuration.md, "network"). Port lists: 1..65535, unique,
  // none equal to a proxy port.
  std::vector<std::uint16_t> inbound_ports;         // -p: InboundOpen may name these
  std::vector<std::uint16_t> local_outbound_ports;  // transparent listeners to create
  std::vector<std::string> unix_sockets;            // host sockets made visible (normalized paths)
  bool allow_pty = false;                           // the command may open /dev/ptmx
  // devices.allow: host device nodes (character devices) and directories of them, under
  // /dev/, bound at the same place in the sandbox's /dev.
  std::vector<std::string> devices;
  bool new_session = false;  // forceNewSession: setsid() before exec (no controlling terminal)
  // Observability (docs/monitoring.md).
  bool report_violations = false;  // denied syscalls and writes reported as Violation
  bool check_exec = false;         // every execve inside is asked about with ExecCheck
  // Inside another fence sandbox (platform::nested_sandbox_evidence): no namespaces, mounts or
  // listeners; the launcher runs the command under this spec's Landlock and seccomp rules,
  // stacked on the outer sandbox's (launcher/nested.hpp).
  bool nested = false;
  // The command rules this sandbox checks at every exec, as a JSON document (empty: none is
  // written), for fence runs inside: init writes it to kExecRulesFile.
  std::string exec_rules;
  // The transparent path (network.transparent): init redirects TCP leaving loopback to
  // 127.0.0.1:transparent_port and DNS to 127.0.0.1:dns_port, both its own sockets
  // (TransparentReady). Ports distinct from every other listener port of the spec.
  bool transparent = false;
  std::uint16_t transparent_port = kDefaultTransparentPort;
  std::uint16_t dns_port = kDefaultDnsPort;
};

// SandboxReady — launcher -> supervisor, once, after the sandbox is complete and just before
// exec of the command. Receiver checks: bounded line count/length, landlock_abi in [0, 64].
struct SandboxReady {
  static constexpr MessageType kType = MessageType::SandboxReady;

  std::uint32_t command_pid = 0;   // pid of the command as seen from the host pid namespace
  std::uint32_t landlock_abi = 0;  // ABI actually enforced
  bool seccomp = false;            // seccomp filter installed
  std::vector<std::string> plan;   // human-readable sandbox plan (only when debug)
};

// The part of the sandbox's construction a step belongs to: what the supervisor's advice for a
// failure depends on.
enum class SetupStage : std::uint8_t {
  Launcher = 1,       // the launcher's own start: standard streams, the protocol
  UserNamespace = 2,  // unshare(CLONE_NEWUSER) and the uid/gid maps
  Namespaces = 3,     // mount, pid, net, ipc, uts and cgroup namespaces; forking init
  Filesystem = 4,     // the root filesystem: mounts, binds, pivot_root
  Network = 5,        // loopback, the proxy and local listeners
  Notifier = 6,       // the seccomp notifier and its restricted thread
  Landlock = 7,       // the Landlock ruleset
  Seccomp = 8,        // the command's seccomp filter
  Command = 9,        // the command's own steps: waiting for fence, fork, chdir, capabilities
};

// SetupFailed — launcher -> supervisor, at most once, instead of SandboxReady. The command was
// NOT run. Receiver checks: stage known, bounded strings, errno in [0, 4096].
struct SetupFailed {
  static constexpr MessageType kType = MessageType::SetupFailed;

  SetupStage stage = SetupStage::Launcher;
  std::string step;        // plan step that failed, e.g. "landlock: restrict_self"
  std::int32_t error = 0;  // errno
  std::string detail;      // path or extra context
};

// ExecFailed — launcher -> supervisor, at most once, instead of SandboxReady when execve of the
// command failed (not found / not executable). Receiver checks: errno in [1, 4096].
struct ExecFailed {
  static constexpr MessageType kType = MessageType::ExecFailed;

  std::int32_t error = 0;
};

// CommandExited — launcher -> supervisor, once, when the command (the sandbox's main process)
// has ended. Receiver checks: signaled => 1 <= status <= 64, else 0 <= status <= 255.
struct CommandExited {
  static constexpr MessageType kType = MessageType::CommandExited;

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
  static constexpr MessageType kType = MessageType::ListenersReady;

  std::uint16_t http_port = 0;
  std::uint16_t socks_port = 0;
};

// ProxyStart — supervisor -> proxy worker, once, after Hello. Carries the 2 listening fds of
// ListenersReady (HTTP first) and the worker's limits. Receiver checks: limits in range.
struct ProxyStart {
  static constexpr MessageType kType = MessageType::ProxyStart;

  std::uint32_t max_tunnels = 4096;         // open client connections at once
  std::uint32_t max_header_bytes = 16384;   // request line + headers (HTTP), whole greeting (SOCKS)
  std::uint32_t header_timeout_ms = 10000;  // to receive a complete request / greeting
  std::uint32_t idle_timeout_ms = 300000;   // a tunnel with no traffic either way
  bool debug = false;
};

// LocalForward: a connection accepted on a transparent local listener (allowLocalOutboundPorts).
enum class ProxyProtocol : std::uint8_t {
  HttpConnect = 1,
  HttpForward = 2,
  Socks5 = 3,
  LocalForward = 4,
  Transparent = 5,  // a connection the transparent path redirected (no proxy protocol)
};

// ConnectRequest — proxy worker -> supervisor, any number, after Hello. The worker asks for a
// connection to host:port on behalf of one client. Receiver checks: id not already pending
// (ids are the worker's; the supervisor never trusts them for anything but matching the
// reply), host is_valid_target_host (ipc/grammar.hpp: a DNS name, an IPv4 literal or an IPv6
// literal without brackets or zone), port 1..65535, protocol known. The number of
// pending requests is capped; over the cap is a protocol violation.
struct ConnectRequest {
  static constexpr MessageType kType = MessageType::ConnectRequest;

  std::uint64_t id = 0;
  std::string host;
  std::uint16_t port = 0;
  ProxyProtocol protocol = ProxyProtocol::HttpConnect;
  // Transparent with TransparentStart::verify_names, to a synthetic address only: the name the
  // connection's first bytes claim (TLS server name, HTTP Host), "" when they claim none. On
  // the wire before `protocol`.
  std::string claimed_host;
};

// ConnectAllowed — supervisor -> proxy worker, answers one ConnectRequest. Carries 1 fd: a TCP
// socket already connected to exactly the address the supervisor checked. Receiver checks: id
// is one it asked for and not yet answered.
struct ConnectAllowed {
  static constexpr MessageType kType = MessageType::ConnectAllowed;

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
  static constexpr MessageType kType = MessageType::ConnectDenied;

  std::uint64_t id = 0;
  DenyReason reason = DenyReason::Policy;
  std::string text;
};

// TunnelClosed — proxy worker -> supervisor, once per ConnectAllowed, when the client
// connection that used it has ended. Receiver checks: id was allowed and is not closed yet.
// The counts are the worker's and only feed the audit log.
struct TunnelClosed {
  static constexpr MessageType kType = MessageType::TunnelClosed;

  std::uint64_t id = 0;
  std::uint64_t bytes_up = 0;    // client -> upstream
  std::uint64_t bytes_down = 0;  // upstream -> client
  std::uint32_t duration_ms = 0;
};

// ---------------------------------------------------------------------------------------------
// Localhost and inbound.

// TransparentReady — launcher -> supervisor, at most once, after ListenersReady, when the
// transparent path's routes and nftables rules are in place. Carries 3 fds: the listening TCP
// socket at 127.0.0.1:transparent_port, the UDP socket at 127.0.0.1:dns_port and the listening
// TCP socket at 127.0.0.1:dns_port (DNS over TCP). Receiver checks: LaunchSpec::transparent,
// not reported before; a listening stream socket, a datagram socket, a listening stream socket.
struct TransparentReady {
  static constexpr MessageType kType = MessageType::TransparentReady;

  std::uint16_t tcp_port = 0;  // equal to the LaunchSpec's transparent_port
  std::uint16_t dns_port = 0;  // equal to the LaunchSpec's dns_port
};

// TransparentStart — supervisor -> proxy worker, at most once, after ProxyStart. Carries the 3
// fds of TransparentReady. The worker asks ConnectRequest{original destination, Transparent}
// for each connection and DnsQuery for each query. Receiver checks: not given before.
struct TransparentStart {
  static constexpr MessageType kType = MessageType::TransparentStart;

  std::uint16_t tcp_port = 0;  // as in TransparentReady (for the worker's diagnostics)
  std::uint16_t dns_port = 0;
  // network.verifyTls: read a connection to a synthetic address until it claims a name (or
  // cannot), and send the claim with its ConnectRequest.
  bool verify_names = false;
};

// DnsQuery — proxy worker -> supervisor, one per query read from the DNS socket or a DNS
// connection. Receiver
// checks: id not pending; name is_valid_target_host or empty (the root), at most
// kMaxHostLen; the number pending is capped like ConnectRequest's.
struct DnsQuery {
  static constexpr MessageType kType = MessageType::DnsQuery;

  std::uint64_t id = 0;
  std::string name;  // lower case, no trailing dot
  std::uint16_t type = 0;
};

// DNS values that cross the channel (RFC 1035): the A question's type, and the answer codes.
inline constexpr std::uint16_t kDnsTypeA = 1;
enum class DnsRcode : std::uint8_t {
  NoError = 0,
  FormErr = 1,
  ServFail = 2,
  NxDomain = 3,
  NotImp = 4,
  Refused = 5,
};

// DnsAnswer — supervisor -> proxy worker, answers one DnsQuery: NOERROR with at most one
// synthetic IPv4 address (type A), or NOERROR with none, or NXDOMAIN/REFUSED/SERVFAIL.
// Receiver checks: id pending; rcode one of those; no address unless NOERROR.
struct DnsAnswer {
  static constexpr MessageType kType = MessageType::DnsAnswer;

  std::uint64_t id = 0;
  std::uint8_t rcode = 0;     // a DnsRcode
  std::uint32_t address = 0;  // host byte order; 0: no address
};

// LocalListenerReady — launcher -> supervisor, once per LaunchSpec::local_outbound_ports entry,
// after ListenersReady. Carries 1 fd: a listening socket on 127.0.0.1:port inside the sandbox.
// Receiver checks: port is in local_outbound_ports and not reported before; the fd is a
// listening AF_INET stream socket.
struct LocalListenerReady {
  static constexpr MessageType kType = MessageType::LocalListenerReady;

  std::uint16_t port = 0;
};

// LocalListener — supervisor -> proxy worker, once per transparent port, after ProxyStart.
// Carries 1 fd (the listener). The worker accepts on it and asks with ConnectRequest{host
// "127.0.0.1", port, LocalForward}; the supervisor decides as for any request. Receiver
// checks: port non-zero, not given before.
struct LocalListener {
  static constexpr MessageType kType = MessageType::LocalListener;

  std::uint16_t port = 0;
};

// InboundOpen — supervisor -> launcher, once per connection accepted on a -p host listener.
// Asks init to connect to 127.0.0.1:port inside the sandbox. Receiver checks: port is one of
// LaunchSpec::inbound_ports (anything else is a protocol violation), id not pending.
struct InboundOpen {
  static constexpr MessageType kType = MessageType::InboundOpen;

  std::uint64_t id = 0;
  std::uint16_t port = 0;
};

// InboundReady — launcher -> supervisor, answers one InboundOpen. Carries 1 fd: the connected
// inner socket. Receiver checks: id pending; the fd is a connected TCP stream socket.
struct InboundReady {
  static constexpr MessageType kType = MessageType::InboundReady;

  std::uint64_t id = 0;
};

// InboundFailed — launcher -> supervisor, answers one InboundOpen when connecting failed.
// Receiver checks: id pending, 1 <= error <= 4096.
struct InboundFailed {
  static constexpr MessageType kType = MessageType::InboundFailed;

  std::uint64_t id = 0;
  std::int32_t error = 0;
};

// RelayStart — supervisor -> proxy worker, any number. Carries 2 fds: the accepted host
// connection, then the inner connection; the worker relays bytes between them (no parsing).
// Receiver checks: id not in use.
struct RelayStart {
  static constexpr MessageType kType = MessageType::RelayStart;

  std::uint64_t id = 0;
};

// RelayClosed — proxy worker -> supervisor, once per RelayStart, when the relay has ended.
// Receiver checks: id was started and is not closed yet. Counts only feed the audit log.
struct RelayClosed {
  static constexpr MessageType kType = MessageType::RelayClosed;

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
  static constexpr MessageType kType = MessageType::Violation;

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
// Large. Receiver checks: pid range, bounds (the verdict is sent before the next message is
// read, so no id is ever pending). SECURITY: path and argv are hostile text (the sandboxed process
// wrote them).
struct ExecCheck {
  static constexpr MessageType kType = MessageType::ExecCheck;

  std::uint64_t id = 0;
  std::uint32_t pid = 0;
  std::string comm;
  std::string path;  // execve's path argument as given
  std::vector<std::string> argv;
};

// ExecVerdict — supervisor -> launcher, answers one ExecCheck. Receiver checks: id pending.
struct ExecVerdict {
  static constexpr MessageType kType = MessageType::ExecVerdict;

  std::uint64_t id = 0;
  bool allowed = false;
};

// StartCommand — supervisor -> launcher, once, after LaunchSpec, when the proxy worker has
// answered its Hello. Init forks the command only after it arrives, so the launcher builds the
// sandbox while the worker starts, and a command never runs in a sandbox whose proxies nobody
// serves. No fields: its arrival is the message.
struct StartCommand {
  static constexpr MessageType kType = MessageType::StartCommand;
};

// UnixConnect — launcher -> supervisor, any number, only when LaunchSpec::report_violations:
// init performed a connect to one of the listed host sockets (allowUnixSockets), for the
// audit log and -d. The path is the listed socket's. Receiver checks: pid range, bounds, path
// absolute.
struct UnixConnect {
  static constexpr MessageType kType = MessageType::UnixConnect;

  std::uint32_t pid = 0;  // in the sandbox's pid namespace
  std::string comm;
  std::string path;
};

// WorkerLog — proxy worker -> supervisor, any number: one diagnostic line (the worker's own
// failures; with ProxyStart::debug, its sandbox steps). The worker's standard streams are
// /dev/null, so this is its only voice. Receiver checks: bounded, NUL-free text; the
// supervisor escapes it for display, prefixes it, and prints a bounded number per worker.
struct WorkerLog {
  static constexpr MessageType kType = MessageType::WorkerLog;

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
  bool large;        // the payload may exceed kMaxPayload (then up to kMaxLargePayload)
  std::string_view name;
};

namespace rules {
inline constexpr Role kS = Role::Supervisor, kL = Role::Launcher, kW = Role::ProxyWorker;
inline constexpr Phase kHs = Phase::Handshake, kRun = Phase::Running;
inline constexpr bool kOnce = true, kMany = false, kLarge = true, kSmall = false;
}  // namespace rules

// THE table: everything else about a message type (whether it is known, its name, its fd
// count, whether it may be large) is read from here.
// clang-format off
inline constexpr MessageRule kMessageRules[] = {
    // type                            from      to        phase      often       fds size
    {MessageType::Hello,               rules::kS, rules::kL, rules::kHs,  rules::kOnce, 0, rules::kSmall, "Hello"},
    {MessageType::Hello,               rules::kL, rules::kS, rules::kHs,  rules::kOnce, 0, rules::kSmall, "Hello"},
    {MessageType::Hello,               rules::kS, rules::kW, rules::kHs,  rules::kOnce, 0, rules::kSmall, "Hello"},
    {MessageType::Hello,               rules::kW, rules::kS, rules::kHs,  rules::kOnce, 0, rules::kSmall, "Hello"},
    // supervisor <-> launcher
    {MessageType::LaunchSpec,          rules::kS, rules::kL, rules::kRun, rules::kOnce, 3, rules::kLarge, "LaunchSpec"},
    {MessageType::ListenersReady,      rules::kL, rules::kS, rules::kRun, rules::kOnce, 2, rules::kSmall, "ListenersReady"},
    {MessageType::LocalListenerReady,  rules::kL, rules::kS, rules::kRun, rules::kMany, 1, rules::kSmall, "LocalListenerReady"},
    {MessageType::StartCommand,        rules::kS, rules::kL, rules::kRun, rules::kOnce, 0, rules::kSmall, "StartCommand"},
    {MessageType::SandboxReady,        rules::kL, rules::kS, rules::kRun, rules::kOnce, 0, rules::kSmall, "SandboxReady"},
    {MessageType::SetupFailed,         rules::kL, rules::kS, rules::kRun, rules::kOnce, 0, rules::kSmall, "SetupFailed"},
    {MessageType::ExecFailed,          rules::kL, rules::kS, rules::kRun, rules::kOnce, 0, rules::kSmall, "ExecFailed"},
    {MessageType::CommandExited,       rules::kL, rules::kS, rules::kRun, rules::kOnce, 0, rules::kSmall, "CommandExited"},
    {MessageType::InboundOpen,         rules::kS, rules::kL, rules::kRun, rules::kMany, 0, rules::kSmall, "InboundOpen"},
    {MessageType::InboundReady,        rules::kL, rules::kS, rules::kRun, rules::kMany, 1, rules::kSmall, "InboundReady"},
    {MessageType::InboundFailed,       rules::kL, rules::kS, rules::kRun, rules::kMany, 0, rules::kSmall, "InboundFailed"},
    {MessageType::ExecCheck,           rules::kL, rules::kS, rules::kRun, rules::kMany, 0, rules::kLarge, "ExecCheck"},
    {MessageType::ExecVerdict,         rules::kS, rules::kL, rules::kRun, rules::kMany, 0, rules::kSmall, "ExecVerdict"},
    {MessageType::Violation,           rules::kL, rules::kS, rules::kRun, rules::kMany, 0, rules::kSmall, "Violation"},
    {MessageType::UnixConnect,         rules::kL, rules::kS, rules::kRun, rules::kMany, 0, rules::kSmall, "UnixConnect"},
    {MessageType::TransparentReady,    rules::kL, rules::kS, rules::kRun, rules::kOnce, 3, rules::kSmall, "TransparentReady"},
    // supervisor <-> proxy worker
    {MessageType::ProxyStart,          rules::kS, rules::kW, rules::kRun, rules::kOnce, 2, rules::kSmall, "ProxyStart"},
    {MessageType::LocalListener,       rules::kS, rules::kW, rules::kRun, rules::kMany, 1, rules::kSmall, "LocalListener"},
    {MessageType::ConnectRequest,      rules::kW, rules::kS, rules::kRun, rules::kMany, 0, rules::kSmall, "ConnectRequest"},
    {MessageType::ConnectAllowed,      rules::kS, rules::kW, rules::kRun, rules::kMany, 1, rules::kSmall, "ConnectAllowed"},
    {MessageType::ConnectDenied,       rules::kS, rules::kW, rules::kRun, rules::kMany, 0, rules::kSmall, "ConnectDenied"},
    {MessageType::TunnelClosed,        rules::kW, rules::kS, rules::kRun, rules::kMany, 0, rules::kSmall, "TunnelClosed"},
    {MessageType::RelayStart,          rules::kS, rules::kW, rules::kRun, rules::kMany, 2, rules::kSmall, "RelayStart"},
    {MessageType::RelayClosed,         rules::kW, rules::kS, rules::kRun, rules::kMany, 0, rules::kSmall, "RelayClosed"},
    {MessageType::WorkerLog,           rules::kW, rules::kS, rules::kRun, rules::kMany, 0, rules::kSmall, "WorkerLog"},
    {MessageType::TransparentStart,    rules::kS, rules::kW, rules::kRun, rules::kOnce, 3, rules::kSmall, "TransparentStart"},
    {MessageType::DnsQuery,            rules::kW, rules::kS, rules::kRun, rules::kMany, 0, rules::kSmall, "DnsQuery"},
    {MessageType::DnsAnswer,           rules::kS, rules::kW, rules::kRun, rules::kMany, 0, rules::kSmall, "DnsAnswer"},
};
// clang-format on

// Lookups in kMessageRules (constexpr: usable in static_asserts).
constexpr const MessageRule* find_rule(MessageType type, Role sender, Role receiver) {
  for (const MessageRule& rule : kMessageRules)
    if (rule.type == type && rule.sender == sender && rule.receiver == receiver) return &rule;
  return nullptr;
}
// Any rule for `type` (every rule of a type agrees on fds, size and name: checked below).
constexpr const MessageRule* rule_for(MessageType type) {
  for (const MessageRule& rule : kMessageRules)
    if (rule.type == type) return &rule;
  return nullptr;
}
// Whether a rule lets `sender` send `type` to `receiver` (a bool, not a pointer compared in a
// constant expression: sanitizer builds reject that).
constexpr bool has_rule(MessageType type, Role sender, Role receiver) {
  for (const MessageRule& rule : kMessageRules)
    if (rule.type == type && rule.sender == sender && rule.receiver == receiver) return true;
  return false;
}
constexpr bool is_known_message_type(std::uint16_t value) {
  for (const MessageRule& rule : kMessageRules)
    if (static_cast<std::uint16_t>(rule.type) == value) return true;
  return false;
}
constexpr std::string_view message_name(MessageType type) {
  const MessageRule* rule = rule_for(type);
  return rule ? rule->name : "unknown";
}

namespace detail {
constexpr bool table_is_consistent() {
  for (std::size_t i = 0; i < std::size(kMessageRules); ++i) {
    const MessageRule& a = kMessageRules[i];
    if (std::size_t{a.fds} + (a.large ? 1 : 0) > kMaxFdsPerMessage) return false;  // + memfd
    for (std::size_t j = 0; j < std::size(kMessageRules); ++j) {
      const MessageRule& b = kMessageRules[j];
      if (a.type == b.type && (a.fds != b.fds || a.large != b.large || a.name != b.name))
        return false;
      if (i != j && a.type == b.type && a.sender == b.sender && a.receiver == b.receiver)
        return false;  // one rule per direction
    }
  }
  return std::size(kMessageRules) <= 64;  // PeerState's once-bitmask is per rule
}
}  // namespace detail
static_assert(detail::table_is_consistent(), "kMessageRules: inconsistent dispatch table");

}  // namespace fence::ipc
