// Channel over real socketpairs: fd passing violations, ordering, role checks, MSG_TRUNC,
// end of stream, non-blocking reads.
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstring>

#include "ipc/channel.hpp"
#include "platform/sealed_memfd.hpp"
#include "platform/sys_error.hpp"
#include "tests/unit/raw_ipc.hpp"

namespace fence::ipc {
namespace {

using platform::UniqueFd;
using test::frame_of;
using test::send_raw;

// A supervisor-side Channel and the raw launcher end, which plays a hostile launcher.
struct Rig {
  Channel supervisor;
  UniqueFd launcher;
};

Rig make_rig() {
  auto [a, b] = make_channel_pair();
  return Rig{Channel(std::move(a), Role::Supervisor, Role::Launcher), std::move(b)};
}

std::size_t open_fd_count() {
  std::size_t n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  REQUIRE(d != nullptr);
  while (::readdir(d) != nullptr) ++n;
  ::closedir(d);
  return n;
}

// The number the kernel will give the next received fd: the lowest free one.
int next_free_fd() {
  const int fd = ::dup(0);
  REQUIRE(fd >= 0);
  ::close(fd);
  return fd;
}

bool is_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1;
}

struct Pipe {
  UniqueFd read, write;
};
Pipe make_pipe() {
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  return Pipe{UniqueFd(p[0]), UniqueFd(p[1])};
}

const Hello kLauncherHello{kProtocolVersion, Role::Launcher};

// Sends `frame` with `fds` to a supervisor channel and requires a ProtocolError, with every
// received fd closed afterwards.
void expect_rejected_and_closed(Rig& rig, std::span<const std::byte> frame,
                                std::span<const int> fds) {
  send_raw(rig.launcher.get(), frame, fds);
  const int predicted = next_free_fd();
  const std::size_t before = open_fd_count();
  CHECK_THROWS_AS(rig.supervisor.receive(), ProtocolError);
  CHECK(open_fd_count() == before);
  CHECK_FALSE(is_open(predicted));
  CHECK(rig.supervisor.broken());
}

}  // namespace

TEST_CASE("an fd on a message that carries none is closed and rejected", "[ipc][channel][fds]") {
  Pipe p = make_pipe();
  const int fds[] = {p.read.get()};
  SECTION("header declares the fd") {
    Rig rig = make_rig();
    expect_rejected_and_closed(rig, frame_of(kLauncherHello, 1), fds);
  }
  SECTION("header does not declare the fd") {
    Rig rig = make_rig();
    expect_rejected_and_closed(rig, frame_of(kLauncherHello, 0), fds);
  }
  SECTION("after the handshake, on a Running message") {
    Rig rig = make_rig();
    send_raw(rig.launcher.get(), frame_of(kLauncherHello));
    REQUIRE(rig.supervisor.receive());
    expect_rejected_and_closed(rig, frame_of(ExecFailed{2}, 1), fds);
  }
  SECTION("more fds than kMaxFdsPerMessage (MSG_CTRUNC)") {
    Rig rig = make_rig();
    const int many[] = {p.read.get(), p.read.get(), p.read.get(), p.read.get(), p.read.get()};
    expect_rejected_and_closed(rig, frame_of(kLauncherHello, 0), many);
  }
  SECTION("fds with a garbage datagram") {
    Rig rig = make_rig();
    const std::vector<std::byte> junk(40, std::byte{0xff});
    expect_rejected_and_closed(rig, junk, fds);
  }
  SECTION("the pipe's read end is really gone from the receiver") {
    // Sanity check of the method: without the channel, a received fd would stay open.
    auto [a, b] = make_channel_pair();
    send_raw(b.get(), frame_of(kLauncherHello, 1), fds);
    const std::size_t before = open_fd_count();
    char buf[64];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    iovec iov{buf, sizeof buf};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    REQUIRE(::recvmsg(a.get(), &msg, MSG_CMSG_CLOEXEC) > 0);
    CHECK(open_fd_count() == before + 1);
    int got = -1;
    std::memcpy(&got, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof got);
    UniqueFd owned(got);
  }
}

