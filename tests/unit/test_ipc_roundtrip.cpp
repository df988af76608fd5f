// Every message type through the payload codec, the frame codec and a real socketpair Channel,
// plus the generic corruption tests: truncation at every length, every single-bit flip,
// all-zero / all-0xff payloads, trailing bytes.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstring>
#include <tuple>

#include "ipc/channel.hpp"
#include "ipc/dispatch.hpp"
#include "ipc/frame.hpp"
#include "tests/unit/raw_ipc.hpp"

namespace fence::ipc {
namespace {

using test::send_raw;

// --- samples and equality -------------------------------------------------------------------

template <typename Msg>
Msg sample();

template <>
Hello sample<Hello>() {
  return Hello{kProtocolVersion, Role::Launcher};
}
template <>
LaunchSpec sample<LaunchSpec>() {
  LaunchSpec m;
  m.argv = {"/usr/bin/env", "--", "sh", "-c", "echo 'hi there'", ""};
  m.env = {"PATH=/usr/bin:/bin", "HOME=/home/u", "EMPTY=", "_X1=a=b"};
  m.cwd = "/home/u/project";
  m.readable = {"/", "/usr"};
  m.executable = {"/usr/bin"};
  m.writable = {"/home/u/project", "/tmp"};
  m.read_only = {"/home/u/project/.git/hooks"};
  m.hidden = {"/home/u/.ssh"};
  m.allow_all_unix_sockets = false;
  m.protected_names = {".bashrc", ".git/hooks", ".git/modules/**/hooks"};
  m.protected_files = {".git"};
  m.creatable_protected = {".git/hooks/*.sample"};
  m.protect_bare_repositories = true;
  m.debug = true;
  m.http_proxy_port = 3129;
  m.socks_proxy_port = 1081;
  m.inbound_ports = {8000, 8001};
  m.local_outbound_ports = {6379};
  m.unix_sockets = {"/run/user/1000/agent.sock"};
  m.allow_pty = true;
  m.report_violations = true;
  m.check_exec = true;
  m.nested = true;
  m.exec_rules = R"({"deny":["git push"]})";
  return m;
}
template <>
SandboxReady sample<SandboxReady>() {
  return SandboxReady{4242, 5, true, {"unshare: user, mount, pid", "landlock: abi 5", ""}};
}
template <>
SetupFailed sample<SetupFailed>() {
  return SetupFailed{SetupStage::Landlock, "landlock: restrict_self", 1, "/home/u/project"};
}
template <>
ExecFailed sample<ExecFailed>() {
  return ExecFailed{2};
}
template <>
CommandExited sample<CommandExited>() {
  return CommandExited{true, 9};
}
template <>
ListenersReady sample<ListenersReady>() {
  return ListenersReady{3128, 1080};
}
template <>
ProxyStart sample<ProxyStart>() {
  return ProxyStart{256, 8192, 5000, 60000, true};
}
template <>
ConnectRequest sample<ConnectRequest>() {
  return ConnectRequest{0x0123456789abcdefULL, "198.18.0.7", 443, ProxyProtocol::Transparent,
                        "registry.npmjs.org"};
}
template <>
ConnectAllowed sample<ConnectAllowed>() {
  return ConnectAllowed{0xfedcba9876543210ULL};
}
template <>
ConnectDenied sample<ConnectDenied>() {
  return ConnectDenied{77, DenyReason::NonPublicAddress,
                       "example.com resolves to a private address (10.0.0.5)"};
}
template <>
TunnelClosed sample<TunnelClosed>() {
  return TunnelClosed{77, 1ULL << 40, 12345, 987654};
}

template <>
LocalListenerReady sample<LocalListenerReady>() {
  return LocalListenerReady{6379};
}
template <>
LocalListener sample<LocalListener>() {
  return LocalListener{5432};
}
template <>
InboundOpen sample<InboundOpen>() {
  return InboundOpen{1ULL << 33, 8000};
}
template <>
InboundReady sample<InboundReady>() {
  return InboundReady{42};
}
template <>
InboundFailed sample<InboundFailed>() {
  return InboundFailed{42, 111};
}
template <>
RelayStart sample<RelayStart>() {
  return RelayStart{7};
}
template <>
RelayClosed sample<RelayClosed>() {
  return RelayClosed{7, 1ULL << 35, 99, 1234};
}
template <>
Violation sample<Violation>() {
  return Violation{ViolationKind::Filesystem, 12, "touch", "write", "/etc/hosts", 30};
}
template <>
ExecCheck sample<ExecCheck>() {
  return ExecCheck{9, 77, "sh", "/usr/bin/git", {"git", "push", "origin"}};
}
template <>
ExecVerdict sample<ExecVerdict>() {
  return ExecVerdict{9, true};
}
template <>
StartCommand sample<StartCommand>() {
  return StartCommand{};
}
template <>
UnixConnect sample<UnixConnect>() {
  return UnixConnect{12, "ssh", "/run/user/1000/ssh-agent.sock"};
}
template <>
TransparentReady sample<TransparentReady>() {
  return TransparentReady{41080, 41053};
}
template <>
TransparentStart sample<TransparentStart>() {
  return TransparentStart{41080, 41053, true};
}
template <>
DnsQuery sample<DnsQuery>() {
  return DnsQuery{1ULL << 40, "allowed.example", 28};
}
template <>
DnsAnswer sample<DnsAnswer>() {
  return DnsAnswer{99, 0, (198u << 24) | (18u << 16) | 7};
}
template <>
WorkerLog sample<WorkerLog>() {
  return WorkerLog{"sandbox: seccomp: allowlist installed"};
}

auto fields(const Hello& m) {
  return std::tie(m.version, m.role);
}
auto fields(const LaunchSpec& m) {
  return std::tie(m.argv, m.env, m.cwd, m.readable, m.executable, m.writable, m.read_only, m.hidden,
                  m.protected_names, m.protected_files, m.creatable_protected,
                  m.protect_bare_repositories, m.allow_all_unix_sockets, m.debug, m.http_proxy_port,
                  m.socks_proxy_port, m.inbound_ports, m.local_outbound_ports, m.unix_sockets,
                  m.allow_pty, m.report_violations, m.check_exec, m.nested, m.exec_rules,
                  m.new_session, m.devices, m.creatable);
}
auto fields(const LocalListenerReady& m) {
  return std::tie(m.port);
}
auto fields(const LocalListener& m) {
  return std::tie(m.port);
}
auto fields(const InboundOpen& m) {
  return std::tie(m.id, m.port);
}
auto fields(const InboundReady& m) {
  return std::tie(m.id);
}
auto fields(const InboundFailed& m) {
  return std::tie(m.id, m.error);
}
auto fields(const RelayStart& m) {
  return std::tie(m.id);
}
auto fields(const RelayClosed& m) {
  return std::tie(m.id, m.bytes_up, m.bytes_down, m.duration_ms);
}
auto fields(const Violation& m) {
  return std::tie(m.kind, m.pid, m.comm, m.operation, m.detail, m.error);
}
auto fields(const ExecCheck& m) {
  return std::tie(m.id, m.pid, m.comm, m.path, m.argv);
}
auto fields(const ExecVerdict& m) {
  return std::tie(m.id, m.allowed);
}
auto fields(const StartCommand&) {
  return std::tie();
}
auto fields(const UnixConnect& m) {
  return std::tie(m.pid, m.comm, m.path);
}
auto fields(const WorkerLog& m) {
  return std::tie(m.text);
}
auto fields(const TransparentReady& m) {
  return std::tie(m.tcp_port, m.dns_port);
}
auto fields(const TransparentStart& m) {
  return std::tie(m.tcp_port, m.dns_port, m.verify_names);
}
auto fields(const DnsQuery& m) {
  return std::tie(m.id, m.name, m.type);
}
auto fields(const DnsAnswer& m) {
  return std::tie(m.id, m.rcode, m.address);
}
auto fields(const SandboxReady& m) {
  return std::tie(m.command_pid, m.landlock_abi, m.seccomp, m.plan);
}
auto fields(const SetupFailed& m) {
  return std::tie(m.stage, m.step, m.error, m.detail);
}
auto fields(const ExecFailed& m) {
  return std::tie(m.error);
}
auto fields(const CommandExited& m) {
  return std::tie(m.signaled, m.status);
}
auto fields(const ListenersReady& m) {
  return std::tie(m.http_port, m.socks_port);
}
auto fields(const ProxyStart& m) {
  return std::tie(m.max_tunnels, m.max_header_bytes, m.header_timeout_ms, m.idle_timeout_ms,
                  m.debug);
}
auto fields(const ConnectRequest& m) {
  return std::tie(m.id, m.host, m.port, m.protocol, m.claimed_host);
}
auto fields(const ConnectAllowed& m) {
  return std::tie(m.id);
}
auto fields(const ConnectDenied& m) {
  return std::tie(m.id, m.reason, m.text);
}
auto fields(const TunnelClosed& m) {
  return std::tie(m.id, m.bytes_up, m.bytes_down, m.duration_ms);
}

template <typename Msg>
bool same(const Msg& a, const Msg& b) {
  return fields(a) == fields(b);
}

// Decodes `payload` as the struct of `type` and validates it; returns false on a clean
// rejection. Anything else (crash, UB, huge allocation) fails the test run itself.
bool decode_and_validate(MessageType type, std::span<const std::byte> payload) {
  auto attempt = [&](auto tag) {
    using Msg = decltype(tag);
    try {
      const Msg m = decode_payload<Msg>(payload);
      return !validate(m).has_value();
    } catch (const DecodeError&) {
      return false;
    }
  };
  switch (type) {
    case MessageType::Hello:
      return attempt(Hello{});
    case MessageType::LaunchSpec:
      return attempt(LaunchSpec{});
    case MessageType::SandboxReady:
      return attempt(SandboxReady{});
    case MessageType::SetupFailed:
      return attempt(SetupFailed{});
    case MessageType::ExecFailed:
      return attempt(ExecFailed{});
    case MessageType::CommandExited:
      return attempt(CommandExited{});
    case MessageType::ListenersReady:
      return attempt(ListenersReady{});
    case MessageType::ProxyStart:
      return attempt(ProxyStart{});
    case MessageType::ConnectRequest:
      return attempt(ConnectRequest{});
    case MessageType::ConnectAllowed:
      return attempt(ConnectAllowed{});
    case MessageType::ConnectDenied:
      return attempt(ConnectDenied{});
    case MessageType::TunnelClosed:
      return attempt(TunnelClosed{});
    case MessageType::LocalListenerReady:
      return attempt(LocalListenerReady{});
    case MessageType::LocalListener:
      return attempt(LocalListener{});
    case MessageType::InboundOpen:
      return attempt(InboundOpen{});
    case MessageType::InboundReady:
      return attempt(InboundReady{});
    case MessageType::InboundFailed:
      return attempt(InboundFailed{});
    case MessageType::RelayStart:
      return attempt(RelayStart{});
    case MessageType::RelayClosed:
      return attempt(RelayClosed{});
    case MessageType::Violation:
      return attempt(Violation{});
    case MessageType::ExecCheck:
      return attempt(ExecCheck{});
    case MessageType::ExecVerdict:
      return attempt(ExecVerdict{});
    case MessageType::StartCommand:
      return attempt(StartCommand{});
    case MessageType::UnixConnect:
      return attempt(UnixConnect{});
    case MessageType::WorkerLog:
      return attempt(WorkerLog{});
    case MessageType::TransparentReady:
      return attempt(TransparentReady{});
    case MessageType::TransparentStart:
      return attempt(TransparentStart{});
    case MessageType::DnsQuery:
      return attempt(DnsQuery{});
    case MessageType::DnsAnswer:
      return attempt(DnsAnswer{});
  }
  FAIL("decode_frame returned an unknown type");
  return false;
}

// The number of fds Msg carries per the dispatch table.
template <typename Msg>
std::size_t fd_count_of() {
  const auto n = fds_for_type(Msg::kType);
  REQUIRE(n.has_value());
  return *n;
}

template <typename Msg>
std::vector<std::byte> sample_frame() {
  return encode_frame(Msg::kType, encode_payload(sample<Msg>()), fd_count_of<Msg>());
}

// Sender and receiver of Msg per the dispatch table (for the channel tests). Hello is tested on
// the launcher -> supervisor direction.
template <typename Msg>
std::pair<Role, Role> direction_of() {
  for (const MessageRule& r : kMessageRules) {
    if (r.type == Msg::kType && r.type != MessageType::Hello) {
      return {r.sender, r.receiver};
    }
  }
  return {Role::Launcher, Role::Supervisor};
}

// `n` open fds (read ends of pipes) that the test keeps owning.
struct FdBag {
  std::vector<platform::UniqueFd> owned;
  std::vector<int> raw;
  explicit FdBag(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      int p[2];
      REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
      owned.emplace_back(p[0]);
      owned.emplace_back(p[1]);
      raw.push_back(p[0]);
    }
  }
};

}  // namespace

