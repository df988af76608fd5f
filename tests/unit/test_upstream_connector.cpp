// The connector against real local listeners, plus injected resolvers for answers no local
// name can produce.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdlib>

#include "supervisor/network/upstream_connector.hpp"

namespace fence::supervisor {
namespace {

using platform::UniqueFd;

struct Listener {
  UniqueFd fd;
  std::uint16_t port = 0;
};

Listener listen_v4(int backlog = 16) {
  Listener l;
  l.fd.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(l.fd);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(l.fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(l.fd.get(), backlog) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(l.fd.get(), reinterpret_cast<sockaddr*>(&a), &len) == 0);
  l.port = ntohs(a.sin_port);
  return l;
}

// A loopback port with nothing listening (bound once, then closed).
std::uint16_t closed_port() {
  Listener l = listen_v4();
  return l.port;
}

NetworkPolicy policy(std::vector<std::string> allowed, std::vector<std::string> denied = {},
                     bool local = false) {
  NetworkPolicyBuild b = network_policy_from_strings(allowed, denied, local);
  REQUIRE(b.ok());
  return b.policy;
}

ConnectOptions fast_options() {
  ConnectOptions o;
  o.resolve_timeout_ms = 3000;
  o.connect_timeout_ms = 3000;
  return o;
}

DnsResolver fixed_answer(std::vector<IpAddress> answer, int* calls = nullptr) {
  return [answer, calls](const std::string&, int) {
    if (calls) ++*calls;
    ResolveResult r;
    r.addresses = answer;
    return r;
  };
}

DnsResolver must_not_resolve() {
  return [](const std::string& host, int) -> ResolveResult {
    FAIL("resolver called for " << host);
    return {};
  };
}

}  // namespace

TEST_CASE("loopback is refused by default", "[net][connector]") {
  Listener l = listen_v4();
  SECTION("no rule at all: denied on the name") {
    ConnectOutcome o = establish(policy({}), "127.0.0.1", l.port, fast_options());
    CHECK_FALSE(o.ok());
    CHECK(o.reason == ipc::DenyReason::Policy);
    CHECK(o.decision.rule == "default deny");
  }
  SECTION("\"*\": the address is loopback") {
    for (const char* host : {"127.0.0.1", "127.1", "0x7f000001", "2130706433", "::ffff:127.0.0.1",
                             "[::ffff:127.0.0.1]", "::1"}) {
      INFO(host);
      ConnectOutcome o = establish(policy({"*"}), host, l.port, fast_options());
      CHECK_FALSE(o.ok());
      CHECK(o.reason == ipc::DenyReason::NonPublicAddress);
      CHECK(o.text.find("loopback") != std::string::npos);
    }
  }
  SECTION("an allowed name whose answer is loopback") {
    ConnectOptions opt = fast_options();
    opt.resolver = fixed_answer({IpAddress::v4(127, 0, 0, 1)});
    ConnectOutcome o = establish(policy({"svc.example"}), "svc.example", l.port, opt);
    CHECK(o.reason == ipc::DenyReason::NonPublicAddress);
    CHECK(o.text ==
          "blocked by network policy: svc.example resolves to a loopback address "
          "(127.0.0.1)");
    CHECK(o.resolved == "127.0.0.1");
  }
  // Nothing reached the listener.
  const int fl = ::fcntl(l.fd.get(), F_GETFL);
  REQUIRE(::fcntl(l.fd.get(), F_SETFL, fl | O_NONBLOCK) == 0);
  CHECK(::accept(l.fd.get(), nullptr, nullptr) == -1);
  CHECK(errno == EAGAIN);
}

TEST_CASE("allowLocalOutbound: the connection is made to the checked address", "[net][connector]") {
  Listener l = listen_v4();
  const NetworkPolicy p = policy({"svc.example"}, {}, true);

  auto check_connected = [&](ConnectOutcome& o) {
    REQUIRE(o.ok());
    CHECK(o.connected_address == "127.0.0.1");
    CHECK(o.decision.allowed);
    // Blocking and close-on-exec.
    CHECK((::fcntl(o.fd.get(), F_GETFL) & O_NONBLOCK) == 0);
    CHECK((::fcntl(o.fd.get(), F_GETFD) & FD_CLOEXEC) != 0);
    // A host-local target is reached over lo: not paced (platform/tcp_listener.hpp).
    char cc[16] = {};
    socklen_t cc_len = sizeof cc;
    REQUIRE(::getsockopt(o.fd.get(), IPPROTO_TCP, TCP_CONGESTION, cc, &cc_len) == 0);
    CHECK(std::string(cc) == "reno");
    UniqueFd server(::accept4(l.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
    REQUIRE(server);
    // The fd is connected to this listener: its peer is the accepted socket's local end.
    sockaddr_in peer{}, local{};
    socklen_t pl = sizeof peer, ll = sizeof local;
    REQUIRE(::getpeername(o.fd.get(), reinterpret_cast<sockaddr*>(&peer), &pl) == 0);
    REQUIRE(::getsockname(server.get(), reinterpret_cast<sockaddr*>(&local), &ll) == 0);
    CHECK(ntohs(peer.sin_port) == l.port);
    CHECK(peer.sin_addr.s_addr == local.sin_addr.s_addr);
    REQUIRE(::write(o.fd.get(), "ping", 4) == 4);
    char buf[4];
    REQUIRE(::read(server.get(), buf, 4) == 4);
    CHECK(std::string(buf, 4) == "ping");
  };

  SECTION("literal") {
    ConnectOutcome o = establish(p, "127.0.0.1", l.port, fast_options());
    check_connected(o);
    CHECK(o.decision.rule == "allowLocalOutbound");
  }
  SECTION("localhost through the real resolver (::1 first is refused, 127.0.0.1 works)") {
    ConnectOutcome o = establish(p, "localhost", l.port, fast_options());
    check_connected(o);
    CHECK(o.resolved.find("127.0.0.1") != std::string::npos);
  }
  SECTION("an allowed name, injected answer") {
    int calls = 0;
    ConnectOptions opt = fast_options();
    opt.resolver = fixed_answer({IpAddress::v4(127, 0, 0, 1)}, &calls);
    ConnectOutcome o = establish(p, "svc.example", l.port, opt);
    check_connected(o);
    CHECK(calls == 1);  // resolved exactly once
    CHECK(o.decision.rule == "svc.example");
  }
  SECTION("the proxy's own listener ports are never a target") {
    ConnectOptions opt = fast_options();
    NetworkPolicy own = p;
    own.own_listeners.loopback_ports = {l.port};
    ConnectOutcome o = establish(own, "127.0.0.1", l.port, opt);
    CHECK_FALSE(o.ok());
    CHECK(o.reason == ipc::DenyReason::Policy);
    CHECK(o.text.find("fence's own listeners") != std::string::npos);
    own.own_listeners.loopback_ports = {};
    own.own_listeners.endpoints = {{IpAddress::v4(127, 0, 0, 1), l.port}};
    CHECK(establish(own, "127.0.0.1", l.port, opt).reason == ipc::DenyReason::Policy);
  }
}

TEST_CASE("connect failures", "[net][connector]") {
  const NetworkPolicy p = policy({}, {}, true);
  SECTION("closed port") {
    const std::uint16_t port = closed_port();
    ConnectOutcome o = establish(p, "127.0.0.1", port, fast_options());
    CHECK_FALSE(o.ok());
    CHECK(o.reason == ipc::DenyReason::ConnectFailed);
    CHECK(o.text == "connection refused by 127.0.0.1:" + std::to_string(port));
    CHECK(o.decision.allowed);  // the policy said yes; the network said no
  }
  SECTION("timeout: a listener whose accept queue is full drops the SYN") {
    Listener l = listen_v4(0);
    std::vector<UniqueFd> fillers;
    for (int i = 0; i < 4; ++i) {
      UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(l.port);
      (void)::connect(c.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
      fillers.push_back(std::move(c));
    }
    ::usleep(50 * 1000);
    ConnectOptions opt = fast_options();
    opt.connect_timeout_ms = 300;
    ConnectOutcome o = establish(p, "127.0.0.1", l.port, opt);
    CHECK_FALSE(o.ok());
    CHECK(o.reason == ipc::DenyReason::Timeout);
    CHECK(o.text ==
          "connection to 127.0.0.1:" + std::to_string(l.port) + " timed out after 300 ms");
  }
}

TEST_CASE("a denied name is never resolved", "[net][connector]") {
  const NetworkPolicy p = policy({"*"}, {"denied.invalid", "*.denied.invalid"});
  const std::uint64_t before = resolver_call_count();
  for (const char* host : {"denied.invalid", "DENIED.invalid.", "x.y.denied.invalid"}) {
    INFO(host);
    ConnectOutcome o = establish(p, host, 443, fast_options());  // the real resolver
    CHECK(o.reason == ipc::DenyReason::Policy);
    CHECK(o.decision.rule.find("denied.invalid") != std::string::npos);
    CHECK(o.resolved.empty());
    ConnectOptions hooked = fast_options();
    hooked.resolver = must_not_resolve();
    CHECK(establish(p, host, 443, hooked).reason == ipc::DenyReason::Policy);
  }
  // A name outside every rule is not resolved either.
  CHECK(establish(policy({"example.com"}), "other.invalid", 443, fast_options()).reason ==
        ipc::DenyReason::Policy);
  CHECK(resolver_call_count() == before);

  // The counter does count: an allowed name goes to getaddrinfo (and .invalid never exists).
  ConnectOutcome o = establish(p, "allowed.invalid", 443, fast_options());
  CHECK(resolver_call_count() == before + 1);
  CHECK((o.reason == ipc::DenyReason::ResolveFailed || o.reason == ipc::DenyReason::Timeout));
  CHECK(o.text.starts_with(o.reason == ipc::DenyReason::Timeout ? "resolution of allowed.invalid"
                                                                : "resolution failed: "));
}

TEST_CASE("resolver outcomes map to deny reasons", "[net][connector]") {
  const NetworkPolicy p = policy({"svc.example"});
  ConnectOptions opt = fast_options();
  SECTION("mixed answer") {
    opt.resolver = fixed_answer({IpAddress::v4(198, 51, 100, 10), IpAddress::v4(10, 0, 0, 5)});
    ConnectOutcome o = establish(p, "svc.example", 443, opt);
    CHECK(o.reason == ipc::DenyReason::NonPublicAddress);
    CHECK(o.text.find("private address (10.0.0.5)") != std::string::npos);
    CHECK(o.resolved == "198.51.100.10, 10.0.0.5");
  }
  SECTION("metadata") {
    opt.resolver = fixed_answer({IpAddress::v4(169, 254, 169, 254)});
    CHECK(establish(p, "svc.example", 80, opt).reason == ipc::DenyReason::NonPublicAddress);
  }
  SECTION("host's own address") {
    opt.resolver = fixed_answer({IpAddress::v4(198, 51, 100, 5)});
    opt.host_own = {IpAddress::v4(198, 51, 100, 5)};
    ConnectOutcome o = establish(p, "svc.example", 80, opt);
    CHECK(o.reason == ipc::DenyReason::NonPublicAddress);
    CHECK(o.text.find("host's own") != std::string::npos);
  }
  SECTION("failure, timeout, overload, empty") {
    opt.resolver = [](const std::string&, int) {
      ResolveResult r;
      r.error = EAI_NONAME;
      r.error_text = "Name or service not known";
      return r;
    };
    ConnectOutcome o = establish(p, "svc.example", 80, opt);
    CHECK(o.reason == ipc::DenyReason::ResolveFailed);
    CHECK(o.text == "resolution failed: svc.example: Name or service not known");
    opt.resolver = [](const std::string&, int) {
      ResolveResult r;
      r.error = EAI_AGAIN;
      r.timed_out = true;
      r.error_text = "timed out after 5000 ms";
      return r;
    };
    CHECK(establish(p, "svc.example", 80, opt).reason == ipc::DenyReason::Timeout);
    opt.resolver = [](const std::string&, int) {
      ResolveResult r;
      r.overloaded = true;
      r.error = EAI_AGAIN;
      return r;
    };
    CHECK(establish(p, "svc.example", 80, opt).reason == ipc::DenyReason::Overloaded);
    opt.resolver = fixed_answer({});
    CHECK(establish(p, "svc.example", 80, opt).reason == ipc::DenyReason::ResolveFailed);
  }
  SECTION("texts fit a ConnectDenied") {
    const std::string host = std::string(60, 'a') + "." + std::string(60, 'b') + "." +
                             std::string(60, 'c') + ".example.com";
    opt.resolver = fixed_answer({IpAddress::v4(10, 0, 0, 1)});
    ConnectOutcome o = establish(policy({"*.example.com"}), host, 80, opt);
    CHECK(o.reason == ipc::DenyReason::NonPublicAddress);
    CHECK(o.text.size() <= ipc::kMaxReasonLen);
  }
}

TEST_CASE("the real resolver: answers, timeout bound", "[net][connector]") {
  ResolveResult r = resolve_name("localhost", 3000);
  REQUIRE(r.error == 0);
  CHECK(std::find(r.addresses.begin(), r.addresses.end(), IpAddress::v4(127, 0, 0, 1)) !=
        r.addresses.end());
  // Duplicates (one per socktype/protocol) are folded.
  for (std::size_t i = 0; i < r.addresses.size(); ++i) {
    for (std::size_t j = i + 1; j < r.addresses.size(); ++j) {
      CHECK_FALSE(r.addresses[i] == r.addresses[j]);
    }
  }
  // Many lookups in a row do not leak slots: more than the cap, sequentially.
  for (std::size_t i = 0; i < kMaxConcurrentResolutions * 2; ++i) {
    CHECK_FALSE(resolve_name("localhost", 3000).overloaded);
  }
}

TEST_CASE("resolver environment is scrubbed", "[net][connector]") {
  ::setenv("HOSTALIASES", "/tmp/evil-aliases", 1);
  ::setenv("RES_OPTIONS", "ndots:15", 1);
  ::setenv("LOCALDOMAIN", "evil.example", 1);
  ::setenv("FENCE_TEST_KEEP", "1", 1);
  scrub_resolver_environment();
  CHECK(std::getenv("HOSTALIASES") == nullptr);
  CHECK(std::getenv("RES_OPTIONS") == nullptr);
  CHECK(std::getenv("LOCALDOMAIN") == nullptr);
  CHECK(std::getenv("FENCE_TEST_KEEP") != nullptr);
  ::unsetenv("FENCE_TEST_KEEP");
}

TEST_CASE("endpoint formatting", "[net][connector]") {
  CHECK(format_endpoint(IpAddress::v4(198, 51, 100, 10), 8080) == "198.51.100.10:8080");
  CHECK(format_endpoint(*parse_ip_literal("2001:db8::1"), 443) == "[2001:db8::1]:443");
}

}  // namespace fence::supervisor