TEST_CASE("network messages carry exactly their fds", "[ipc][channel][fds]") {
  Pipe p1 = make_pipe();
  Pipe p2 = make_pipe();
  Pipe p3 = make_pipe();
  const int one[] = {p1.read.get()};
  const int two[] = {p1.read.get(), p2.read.get()};
  const int three[] = {p1.read.get(), p2.read.get(), p3.read.get()};
  const ListenersReady listeners{3128, 1080};

  SECTION("ListenersReady with 2 fds is accepted, the fds arrive") {
    Rig rig = make_rig();
    send_raw(rig.launcher.get(), frame_of(kLauncherHello));
    REQUIRE(rig.supervisor.receive());
    send_raw(rig.launcher.get(), frame_of(listeners, 2), two);
    auto in = rig.supervisor.receive();
    REQUIRE(in);
    REQUIRE(in->fds.size() == 2);
    CHECK(in->decode<ListenersReady>().http_port == 3128);
    for (const UniqueFd& fd : in->fds) CHECK((::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC) != 0);
  }
  SECTION("ListenersReady with 1 fd (declared 1)") {
    Rig rig = make_rig();
    send_raw(rig.launcher.get(), frame_of(kLauncherHello));
    REQUIRE(rig.supervisor.receive());
    expect_rejected_and_closed(rig, frame_of(listeners, 1), one);
  }
  SECTION("ListenersReady with 3 fds (declared 2)") {
    Rig rig = make_rig();
    send_raw(rig.launcher.get(), frame_of(kLauncherHello));
    REQUIRE(rig.supervisor.receive());
    expect_rejected_and_closed(rig, frame_of(listeners, 2), three);
  }
  SECTION("ListenersReady with no fds") {
    Rig rig = make_rig();
    send_raw(rig.launcher.get(), frame_of(kLauncherHello));
    REQUIRE(rig.supervisor.receive());
    send_raw(rig.launcher.get(), frame_of(listeners, 0));
    CHECK_THROWS_AS(rig.supervisor.receive(), ProtocolError);
  }
  SECTION("a ConnectRequest with an fd from the worker") {
    auto [a, b] = make_channel_pair();
    Channel supervisor(std::move(a), Role::Supervisor, Role::ProxyWorker);
    Rig rig{std::move(supervisor), std::move(b)};
    send_raw(rig.launcher.get(), frame_of(Hello{kProtocolVersion, Role::ProxyWorker}));
    REQUIRE(rig.supervisor.receive());
    expect_rejected_and_closed(
        rig, frame_of(ConnectRequest{1, "example.com", 443, ProxyProtocol::HttpConnect}, 1), one);
  }
  SECTION("a ConnectRequest from the launcher's channel") {
    Rig rig = make_rig();
    send_raw(rig.launcher.get(), frame_of(kLauncherHello));
    REQUIRE(rig.supervisor.receive());
    expect_rejected_and_closed(
        rig, frame_of(ConnectRequest{1, "example.com", 443, ProxyProtocol::HttpConnect}), {});
  }
  SECTION("ConnectAllowed at the worker: 1 fd accepted, 0 or 2 rejected and closed") {
    auto [a, b] = make_channel_pair();
    Channel worker(std::move(a), Role::ProxyWorker, Role::Supervisor);
    Rig rig{std::move(worker), std::move(b)};
    send_raw(rig.launcher.get(), frame_of(Hello{kProtocolVersion, Role::Supervisor}));
    REQUIRE(rig.supervisor.receive());
    send_raw(rig.launcher.get(), frame_of(ConnectAllowed{5}, 1), one);
    auto in = rig.supervisor.receive();
    REQUIRE(in);
    CHECK(in->fds.size() == 1);
    CHECK(in->decode<ConnectAllowed>().id == 5);
    expect_rejected_and_closed(rig, frame_of(ConnectAllowed{6}, 2), two);
  }
  SECTION("ConnectAllowed without its fd") {
    auto [a, b] = make_channel_pair();
    Channel worker(std::move(a), Role::ProxyWorker, Role::Supervisor);
    Rig rig{std::move(worker), std::move(b)};
    send_raw(rig.launcher.get(), frame_of(Hello{kProtocolVersion, Role::Supervisor}));
    REQUIRE(rig.supervisor.receive());
    send_raw(rig.launcher.get(), frame_of(ConnectAllowed{5}, 0));
    CHECK_THROWS_AS(rig.supervisor.receive(), ProtocolError);
  }
}

