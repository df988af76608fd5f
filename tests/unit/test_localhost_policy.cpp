// Localhost and inbound: -p parsing, allowLocalOutboundPorts / audit config, the transparent
// route's policy, and the launcher-side inbound connector against real loopback sockets.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <poll.h>
#include <unistd.h>

#include <optional>

#include <string>
#include <vector>

#include "ipc/channel.hpp"
#include "launcher/inbound_client.hpp"
#include "platform/tcp_listener.hpp"
#include "supervisor/cli.hpp"
#include "supervisor/config.hpp"
#include "supervisor/network_policy.hpp"

using namespace fence;
using supervisor::parse_exposed_port;
using supervisor::UsageError;

namespace {

supervisor::CliOptions cli(std::vector<const char*> args) {
  args.insert(args.begin(), "fence");
  return supervisor::parse_cli(static_cast<int>(args.size()), args.data());
}

std::uint16_t bound_port(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  return ntohs(addr.sin_port);
}

// Drives the connector like init's loop until the supervisor side has an answer.
std::optional<ipc::Incoming> answer_of(launcher::InboundConnector& connector, ipc::Channel& launcher,
                                       ipc::Channel& supervisor) {
  for (int i = 0; i < 500; ++i) {
    pollfd p{supervisor.fd(), POLLIN, 0};
    if (::poll(&p, 1, 0) == 1) return supervisor.receive();
    std::vector<pollfd> fds;
    connector.add_poll_fds(fds);
    ::poll(fds.data(), fds.size(), 10);
    for (const auto& f : fds)
      if (f.revents) connector.on_ready(launcher, f.fd);
    connector.expire(launcher);
  }
  FAIL("no answer from the inbound connector");
  return std::nullopt;
}

}  // namespace

TEST_CASE("-p: forms that are accepted", "[localhost][cli]") {
  auto p = parse_exposed_port("8000");
  CHECK(p.address == "127.0.0.1");
  CHECK(p.port == 8000);
  p = parse_exposed_port("0.0.0.0:3000");
  CHECK(p.address == "0.0.0.0");
  CHECK(p.port == 3000);
  p = parse_exposed_port("[::1]:65535");
  CHECK(p.address == "::1");
  CHECK(p.port == 65535);
  p = parse_exposed_port("[::]:1");
  CHECK(p.address == "::");
}

TEST_CASE("-p: malformed values are usage errors", "[localhost][cli]") {
  for (const char* bad : {"", "0", "65536", "-1", "80x", "x80", "localhost:80", "1.2.3:80",
                          "1.2.3.4:", ":80", "[::1]80", "[::1]:", "[1.2.3.4]:80", "::1:80",
                          "[fe80::1%eth0]:80", "8000 ", " 8000"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_exposed_port(bad), UsageError);
  }
}

TEST_CASE("-p: repeatable, in order; a port twice is an error", "[localhost][cli]") {
  auto o = cli({"-p", "8000", "--port", "0.0.0.0:9000", "-p5000", "--", "true"});
  REQUIRE(o.ports.size() == 3);
  CHECK(o.ports[0].port == 8000);
  CHECK(o.ports[1].address == "0.0.0.0");
  CHECK(o.ports[2].port == 5000);
  CHECK(o.command == std::vector<std::string>{"true"});
  CHECK_THROWS_AS(cli({"-p", "8000", "-p", "127.0.0.1:8000", "true"}), UsageError);
  // The value of -p is never taken for the command.
  o = cli({"-p", "8000", "python3", "-p", "1"});
  CHECK(o.command == std::vector<std::string>{"python3", "-p", "1"});
}

TEST_CASE("--audit-syslog: optional socket path", "[localhost][cli]") {
  CHECK(!cli({"true"}).audit_syslog);
  CHECK(cli({"--audit-syslog", "true"}).audit_syslog == std::string("/dev/log"));
  CHECK(cli({"--audit-syslog=/tmp/x.sock", "true"}).audit_syslog == std::string("/tmp/x.sock"));
  // A word after the flag is the command, not its value.
  CHECK(cli({"--audit-syslog", "/bin/true"}).command == std::vector<std::string>{"/bin/true"});
}

