// The launcher's end of its channel (launcher/supervisor_link.hpp): one handler per message, and
// the order the launcher accepts them in. Also the command child's steps as the supervisor sees
// them in SetupFailed.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <string>
#include <vector>

#include "ipc/channel.hpp"
#include "launcher/command_child.hpp"
#include "launcher/inbound_client.hpp"
#include "launcher/supervisor_link.hpp"

using namespace fence;

namespace {

platform::UniqueFd pipe_end() {
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  ::close(p[1]);
  return platform::UniqueFd(p[0]);
}

// Both ends of a launcher channel, after the Hello exchange.
struct Ends {
  Ends() {
    auto [a, b] = ipc::make_channel_pair();
    launcher.emplace(std::move(a), ipc::Role::Launcher, ipc::Role::Supervisor);
    supervisor.emplace(std::move(b), ipc::Role::Supervisor, ipc::Role::Launcher);
    launcher->send_hello();
    supervisor->send_hello();
    REQUIRE(supervisor->receive());
    REQUIRE(launcher->receive());
  }
  void send_launch_spec() {
    ipc::LaunchSpec spec;
    spec.argv = {"true"};
    spec.cwd = "/";
    spec.inbound_ports = {8080};
    auto in = pipe_end(), out = pipe_end(), err = pipe_end();
    const int fds[] = {in.get(), out.get(), err.get()};
    supervisor->send(spec, fds);
  }
  std::optional<ipc::Channel> launcher;
  std::optional<ipc::Channel> supervisor;
};

}  // namespace

TEST_CASE("supervisor link: the LaunchSpec arrives with the command's streams",
          "[launcher][supervisor_link]") {
  Ends ends;
  launcher::SupervisorLink link(*ends.launcher);
  ends.send_launch_spec();
  auto received = link.receive_launch_spec();
  REQUIRE(received);
  CHECK(received->spec.argv == std::vector<std::string>{"true"});
  CHECK(received->stdio.size() == 3);
}

TEST_CASE("supervisor link: nothing but the LaunchSpec comes first",
          "[launcher][supervisor_link]") {
  Ends ends;
  launcher::SupervisorLink link(*ends.launcher);
  ends.supervisor->send(ipc::StartCommand{});
  CHECK_THROWS_WITH(link.receive_launch_spec(), "expected LaunchSpec, got StartCommand");
  // The supervisor gone before it: no LaunchSpec, no error.
  Ends gone;
  launcher::SupervisorLink quiet(*gone.launcher);
  gone.supervisor.reset();
  CHECK_FALSE(quiet.receive_launch_spec());
}

TEST_CASE("supervisor link: init waits for StartCommand and nothing else",
          "[launcher][supervisor_link]") {
  SECTION("StartCommand") {
    Ends ends;
    launcher::SupervisorLink link(*ends.launcher);
    ends.send_launch_spec();
    REQUIRE(link.receive_launch_spec());
    ends.supervisor->send(ipc::StartCommand{});
    CHECK_NOTHROW(link.await_start_command());
  }
  SECTION("an InboundOpen first fails the step with EPROTO") {
    Ends ends;
    launcher::SupervisorLink link(*ends.launcher);
    ends.send_launch_spec();
    REQUIRE(link.receive_launch_spec());
    ends.supervisor->send(ipc::InboundOpen{1, 8080});
    try {
      link.await_start_command();
      FAIL("no StepError");
    } catch (const launcher::StepError& e) {
      CHECK(e.stage() == ipc::SetupStage::Command);
      CHECK(e.step() == "command: wait for fence");
      CHECK(e.error() == EPROTO);
      CHECK(e.detail().empty());
    }
  }
  SECTION("the supervisor gone fails the step with EPROTO") {
    Ends ends;
    launcher::SupervisorLink link(*ends.launcher);
    ends.send_launch_spec();
    REQUIRE(link.receive_launch_spec());
    ends.supervisor.reset();
    try {
      link.await_start_command();
      FAIL("no StepError");
    } catch (const launcher::StepError& e) {
      CHECK(e.step() == "command: wait for fence");
      CHECK(e.error() == EPROTO);
    }
  }
}