TEST_CASE("a declared fd that did not arrive is rejected", "[ipc][channel][fds]") {
  Rig rig = make_rig();
  send_raw(rig.launcher.get(), frame_of(kLauncherHello, 1));
  CHECK_THROWS_AS(rig.supervisor.receive(), ProtocolError);
}

TEST_CASE("messages out of order are rejected", "[ipc][channel][order]") {
  SECTION("a Running message before Hello") {
    Rig rig = make_rig();
    send_raw(rig.launcher.get(), frame_of(CommandExited{false, 0}));
    CHECK_THROWS_AS(rig.supervisor.receive(), ProtocolError);
  }
  SECTION("LaunchSpec before Hello, at the launcher") {
    auto [a, b] = make_channel_pair();
    Channel launcher(std::move(a), Role::Launcher, Role::Supervisor);
    LaunchSpec spec;
    spec.argv = {"true"};
    spec.cwd = "/";
    send_raw(b.get(), frame_of(spec));
    CHECK_THROWS_AS(launcher.receive(), ProtocolError);
  }
  SECTION("a second Hello") {
    Rig rig = make_rig();
    send_raw(rig.launcher.get(), frame_of(kLauncherHello));
    send_raw(rig.launcher.get(), frame_of(kLauncherHello));
    REQUIRE(rig.supervisor.receive());
    CHECK_THROWS_AS(rig.supervisor.receive(), ProtocolError);
  }
  SECTION("a message this role may not send") {
    Rig rig = make_rig();
    send_raw(rig.launcher.get(), frame_of(kLauncherHello));
    REQUIRE(rig.supervisor.receive());
    LaunchSpec spec;
    spec.argv = {"true"};
    spec.cwd = "/";
    send_raw(rig.launcher.get(), frame_of(spec));
    CHECK_THROWS_AS(rig.supervisor.receive(), ProtocolError);
  }
  SECTION("a 'once' message twice") {
    Rig rig = make_rig();
    send_raw(rig.launcher.get(), frame_of(kLauncherHello));
    send_raw(rig.launcher.get(), frame_of(SandboxReady{7, 3, true, {}}));
    send_raw(rig.launcher.get(), frame_of(SandboxReady{7, 3, true, {}}));
    REQUIRE(rig.supervisor.receive());
    REQUIRE(rig.supervisor.receive());
    CHECK_THROWS_AS(rig.supervisor.receive(), ProtocolError);
  }
}

TEST_CASE("a peer that exits with our message unread still delivers its own", "[ipc][channel]") {
  // The launcher fails, says why (SetupFailed) and exits while the supervisor's StartCommand
  // sits unread in its queue: the kernel reports ECONNRESET once, then the queued messages.
  Rig rig = make_rig();
  send_raw(rig.launcher.get(), frame_of(kLauncherHello));
  send_raw(rig.launcher.get(),
           frame_of(SetupFailed{SetupStage::UserNamespace, "namespaces: user namespace", 28, ""}));
  rig.supervisor.send_hello();
  rig.supervisor.send(StartCommand{});
  rig.launcher.reset();
  auto hello = rig.supervisor.receive();
  REQUIRE(hello);
  CHECK(hello->type == MessageType::Hello);
  auto failed = rig.supervisor.receive();
  REQUIRE(failed);
  REQUIRE(failed->type == MessageType::SetupFailed);
  CHECK(failed->decode<SetupFailed>().error == 28);
  CHECK_FALSE(rig.supervisor.receive());  // then end of stream
}

