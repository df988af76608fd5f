// PeerState: the dispatch table without sockets.
#include <catch2/catch.hpp>

#include "ipc/dispatch.hpp"

namespace fence::ipc {

TEST_CASE("Hello must come first, and only once", "[ipc][dispatch]") {
  PeerState s(Role::Supervisor, Role::Launcher);
  CHECK(s.phase() == Phase::Handshake);
  CHECK(s.admit(MessageType::LaunchSpec, 0).has_value());  // before Hello
  CHECK(s.phase() == Phase::Handshake);                    // rejection changed nothing
  CHECK_FALSE(s.admit(MessageType::Hello, 0).has_value());
  CHECK(s.phase() == Phase::Running);
  CHECK(s.admit(MessageType::Hello, 0).has_value());  // second Hello
  CHECK_FALSE(s.admit(MessageType::LaunchSpec, 0).has_value());
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

  // No rule names the proxy worker yet: not even its Hello is accepted.
  PeerState from_worker(Role::ProxyWorker, Role::Supervisor);
  CHECK_THROWS_AS(from_worker.on_receive(MessageType::Hello, 0), ProtocolError);
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

TEST_CASE("rule lookup", "[ipc][dispatch]") {
  REQUIRE(find_rule(MessageType::LaunchSpec, Role::Supervisor, Role::Launcher) != nullptr);
  CHECK(find_rule(MessageType::LaunchSpec, Role::Launcher, Role::Supervisor) == nullptr);
  CHECK(fds_for_type(MessageType::CommandExited) == std::size_t{0});
  CHECK_FALSE(fds_for_type(static_cast<MessageType>(42)).has_value());
}

}  // namespace fence::ipc
