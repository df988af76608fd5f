// The transparent network path's kernel side (platform/nftables.hpp), in a fresh user and
// network namespace entered as uid 65534 (what an unprivileged fence run has): TCP to any
// address outside loopback reaches the redirect port with its original destination readable,
// DNS to any address reaches the DNS port and its answer comes back from the address asked,
// other UDP is refused at once, and loopback traffic is untouched.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "child_process.hpp"
#include "platform/namespaces.hpp"
#include "platform/nftables.hpp"
#include "platform/tcp_listener.hpp"
#include "platform/unique_fd.hpp"

using fence::platform::UniqueFd;
using fence::testing::Expect;

namespace {

constexpr std::uint16_t kTcpPort = 4000;
constexpr std::uint16_t kDnsPort = 4053;

sockaddr_in v4(const char* ip, std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

UniqueFd listening(int type, std::uint16_t port) {
  UniqueFd fd(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const sockaddr_in a = v4("127.0.0.1", port);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) return {};
  if (type == SOCK_STREAM && ::listen(fd.get(), 8) != 0) return {};
  return fd;
}

bool readable(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, ms) == 1;
}

void body(Expect& expect) {
  if (const std::string problem = fence::testing::enter_user_namespace_as_nobody();
      !problem.empty())
    throw std::runtime_error(problem);
  if (::unshare(CLONE_NEWNET) != 0) throw std::runtime_error("unshare(CLONE_NEWNET)");
  fence::platform::bring_up_loopback();
  fence::platform::add_default_routes_over_loopback();
  fence::platform::install_transparent_rules(kTcpPort, kDnsPort);

  UniqueFd tcp = listening(SOCK_STREAM, kTcpPort);
  UniqueFd dns = listening(SOCK_DGRAM, kDnsPort);
  expect.that(tcp && dns, "listeners");

  // TCP to a documentation address: redirected, original destination kept.
  UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const sockaddr_in target = v4("198.51.100.10", 80);
  expect.succeeds(
      ::connect(client.get(), reinterpret_cast<const sockaddr*>(&target), sizeof target),
      "connect 198.51.100.10:80");
  expect.that(readable(tcp.get(), 2000), "redirected connection arrives");
  UniqueFd accepted(::accept4(tcp.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  expect.that(static_cast<bool>(accepted), "redirected connection accepted");
  const auto original = fence::platform::original_destination(accepted.get());
  expect.that(original.has_value(), "SO_ORIGINAL_DST");
  if (original) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&*original);
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    expect.that(
        std::string(text) == "198.51.100.10" && ntohs(a->sin_port) == 80,
        std::string("original destination ") + text + ":" + std::to_string(ntohs(a->sin_port)));
  }

  // DNS to a public resolver: arrives at the DNS port; the answer comes from 8.8.8.8:53.
  UniqueFd resolver(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  const sockaddr_in google = v4("8.8.8.8", 53);
  expect.succeeds(
      ::connect(resolver.get(), reinterpret_cast<const sockaddr*>(&google), sizeof google),
      "connect 8.8.8.8:53");
  expect.succeeds(::send(resolver.get(), "query", 5, 0), "send query");
  expect.that(readable(dns.get(), 2000), "query reached the DNS port");
  char buf[64];
  sockaddr_in from{};
  socklen_t from_len = sizeof from;
  const ssize_t n =
      ::recvfrom(dns.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
  expect.that(n == 5, "query bytes");
  expect.succeeds(::sendto(dns.get(), "answer", 6, 0, reinterpret_cast<sockaddr*>(&from), from_len),
                  "send answer");
  expect.that(readable(resolver.get(), 2000), "answer reached the resolver socket");
  expect.that(::recv(resolver.get(), buf, sizeof buf, MSG_DONTWAIT) == 6,
              "answer bytes (from 8.8.8.8:53)");

  // Other UDP: refused at once (the send itself, or the connected socket's next receive).
  UniqueFd udp(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  const sockaddr_in quic = v4("198.51.100.10", 443);
  ::connect(udp.get(), reinterpret_cast<const sockaddr*>(&quic), sizeof quic);
  errno = 0;
  if (::send(udp.get(), "x", 1, 0) == 1) {
    expect.that(readable(udp.get(), 1000), "UDP refusal arrives at once");
    errno = 0;
    const ssize_t r = ::recv(udp.get(), buf, sizeof buf, MSG_DONTWAIT);
    expect.fails_with(r, ECONNREFUSED, "UDP to 198.51.100.10:443");
  } else {
    expect.that(errno == EPERM || errno == ECONNREFUSED,
                std::string("UDP send refused: ") + std::strerror(errno));
  }

  // Loopback is untouched: a server on 127.0.0.1:5000 is reached directly.
  UniqueFd local = listening(SOCK_STREAM, 5000);
  UniqueFd local_client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const sockaddr_in local_addr = v4("127.0.0.1", 5000);
  expect.succeeds(::connect(local_client.get(), reinterpret_cast<const sockaddr*>(&local_addr),
                            sizeof local_addr),
                  "connect 127.0.0.1:5000");
  expect.that(readable(local.get(), 2000), "loopback connection arrives");
  UniqueFd local_accepted(::accept4(local.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  const auto local_original = fence::platform::original_destination(local_accepted.get());
  expect.that(local_original &&
                  reinterpret_cast<const sockaddr_in*>(&*local_original)->sin_port == htons(5000),
              "loopback connection not redirected");
}

}  // namespace

TEST_CASE("nftables: transparent redirects in a fresh user and network namespace",
          "[nftables][transparent]") {
  fence::testing::expect_clean_exit(
      fence::testing::run_in_child(fence::testing::RunAs::Root, body));
}