#define FENCE_ALL_MESSAGES                                                                         \
  Hello, LaunchSpec, SandboxReady, SetupFailed, ExecFailed, CommandExited, ListenersReady,         \
      ProxyStart, ConnectRequest, ConnectAllowed, ConnectDenied, TunnelClosed, LocalListenerReady, \
      LocalListener, InboundOpen, InboundReady, InboundFailed, RelayStart, RelayClosed, Violation, \
      ExecCheck, ExecVerdict, StartCommand, UnixConnect, WorkerLog, TransparentReady,              \
      TransparentStart, DnsQuery, DnsAnswer

TEMPLATE_TEST_CASE("payload round trip", "[ipc][roundtrip]", FENCE_ALL_MESSAGES) {
  const TestType original = sample<TestType>();
  REQUIRE_FALSE(validate(original).has_value());
  const auto payload = encode_payload(original);
  const TestType decoded = decode_payload<TestType>(payload);
  CHECK(same(original, decoded));
  CHECK(encode_payload(decoded) == payload);
}

TEMPLATE_TEST_CASE("frame round trip", "[ipc][roundtrip]", FENCE_ALL_MESSAGES) {
  const auto frame = sample_frame<TestType>();
  const std::size_t nfds = fd_count_of<TestType>();
  const DecodedFrame f = decode_frame(frame, nfds);
  REQUIRE(f.ok());
  CHECK(f.type == TestType::kType);
  CHECK(same(decode_payload<TestType>(f.payload), sample<TestType>()));
  // The header's fd count must equal what arrived, one more or one fewer is an error.
  CHECK(decode_frame(frame, nfds + 1).error == FrameError::FdCountMismatch);
  if (nfds > 0) CHECK(decode_frame(frame, nfds - 1).error == FrameError::FdCountMismatch);
}