TEST_CASE(
    "supervisor link: while serving, InboundOpen goes to the inbound client and a verdict "
    "nobody asked for is a violation",
    "[launcher][supervisor_link]") {
  Ends ends;
  launcher::SupervisorLink link(*ends.launcher);
  ends.send_launch_spec();
  REQUIRE(link.receive_launch_spec());
  ends.supervisor->send(ipc::StartCommand{});
  link.await_start_command();
  launcher::InboundClient inbound({8080}, link);
  link.serve_command(&inbound, nullptr);
  // SECURITY: a port that is not a -p port.
  ends.supervisor->send(ipc::InboundOpen{1, 22});
  CHECK_THROWS_AS(link.receive(), ipc::ProtocolError);
  // SECURITY: no ExecCheck is pending (there is no notifier at all).
  ends.supervisor->send(ipc::ExecVerdict{7, true});
  CHECK_THROWS_AS(link.receive(), ipc::ProtocolError);
  ends.supervisor.reset();
  CHECK_FALSE(link.receive());
}

TEST_CASE("supervisor link: what the launcher reports", "[launcher][supervisor_link]") {
  Ends ends;
  launcher::SupervisorLink link(*ends.launcher);
  link.send_setup_failed(launcher::StepError(ipc::SetupStage::Landlock, "command: landlock", EPERM,
                                             std::string(ipc::kMaxDetailLen + 100, 'x')));
  auto failed = ends.supervisor->receive();
  REQUIRE(failed);
  const auto msg = failed->decode<ipc::SetupFailed>();
  CHECK(msg.stage == ipc::SetupStage::Landlock);
  CHECK(msg.step == "command: landlock");
  CHECK(msg.error == EPERM);
  CHECK(msg.detail.size() == ipc::kMaxDetailLen);  // the wire's bound for a detail (a path)

  link.send_command_exited(3 << 8);  // exit(3)
  auto exited = ends.supervisor->receive();
  REQUIRE(exited);
  const auto status = exited->decode<ipc::CommandExited>();
  CHECK_FALSE(status.signaled);
  CHECK(status.status == 3);
}

TEST_CASE("command child steps keep their names and stages", "[launcher][command_child]") {
  using ipc::SetupStage;
  using launcher::CommandStep;
  struct Expected {
    CommandStep step;
    SetupStage stage;
    const char* name;
  };
  // What SetupFailed carries for each step (the supervisor's advice reads the stage).
  const Expected expected[] = {
      {CommandStep::ResetSignals, SetupStage::Command, "command: reset signals"},
      {CommandStep::Chdir, SetupStage::Command, "command: chdir"},
      {CommandStep::Stdio, SetupStage::Command, "command: stdio, close stray fds"},
      {CommandStep::NewSession, SetupStage::Command, "command: new session (forceNewSession)"},
      {CommandStep::DropCapabilities, SetupStage::Command, "command: drop capabilities"},
      {CommandStep::NoNewPrivs, SetupStage::Command, "command: no_new_privs"},
      {CommandStep::Landlock, SetupStage::Landlock, "command: landlock"},
      {CommandStep::Seccomp, SetupStage::Seccomp, "command: seccomp"},
      {CommandStep::HandOverNotifyFd, SetupStage::Seccomp,
       "command: hand seccomp listener to init"},
      {CommandStep::Execve, SetupStage::Command, "command: execve"},
  };
  for (const auto& e : expected) {
    CHECK(launcher::to_string(e.step) == e.name);
    CHECK(launcher::stage_of(e.step) == e.stage);
  }
  // The report pipe carries the step as its number, in this order.
  CHECK(static_cast<std::uint32_t>(CommandStep::ResetSignals) == 0);
  CHECK(static_cast<std::uint32_t>(CommandStep::Execve) == 9);
}
