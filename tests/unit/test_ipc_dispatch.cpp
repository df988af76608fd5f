// PeerState: the dispatch table without sockets.
#include <catch2/catch.hpp>

#include <utility>

#include "ipc/dispatch.hpp"
#include "ipc/messages.hpp"

namespace fence::ipc {

TEST_CASE("Hello must come first, and only once", "[ipc][dispatch]") {
  PeerState s(Role::Supervisor, Role::Launcher);
  CHECK(s.phase() == Phase::Handshake);
  CHECK(s.admit(MessageType::LaunchSpec, 3).has_value());  // before Hello
  CHECK(s.phase() == Phase::Handshake);                    // rejection changed nothing
  CHECK_FALSE(s.admit(MessageType::Hello, 0).has_value());
  CHECK(s.phase() == Phase::Running);
  CHECK(s.admit(MessageType::Hello, 0).has_value());       // second Hello
  CHECK(s.admit(MessageType::LaunchSpec, 0).has_value());  // without the command's stdio
  CHECK_FALSE(s.admit(MessageType::LaunchSpec, 3).has_value());
}

TEST_CASE("'once' messages at most once", "[ipc][dispatch]") {
  PeerState s(Role::Launcher, Role::Supervisor);
  s.on_receive(MessageType::Hello, 0);
  for (auto t : {MessageType::SandboxReady, MessageType::SetupFailed, MessageType::ExecFailed,
                 MessageType::CommandExited}) {
    CHECK_NOTHROW(s.on_receive(t, 0));
    CHECK_THROWS_AS(s.on_receive(t, 0), ProtocolError);
  }
}

TEST_CASE("a role may send only its own messages", "[ipc][dispatch]") {
  PeerState from_launcher(Role::Launcher, Role::Supervisor);
  from_launcher.on_receive(MessageType::Hello, 0);
  CHECK_THROWS_AS(from_launcher.on_receive(MessageType::LaunchSpec, 0), ProtocolError);

  PeerState from_supervisor(Role::Supervisor, Role::Launcher);
  from_supervisor.on_receive(MessageType::Hello, 0);
  for (auto t : {MessageType::SandboxReady, MessageType::SetupFailed, MessageType::ExecFailed,
                 MessageType::CommandExited}) {
    CHECK_THROWS_AS(from_supervisor.on_receive(t, 0), ProtocolError);
  }

  // The proxy worker may send only ConnectRequest and TunnelClosed, never a launcher message
  // or a supervisor message.
  PeerState from_worker(Role::ProxyWorker, Role::Supervisor);
  CHECK_THROWS_AS(from_worker.on_receive(MessageType::ConnectRequest, 0), ProtocolError);
  from_worker.on_receive(MessageType::Hello, 0);
  for (int i = 0; i < 3; ++i) {  // not 'once'
    CHECK_NOTHROW(from_worker.on_receive(MessageType::ConnectRequest, 0));
    CHECK_NOTHROW(from_worker.on_receive(MessageType::TunnelClosed, 0));
  }
  const std::pair<MessageType, std::size_t> foreign[] = {
      {MessageType::ListenersReady, 2}, {MessageType::SandboxReady, 0},
      {MessageType::CommandExited, 0},  {MessageType::ProxyStart, 2},
      {MessageType::ConnectAllowed, 1}, {MessageType::ConnectDenied, 0},
      {MessageType::LaunchSpec, 0}};
  for (const auto& [t, fds] : foreign) {
    INFO(message_name(t));
    CHECK_THROWS_AS(from_worker.on_receive(t, fds), ProtocolError);
  }

  // The launcher may not speak for the worker, nor the supervisor for either.
  PeerState launcher(Role::Launcher, Role::Supervisor);
  launcher.on_receive(MessageType::Hello, 0);
  CHECK_THROWS_AS(launcher.on_receive(MessageType::ConnectRequest, 0), ProtocolError);
  CHECK_NOTHROW(launcher.on_receive(MessageType::ListenersReady, 2));
  CHECK_THROWS_AS(launcher.on_receive(MessageType::ListenersReady, 2), ProtocolError);  // once

  PeerState to_worker(Role::Supervisor, Role::ProxyWorker);
  to_worker.on_receive(MessageType::Hello, 0);
  CHECK_THROWS_AS(to_worker.on_receive(MessageType::LaunchSpec, 0), ProtocolError);
  CHECK_NOTHROW(to_worker.on_receive(MessageType::ProxyStart, 2));
  CHECK_THROWS_AS(to_worker.on_receive(MessageType::ProxyStart, 2), ProtocolError);  // once
  for (int i = 0; i < 3; ++i) {
    CHECK_NOTHROW(to_worker.on_receive(MessageType::ConnectAllowed, 1));
    CHECK_NOTHROW(to_worker.on_receive(MessageType::ConnectDenied, 0));
  }
  CHECK_THROWS_AS(to_worker.on_receive(MessageType::TunnelClosed, 0), ProtocolError);
}

TEST_CASE("unknown types are rejected", "[ipc][dispatch]") {
  PeerState s(Role::Launcher, Role::Supervisor);
  CHECK_THROWS_AS(s.on_receive(static_cast<MessageType>(0), 0), ProtocolError);
  CHECK_THROWS_AS(s.on_receive(static_cast<MessageType>(31), 0), ProtocolError);
  CHECK_THROWS_AS(s.on_receive(static_cast<MessageType>(0xffff), 0), ProtocolError);
}

TEST_CASE("fd count must match the rule exactly", "[ipc][dispatch]") {
  PeerState s(Role::Launcher, Role::Supervisor);
  CHECK_THROWS_AS(s.on_receive(MessageType::Hello, 1), ProtocolError);
  CHECK(s.phase() == Phase::Handshake);
  s.on_receive(MessageType::Hello, 0);
  CHECK_THROWS_AS(s.on_receive(MessageType::SandboxReady, 1), ProtocolError);
  CHECK_NOTHROW(s.on_receive(MessageType::SandboxReady, 0));  // the rejected one did not count
}

TEST_CASE("fd counts of the network messages", "[ipc][dispatch]") {
  CHECK(fds_for_type(MessageType::ListenersReady) == std::size_t{2});
  CHECK(fds_for_type(MessageType::ProxyStart) == std::size_t{2});
  CHECK(fds_for_type(MessageType::ConnectRequest) == std::size_t{0});
  CHECK(fds_for_type(MessageType::ConnectAllowed) == std::size_t{1});
  CHECK(fds_for_type(MessageType::ConnectDenied) == std::size_t{0});
  CHECK(fds_for_type(MessageType::TunnelClosed) == std::size_t{0});

  PeerState launcher(Role::Launcher, Role::Supervisor);
  launcher.on_receive(MessageType::Hello, 0);
  for (std::size_t n : {0, 1, 3, 4}) {
    CHECK_THROWS_AS(launcher.on_receive(MessageType::ListenersReady, n), ProtocolError);
  }
  CHECK_NOTHROW(launcher.on_receive(MessageType::ListenersReady, 2));  // rejections did not count

  PeerState to_worker(Role::Supervisor, Role::ProxyWorker);
  to_worker.on_receive(MessageType::Hello, 0);
  for (std::size_t n : {0, 1, 3}) {
    CHECK_THROWS_AS(to_worker.on_receive(MessageType::ProxyStart, n), ProtocolError);
  }
  CHECK_NOTHROW(to_worker.on_receive(MessageType::ProxyStart, 2));
  for (std::size_t n : {0, 2}) {
    CHECK_THROWS_AS(to_worker.on_receive(MessageType::ConnectAllowed, n), ProtocolError);
  }
  CHECK_THROWS_AS(to_worker.on_receive(MessageType::ConnectDenied, 1), ProtocolError);

  PeerState from_worker(Role::ProxyWorker, Role::Supervisor);
  from_worker.on_receive(MessageType::Hello, 0);
  CHECK_THROWS_AS(from_worker.on_receive(MessageType::ConnectRequest, 1), ProtocolError);
  CHECK_THROWS_AS(from_worker.on_receive(MessageType::TunnelClosed, 1), ProtocolError);
}

TEST_CASE("rule lookup", "[ipc][dispatch]") {
  REQUIRE(find_rule(MessageType::LaunchSpec, Role::Supervisor, Role::Launcher) != nullptr);
  CHECK(find_rule(MessageType::LaunchSpec, Role::Launcher, Role::Supervisor) == nullptr);
  CHECK(fds_for_type(MessageType::CommandExited) == std::size_t{0});
  CHECK_FALSE(fds_for_type(static_cast<MessageType>(42)).has_value());
}

}  // namespace fence::ipc