TEST_CASE("send_unless_gone tells a gone peer from a failure", "[ipc][channel]") {
  Rig rig = make_rig();
  rig.supervisor.send_hello();
  CHECK(rig.supervisor.send_unless_gone(StartCommand{}));
  rig.launcher.reset();
  CHECK_FALSE(rig.supervisor.send_unless_gone(ExecVerdict{1, true}));
  CHECK_THROWS_AS(rig.supervisor.send(ExecVerdict{2, true}), platform::SysError);
  // What the channel refuses to send at all is still an error, gone peer or not.
  CHECK_THROWS_AS(rig.supervisor.send_unless_gone(StartCommand{}), std::logic_error);  // once
}

TEST_CASE("Hello contents are checked by receive()", "[ipc][channel][hello]") {
  SECTION("wrong role for this channel") {
    Rig rig = make_rig();
    send_raw(rig.launcher.get(), frame_of(Hello{kProtocolVersion, Role::ProxyWorker}));
    CHECK_THROWS_AS(rig.supervisor.receive(), ProtocolError);
  }
  SECTION("the supervisor's own role") {
    Rig rig = make_rig();
    send_raw(rig.launcher.get(), frame_of(Hello{kProtocolVersion, Role::Supervisor}));
    CHECK_THROWS_AS(rig.supervisor.receive(), ProtocolError);
  }
  SECTION("payload version mismatch") {
    Rig rig = make_rig();
    send_raw(rig.launcher.get(), frame_of(Hello{kProtocolVersion + 1, Role::Launcher}));
    CHECK_THROWS_AS(rig.supervisor.receive(), ProtocolError);
  }
}

TEST_CASE("a datagram over the frame cap is rejected (MSG_TRUNC)", "[ipc][channel][trunc]") {
  Rig rig = make_rig();
  send_raw(rig.launcher.get(), frame_of(kLauncherHello));
  REQUIRE(rig.supervisor.receive());
  // Its first kMaxFrameSize bytes are a consistent frame (payload_len == kMaxPayload), so only
  // the truncation flag can tell that the datagram was longer.
  std::vector<std::byte> big =
      encode_frame(MessageType::SandboxReady, std::vector<std::byte>(kMaxPayload), 0);
  REQUIRE(decode_frame(big, 0).ok());
  big.resize(kMaxFrameSize + 1, std::byte{0});
  send_raw(rig.launcher.get(), big);
  CHECK_THROWS_AS(rig.supervisor.receive(), ProtocolError);
}

TEST_CASE("after a violation the channel stays broken", "[ipc][channel]") {
  Rig rig = make_rig();
  send_raw(rig.launcher.get(), frame_of(ExecFailed{2}));   // before Hello
  send_raw(rig.launcher.get(), frame_of(kLauncherHello));  // valid, but too late
  CHECK_THROWS_AS(rig.supervisor.receive(), ProtocolError);
  CHECK(rig.supervisor.broken());
  CHECK_THROWS_AS(rig.supervisor.receive(), ProtocolError);
}

TEST_CASE("invalid field values are rejected by Incoming::decode", "[ipc][channel]") {
  Rig rig = make_rig();
  send_raw(rig.launcher.get(), frame_of(kLauncherHello));
  REQUIRE(rig.supervisor.receive());
  send_raw(rig.launcher.get(), frame_of(SandboxReady{0, 3, true, {}}));  // pid 0
  auto in = rig.supervisor.receive();
  REQUIRE(in);
  CHECK_THROWS_AS(in->decode<SandboxReady>(), ProtocolError);
  CHECK_THROWS_AS(in->decode<ExecFailed>(), ProtocolError);  // type mismatch
}