TEST_CASE("config: allowLocalOutboundPorts", "[localhost][config]") {
  auto c = supervisor::parse_config(R"({"network": {"allowLocalOutboundPorts": [6379, 5432]}})", "t");
  CHECK(c.network.allow_local_outbound_ports == std::vector<std::uint16_t>{6379, 5432});
  for (const char* bad : {R"({"network": {"allowLocalOutboundPorts": [0]}})",
                          R"({"network": {"allowLocalOutboundPorts": [70000]}})",
                          R"({"network": {"allowLocalOutboundPorts": [80, 80]}})",
                          R"({"network": {"allowLocalOutboundPorts": ["80"]}})",
                          R"({"network": {"allowLocalOutboundPorts": 80}})",
                          R"({"network": {"allowLocalOutboundPorts": [1.5]}})"}) {
    INFO(bad);
    CHECK_THROWS_AS(supervisor::parse_config(bad, "t"), supervisor::ConfigError);
  }
}

TEST_CASE("config: audit section", "[localhost][config]") {
  auto c = supervisor::parse_config(R"({"audit": {"file": "audit.jsonl", "syslog": true}})", "t");
  CHECK(c.audit.file == std::string("audit.jsonl"));
  CHECK(c.audit.syslog);
  CHECK_THROWS_AS(supervisor::parse_config(R"({"audit": {"file": ""}})", "t"), supervisor::ConfigError);
  CHECK_THROWS_AS(supervisor::parse_config(R"({"audit": {"path": "x"}})", "t"), supervisor::ConfigError);
  CHECK_THROWS_AS(supervisor::parse_config(R"({"audit": {"syslog": "yes"}})", "t"), supervisor::ConfigError);
}

TEST_CASE("policy: the transparent route allows exactly the listed ports", "[localhost][policy]") {
  supervisor::NetworkPolicy policy;
  auto d = supervisor::evaluate_local_forward(policy, 6379);
  CHECK_FALSE(d.allowed);
  policy.local_outbound_ports = {6379, 5432};
  d = supervisor::evaluate_local_forward(policy, 6379);
  CHECK(d.allowed);
  CHECK(d.rule == "allowLocalOutboundPorts");
  REQUIRE(d.chosen);
  CHECK(d.chosen->to_string() == "127.0.0.1");
  CHECK_FALSE(supervisor::evaluate_local_forward(policy, 6380).allowed);
  CHECK_FALSE(supervisor::evaluate_local_forward(policy, 0).allowed);
  // The proxy route is not opened by a listed port: evaluate_name still refuses localhost.
  CHECK_FALSE(supervisor::evaluate_name(policy, "127.0.0.1", 6379).allowed);
}

TEST_CASE("inbound connector: connects, refuses unknown ports, reports refusals",
          "[localhost][launcher]") {
  auto [a, b] = ipc::make_channel_pair();
  ipc::Channel launcher(std::move(a), ipc::Role::Launcher, ipc::Role::Supervisor);
  ipc::Channel supervisor(std::move(b), ipc::Role::Supervisor, ipc::Role::Launcher);
  launcher.send_hello();
  supervisor.send_hello();
  REQUIRE(supervisor.receive());
  REQUIRE(launcher.receive());

  platform::UniqueFd server = platform::listen_on_loopback(0);
  const std::uint16_t port = bound_port(server.get());
  platform::UniqueFd closed_probe = platform::listen_on_loopback(0);
  const std::uint16_t closed_port = bound_port(closed_probe.get());
  closed_probe.reset();  // nothing listens there now

  launcher::InboundConnector connector({port, closed_port});
  connector.open(launcher, ipc::InboundOpen{1, port});
  auto ready = answer_of(connector, launcher, supervisor);
  REQUIRE(ready);
  REQUIRE(ready->type == ipc::MessageType::InboundReady);
  CHECK(ready->decode<ipc::InboundReady>().id == 1);
  REQUIRE(ready->fds.size() == 1);
  CHECK(platform::is_connected_tcp_socket(ready->fds[0].get()));

  connector.open(launcher, ipc::InboundOpen{2, closed_port});
  auto failed = answer_of(connector, launcher, supervisor);
  REQUIRE(failed);
  REQUIRE(failed->type == ipc::MessageType::InboundFailed);
  CHECK(failed->decode<ipc::InboundFailed>().error == ECONNREFUSED);

  // SECURITY: only the -p ports of the LaunchSpec.
  CHECK_THROWS_AS(connector.open(launcher, ipc::InboundOpen{3, 22}), ipc::ProtocolError);
  CHECK(connector.next_timeout_ms() == -1);
}
