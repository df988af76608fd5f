// Localhost and inbound: -p parsing, allowLocalOutboundPorts / audit config, and the transparent
// route's policy. (init's inbound client: test_inbound_client.cpp.)
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>

#include <string>
#include <vector>

#include "ipc/channel.hpp"
#include "platform/tcp_listener.hpp"
#include "supervisor/cli.hpp"
#include "supervisor/config/config.hpp"
#include "supervisor/policy/network_policy.hpp"

using namespace fence;
using supervisor::parse_exposed_port;
using supervisor::UsageError;

namespace {

supervisor::CliOptions cli(std::vector<const char*> args) {
  args.insert(args.begin(), "fence");
  return supervisor::parse_cli(static_cast<int>(args.size()), args.data());
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
  for (const char* bad :
       {"", "0", "65536", "-1", "80x", "x80", "localhost:80", "1.2.3:80", "1.2.3.4:", ":80",
        "[::1]80", "[::1]:", "[1.2.3.4]:80", "::1:80", "[fe80::1%eth0]:80", "8000 ", " 8000"}) {
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
  auto c =
      supervisor::parse_config(R"({"network": {"allowLocalOutboundPorts": [6379, 5432]}})", "t");
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
  CHECK_THROWS_AS(supervisor::parse_config(R"({"audit": {"file": ""}})", "t"),
                  supervisor::ConfigError);
  CHECK_THROWS_AS(supervisor::parse_config(R"({"audit": {"path": "x"}})", "t"),
                  supervisor::ConfigError);
  CHECK_THROWS_AS(supervisor::parse_config(R"({"audit": {"syslog": "yes"}})", "t"),
                  supervisor::ConfigError);
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