TEMPLATE_TEST_CASE("channel round trip over a socketpair", "[ipc][roundtrip][channel]",
                   FENCE_ALL_MESSAGES) {
  const auto [sender, receiver] = direction_of<TestType>();
  // The peer of the supervisor on this message's channel: launcher or proxy worker.
  const Role other = sender == Role::Supervisor ? receiver : sender;
  auto [a, b] = make_channel_pair();
  Channel supervisor(std::move(a), Role::Supervisor, other);
  Channel peer(std::move(b), other, Role::Supervisor);
  supervisor.send_hello();
  peer.send_hello();
  auto hello_at_peer = peer.receive();
  REQUIRE(hello_at_peer);
  CHECK(hello_at_peer->decode<Hello>().role == Role::Supervisor);
  auto hello_at_supervisor = supervisor.receive();
  REQUIRE(hello_at_supervisor);
  CHECK(hello_at_supervisor->decode<Hello>().role == other);
  if constexpr (!std::is_same_v<TestType, Hello>) {
    const bool from_supervisor = sender == Role::Supervisor;
    Channel& tx = from_supervisor ? supervisor : peer;
    Channel& rx = from_supervisor ? peer : supervisor;
    const std::size_t nfds = fd_count_of<TestType>();
    FdBag bag(nfds);
    if (nfds > 0) {
      // The table's fd count is enforced on the sending side too.
      CHECK_THROWS_AS(tx.send(sample<TestType>()), std::logic_error);
      FdBag extra(nfds + 1);
      CHECK_THROWS_AS(tx.send(sample<TestType>(), extra.raw), std::logic_error);
    } else {
      FdBag one(1);
      CHECK_THROWS_AS(tx.send(sample<TestType>(), one.raw), std::logic_error);
    }
    tx.send(sample<TestType>(), bag.raw);
    auto in = rx.receive();
    REQUIRE(in);
    CHECK(in->type == TestType::kType);
    REQUIRE(in->fds.size() == nfds);
    for (std::size_t i = 0; i < nfds; ++i) {
      // A new descriptor for the same open file, close-on-exec.
      CHECK(in->fds[i].get() != bag.raw[i]);
      CHECK((::fcntl(in->fds[i].get(), F_GETFD) & FD_CLOEXEC) != 0);
      struct stat sa {
      }, sb{};
      REQUIRE(::fstat(in->fds[i].get(), &sa) == 0);
      REQUIRE(::fstat(bag.raw[i], &sb) == 0);
      CHECK(sa.st_ino == sb.st_ino);
    }
    CHECK(same(in->decode<TestType>(), sample<TestType>()));
  }
}