TEST_CASE("end of stream and non-blocking reads", "[ipc][channel]") {
  SECTION("orderly EOF") {
    Rig rig = make_rig();
    rig.launcher.reset();
    CHECK_FALSE(rig.supervisor.receive().has_value());
  }
  SECTION("EOF after the handshake") {
    Rig rig = make_rig();
    send_raw(rig.launcher.get(), frame_of(kLauncherHello));
    rig.launcher.reset();
    CHECK(rig.supervisor.receive().has_value());
    CHECK_FALSE(rig.supervisor.receive().has_value());
  }
  SECTION("nothing queued on a non-blocking socket") {
    Rig rig = make_rig();
    const int fd = rig.supervisor.fd();
    REQUIRE(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) == 0);
    CHECK(rig.supervisor.try_receive().status == ReceiveStatus::WouldBlock);
    try {
      (void)rig.supervisor.receive();
      FAIL("receive() returned on an empty non-blocking socket");
    } catch (const platform::SysError& e) {
      CHECK(e.error_code() == EAGAIN);
    }
    send_raw(rig.launcher.get(), frame_of(kLauncherHello));
    const ReceiveResult r = rig.supervisor.try_receive();
    CHECK(r.status == ReceiveStatus::Message);
    CHECK(r.message.has_value());
  }
}

TEST_CASE("send() enforces the table and validate() on this side", "[ipc][channel][send]") {
  auto [a, b] = make_channel_pair();
  Channel supervisor(std::move(a), Role::Supervisor, Role::Launcher);
  Channel launcher(std::move(b), Role::Launcher, Role::Supervisor);
  LaunchSpec spec;
  spec.argv = {"true"};
  spec.cwd = "/";
  Pipe p = make_pipe();
  const int fds[] = {p.read.get()};
  const int stdio[] = {p.read.get(), p.write.get(), p.write.get()};
  CHECK_THROWS_AS(supervisor.send(spec, stdio), std::logic_error);  // before our Hello
  CHECK_THROWS_AS(supervisor.send(Hello{kProtocolVersion, Role::Supervisor}, fds),
                  std::logic_error);
  supervisor.send_hello();
  CHECK_THROWS_AS(supervisor.send_hello(), std::logic_error);         // twice
  CHECK_THROWS_AS(supervisor.send(ExecFailed{1}), std::logic_error);  // launcher's message
  LaunchSpec bad = spec;
  bad.cwd = "relative";
  CHECK_THROWS_AS(supervisor.send(bad, stdio), EncodeError);
  CHECK_THROWS_AS(supervisor.send(spec), std::logic_error);  // without its 3 fds
  supervisor.send(spec, stdio);
  CHECK_THROWS_AS(supervisor.send(spec, stdio), std::logic_error);  // once

  // Only the valid ones went out.
  REQUIRE(launcher.receive()->type == MessageType::Hello);
  auto in = launcher.receive();
  REQUIRE(in);
  CHECK(in->decode<LaunchSpec>().argv == spec.argv);
  const int fd = launcher.fd();
  REQUIRE(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) == 0);
  CHECK(launcher.try_receive().status == ReceiveStatus::WouldBlock);
}

