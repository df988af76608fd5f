// Connections that stay on this host use reno (platform/tcp_listener.hpp): the address test
// on synthesized endpoints, and the switch on real sockets.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstring>
#include <string>

#include "platform/tcp_listener.hpp"

namespace fence::platform {
namespace {

sockaddr_storage v4(const char* text) {
  sockaddr_storage s{};
  auto& a = reinterpret_cast<sockaddr_in&>(s);
  a.sin_family = AF_INET;
  REQUIRE(::inet_pton(AF_INET, text, &a.sin_addr) == 1);
  return s;
}

sockaddr_storage v6(const char* text) {
  sockaddr_storage s{};
  auto& a = reinterpret_cast<sockaddr_in6&>(s);
  a.sin6_family = AF_INET6;
  REQUIRE(::inet_pton(AF_INET6, text, &a.sin6_addr) == 1);
  return s;
}

std::string congestion_control(int fd) {
  char name[32] = {};
  socklen_t len = sizeof name;
  REQUIRE(::getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, &len) == 0);
  return std::string(name);
}

// A connected loopback pair: {client, accepted}.
std::pair<UniqueFd, UniqueFd> loopback_pair() {
  UniqueFd listener = listen_on_loopback(0, 4);
  sockaddr_in a{};
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&a), &len) == 0);
  UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(client);
  REQUIRE(::connect(client.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  UniqueFd server(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  REQUIRE(server);
  return {std::move(client), std::move(server)};
}

}  // namespace

TEST_CASE("same-host connections: loopback peers and the local address itself",
          "[net][congestion]") {
  CHECK(is_same_host_connection(v4("127.0.0.1"), v4("127.0.0.1")));
  CHECK(is_same_host_connection(v4("192.0.2.2"), v4("127.5.6.7")));
  CHECK(is_same_host_connection(v4("192.0.2.2"), v4("192.0.2.2")));
  CHECK(is_same_host_connection(v6("::1"), v6("::1")));
  CHECK(is_same_host_connection(v6("::ffff:127.0.0.1"), v6("::ffff:127.0.0.2")));
  CHECK(is_same_host_connection(v6("2001:db8::5"), v6("2001:db8::5")));
  // Another machine, however close, keeps the host's algorithm.
  CHECK_FALSE(is_same_host_connection(v4("192.0.2.2"), v4("192.0.2.3")));
  CHECK_FALSE(is_same_host_connection(v4("127.0.0.1"), v4("198.51.100.10")));
  CHECK_FALSE(is_same_host_connection(v4("192.0.2.2"), v4("128.0.0.1")));
  CHECK_FALSE(is_same_host_connection(v6("2001:db8::5"), v6("2001:db8::6")));
  CHECK_FALSE(is_same_host_connection(v6("::1"), v6("::2")));
  CHECK_FALSE(is_same_host_connection(v6("::1"), v6("::ffff:198.51.100.10")));
  CHECK_FALSE(is_same_host_connection(v4("192.0.2.2"), v6("::ffff:192.0.2.2")));
}

TEST_CASE("a loopback connection is switched to reno, other sockets are left alone",
          "[net][congestion]") {
  auto [client, server] = loopback_pair();
  // Start from another algorithm, so that the switch is seen whatever the host's default is.
  for (int fd : {client.get(), server.get()})
    for (const char* other : {"cubic", "bbr"})
      if (congestion_control(fd) == "reno")
        (void)::setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, other, std::strlen(other));
  if (congestion_control(client.get()) == "reno")
    WARN("only reno is available: switch not observable");
  CHECK(use_unpaced_congestion_control_if_local(client.get()));
  CHECK(use_unpaced_congestion_control_if_local(server.get()));
  CHECK(congestion_control(client.get()) == "reno");
  CHECK(congestion_control(server.get()) == "reno");

  // Not connected: nothing to decide, nothing changed.
  UniqueFd lone(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(lone);
  const std::string before = congestion_control(lone.get());
  CHECK_FALSE(use_unpaced_congestion_control_if_local(lone.get()));
  CHECK(congestion_control(lone.get()) == before);
  // Not a socket.
  CHECK_FALSE(use_unpaced_congestion_control_if_local(STDIN_FILENO));
}

}  // namespace fence::platform