TEMPLATE_TEST_CASE("truncation at every length is a clean rejection", "[ipc][corrupt]",
                   FENCE_ALL_MESSAGES) {
  const auto frame = sample_frame<TestType>();
  const auto payload = encode_payload(sample<TestType>());
  const std::size_t nfds = fd_count_of<TestType>();
  for (std::size_t len = 0; len < frame.size(); ++len) {
    INFO("frame prefix of " << len << " bytes");
    CHECK_FALSE(decode_frame(std::span(frame).first(len), nfds).ok());
  }
  for (std::size_t len = 0; len < payload.size(); ++len) {
    INFO("payload prefix of " << len << " bytes");
    CHECK_THROWS_AS(decode_payload<TestType>(std::span(payload).first(len)), DecodeError);
  }
}

TEMPLATE_TEST_CASE("truncated frames through a channel are protocol errors", "[ipc][corrupt]",
                   FENCE_ALL_MESSAGES) {
  const auto frame = sample_frame<TestType>();
  const auto [sender, receiver] = direction_of<TestType>();
  FdBag bag(fd_count_of<TestType>());
  // len 0 would be read as end of stream, which is not a message at all.
  for (std::size_t len = 1; len < frame.size(); ++len) {
    INFO("frame prefix of " << len << " bytes");
    auto [a, b] = make_channel_pair();
    Channel rx(std::move(a), receiver, sender);
    // The fds the message would carry travel along; the rejection must close them.
    send_raw(b.get(), std::span(frame).first(len), bag.raw);
    const int predicted = ::dup(0);
    REQUIRE(predicted >= 0);
    ::close(predicted);
    CHECK_THROWS_AS(rx.receive(), ProtocolError);
    CHECK(::fcntl(predicted, F_GETFD) == -1);
  }
}

