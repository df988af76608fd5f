// init's inbound client (-p): connects inside the sandbox's network namespace for the
// supervisor and hands the socket back, against real loopback sockets.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <optional>
#include <vector>

#include "ipc/channel.hpp"
#include "launcher/inbound_client.hpp"
#include "launcher/supervisor_link.hpp"
#include "platform/tcp_listener.hpp"

using namespace fence;

namespace {

std::uint16_t bound_port(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  return ntohs(addr.sin_port);
}

// Drives the client like init's loop until the supervisor side has an answer.
std::optional<ipc::Incoming> answer_of(launcher::InboundClient& client, ipc::Channel& supervisor) {
  for (int i = 0; i < 500; ++i) {
    pollfd p{supervisor.fd(), POLLIN, 0};
    if (::poll(&p, 1, 0) == 1) return supervisor.receive();
    std::vector<pollfd> fds;
    client.add_poll_fds(fds);
    ::poll(fds.data(), fds.size(), 10);
    for (const auto& f : fds)
      if (f.revents) client.on_ready(f.fd);
    client.expire();
  }
  FAIL("no answer from the inbound client");
  return std::nullopt;
}

}  // namespace

TEST_CASE("inbound client: connects, refuses unknown ports, reports refusals",
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

  launcher::SupervisorLink link(launcher);
  launcher::InboundClient client({port, closed_port}, link);
  client.open(ipc::InboundOpen{1, port});
  auto ready = answer_of(client, supervisor);
  REQUIRE(ready);
  REQUIRE(ready->type == ipc::MessageType::InboundReady);
  CHECK(ready->decode<ipc::InboundReady>().id == 1);
  REQUIRE(ready->fds.size() == 1);
  CHECK(platform::is_connected_tcp_socket(ready->fds[0].get()));

  client.open(ipc::InboundOpen{2, closed_port});
  auto failed = answer_of(client, supervisor);
  REQUIRE(failed);
  REQUIRE(failed->type == ipc::MessageType::InboundFailed);
  CHECK(failed->decode<ipc::InboundFailed>().error == ECONNREFUSED);

  // SECURITY: only the -p ports of the LaunchSpec.
  CHECK_THROWS_AS(client.open(ipc::InboundOpen{3, 22}), ipc::ProtocolError);
  CHECK(client.next_timeout_ms() == -1);
}