TEST_CASE("large messages travel in a sealed memfd, whole", "[ipc][channel][large]") {
  auto [a, b] = make_channel_pair();
  Channel supervisor(std::move(a), Role::Supervisor, Role::Launcher);
  Channel launcher(std::move(b), Role::Launcher, Role::Supervisor);
  supervisor.send_hello();
  launcher.send_hello();
  REQUIRE(launcher.receive()->type == MessageType::Hello);
  REQUIRE(supervisor.receive()->type == MessageType::Hello);

  // An argv and environment as large as the kernel takes (3,000 names, a 64 KiB script, a
  // 20 KiB variable): the launcher gets every byte, and its 3 fds.
  LaunchSpec spec;
  spec.cwd = "/";
  spec.argv.assign(3000, "file-name-argument.c");
  spec.argv[0] = "cc";
  spec.argv.push_back(std::string(64 * 1024, 's'));
  spec.env = {"BIG=" + std::string(20 * 1024, 'v'), "PATH=/usr/bin"};
  Pipe p = make_pipe();
  const int stdio[] = {p.read.get(), p.write.get(), p.write.get()};
  const std::size_t before = open_fd_count();
  supervisor.send(spec, stdio);
  auto in = launcher.receive();
  REQUIRE(in);
  CHECK(in->fds.size() == 3);  // the memfd is not among them
  const LaunchSpec got = in->decode<LaunchSpec>();
  CHECK(got.argv == spec.argv);
  CHECK(got.env == spec.env);
  in.reset();
  CHECK(open_fd_count() == before);  // nothing left open on either side

  ExecCheck check{1, 7, "sh", "/usr/bin/echo", std::vector<std::string>(1100, "word")};
  check.argv.push_back("push");
  check.argv.push_back(std::string(kMaxArgLen, 'x'));
  launcher.send(check);
  auto asked = supervisor.receive();
  REQUIRE(asked);
  CHECK(asked->decode<ExecCheck>().argv == check.argv);
}

TEST_CASE("a payload memfd is checked before a byte of it is decoded", "[ipc][channel][large]") {
  const ExecCheck check{1, 7, "sh", "/usr/bin/echo", {"echo", std::string(100000, 'x')}};
  const auto payload = encode_payload(check, kMaxLargePayload);
  const auto header = encode_frame_header_only(MessageType::ExecCheck, payload.size(), 1);
  auto hello_then = [&](Rig& rig) {
    send_raw(rig.launcher.get(), frame_of(kLauncherHello));
    REQUIRE(rig.supervisor.receive());
  };
  SECTION("sealed and of the announced size: accepted") {
    Rig rig = make_rig();
    hello_then(rig);
    UniqueFd memfd = platform::make_sealed_memfd("t", payload);
    const int fds[] = {memfd.get()};
    send_raw(rig.launcher.get(), header, fds);
    auto in = rig.supervisor.receive();
    REQUIRE(in);
    CHECK(in->decode<ExecCheck>().argv == check.argv);
  }
  SECTION("not sealed: the sender could still change it") {
    Rig rig = make_rig();
    hello_then(rig);
    UniqueFd memfd(::memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    REQUIRE(::write(memfd.get(), payload.data(), payload.size()) ==
            static_cast<ssize_t>(payload.size()));
    const int fds[] = {memfd.get()};
    expect_rejected_and_closed(rig, header, fds);
  }
  SECTION("not a memfd (a pipe could block the reader)") {
    Rig rig = make_rig();
    hello_then(rig);
    Pipe p = make_pipe();
    const int fds[] = {p.read.get()};
    expect_rejected_and_closed(rig, header, fds);
  }
  SECTION("another size than the header says") {
    Rig rig = make_rig();
    hello_then(rig);
    auto shorter = payload;
    shorter.pop_back();
    UniqueFd memfd = platform::make_sealed_memfd("t", shorter);
    const int fds[] = {memfd.get()};
    expect_rejected_and_closed(rig, header, fds);
  }
  SECTION("a type that is not large") {
    Rig rig = make_rig();
    hello_then(rig);
    const auto small = encode_payload(SandboxReady{7, 3, true, {}});
    UniqueFd memfd = platform::make_sealed_memfd("t", small);
    const int fds[] = {memfd.get()};
    expect_rejected_and_closed(
        rig, encode_frame_header_only(MessageType::SandboxReady, small.size(), 1), fds);
  }
}

TEST_CASE("send() to a closed peer is EPIPE, not SIGPIPE", "[ipc][channel][send]") {
  auto [a, b] = make_channel_pair();
  Channel supervisor(std::move(a), Role::Supervisor, Role::Launcher);
  b.reset();
  try {
    supervisor.send_hello();
    FAIL("send to a closed peer succeeded");
  } catch (const platform::SysError& e) {
    CHECK(e.error_code() == EPIPE);
  }
}

}  // namespace fence::ipc