TEMPLATE_TEST_CASE("every single-bit flip is rejected or validated", "[ipc][corrupt]",
                   FENCE_ALL_MESSAGES) {
  const auto frame = sample_frame<TestType>();
  std::size_t accepted = 0;
  for (std::size_t bit = 0; bit < frame.size() * 8; ++bit) {
    auto flipped = frame;
    flipped[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
    const DecodedFrame f = decode_frame(flipped, fd_count_of<TestType>());
    if (bit < kFrameHeaderSize * 8) {
      // The header admits no alternative encodings except the type field.
      if (f.ok()) CHECK((bit >= 48 && bit < 64));
    }
    if (f.ok() && decode_and_validate(f.type, f.payload)) ++accepted;
  }
  // Flipping a bit inside text generally still decodes; the point is no crash or UB.
  SUCCEED("accepted after flip: " << accepted);
}

TEMPLATE_TEST_CASE("all-zero and all-0xff payloads", "[ipc][corrupt]", FENCE_ALL_MESSAGES) {
  const std::size_t size = encode_payload(sample<TestType>()).size();
  for (std::size_t len : {std::size_t{0}, std::size_t{1}, size, std::size_t{4096}, kMaxPayload}) {
    for (std::byte fill : {std::byte{0x00}, std::byte{0xff}}) {
      INFO("len " << len << " fill " << std::to_integer<int>(fill));
      const std::vector<std::byte> payload(len, fill);
      try {
        const TestType m = decode_payload<TestType>(payload);
        (void)validate(m);  // decoded: must be a value validate() can judge
      } catch (const DecodeError&) {
      }
    }
  }
  // all-0xff: every size tag is 0xffffffff and every bool 0xff, so these must all be rejected.
  const std::vector<std::byte> ones(size, std::byte{0xff});
  if constexpr (std::is_same_v<TestType, ExecFailed> || std::is_same_v<TestType, InboundFailed>) {
    CHECK(validate(decode_payload<TestType>(ones)).has_value());  // errno -1
  } else if constexpr (std::is_same_v<TestType, LocalListenerReady> ||
                       std::is_same_v<TestType, LocalListener> ||
                       std::is_same_v<TestType, InboundOpen> ||
                       std::is_same_v<TestType, InboundReady> ||
                       std::is_same_v<TestType, RelayStart> ||
                       std::is_same_v<TestType, RelayClosed>) {
    // Only integers whose range the receiver checks against its own state (ids, ports).
    CHECK_NOTHROW(decode_payload<TestType>(ones));
  } else if constexpr (std::is_same_v<TestType, ListenersReady> ||
                       std::is_same_v<TestType, TransparentReady>) {
    CHECK(validate(decode_payload<TestType>(ones)).has_value());  // both ports 65535: equal
  } else if constexpr (std::is_same_v<TestType, DnsAnswer>) {
    CHECK(validate(decode_payload<TestType>(ones)).has_value());  // rcode 255
  } else if constexpr (std::is_same_v<TestType, ConnectAllowed> ||
                       std::is_same_v<TestType, TunnelClosed>) {
    // Only integers without a range of their own: decodes to the all-ones values.
    const TestType m = decode_payload<TestType>(ones);
    CHECK(m.id == ~std::uint64_t{0});
  } else if constexpr (std::is_same_v<TestType, StartCommand>) {
    CHECK(ones.empty());  // no fields: nothing to corrupt (trailing bytes: see below)
  } else if constexpr (std::is_same_v<TestType, SandboxReady>) {
    CHECK_THROWS_AS(decode_payload<TestType>(ones), DecodeError);  // seccomp byte 0xff
  } else if constexpr (std::is_same_v<TestType, TransparentStart>) {
    CHECK_THROWS_AS(decode_payload<TestType>(ones), DecodeError);  // verify_names byte 0xff
  } else {
    CHECK_THROWS_AS(decode_payload<TestType>(ones), DecodeError);
  }
}

TEMPLATE_TEST_CASE("trailing bytes are rejected", "[ipc][corrupt]", FENCE_ALL_MESSAGES) {
  auto payload = encode_payload(sample<TestType>());
  REQUIRE_NOTHROW(decode_payload<TestType>(payload));
  payload.push_back(std::byte{0});
  CHECK_THROWS_AS(decode_payload<TestType>(payload), DecodeError);
  // The frame layer passes it (payload_len counts the extra byte); the message layer refuses.
  const std::size_t nfds = fd_count_of<TestType>();
  const auto frame = encode_frame(TestType::kType, payload, nfds);
  const DecodedFrame f = decode_frame(frame, nfds);
  REQUIRE(f.ok());
  FdBag bag(nfds);
  Incoming in{f.type, std::vector<std::byte>(f.payload.begin(), f.payload.end()), {}};
  for (int fd : bag.raw) in.fds.emplace_back(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  CHECK_THROWS_AS(in.decode<TestType>(), ProtocolError);
  // Without the trailing byte the same Incoming decodes; with a wrong fd count it does not.
  in.payload.pop_back();
  CHECK_NOTHROW(in.decode<TestType>());
  in.fds.emplace_back(::fcntl(0, F_DUPFD_CLOEXEC, 0));
  CHECK_THROWS_AS(in.decode<TestType>(), ProtocolError);
}

}  // namespace fence::ipc
