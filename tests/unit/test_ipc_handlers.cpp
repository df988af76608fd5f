// ipc/handlers.hpp: one named handler per message, dispatched from one table, checked against
// kMessageRules at compile time.
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "ipc/handlers.hpp"

namespace fence::ipc {
namespace {

// The worker's side of its channel, as a test host: what reached which handler.
struct WorkerSide {
  std::vector<std::string> calls;
  std::size_t fds = 0;

  void on_proxy_start(const ProxyStart& m, std::vector<platform::UniqueFd> f) {
    calls.push_back("proxy_start " + std::to_string(m.max_tunnels));
    fds += f.size();
  }
  void on_local_listener(const LocalListener& m, std::vector<platform::UniqueFd> f) {
    calls.push_back("local_listener " + std::to_string(m.port));
    fds += f.size();
  }
  void on_connect_allowed(const ConnectAllowed& m, std::vector<platform::UniqueFd> f) {
    calls.push_back("connect_allowed " + std::to_string(m.id));
    fds += f.size();
  }
  void on_connect_denied(const ConnectDenied& m) { calls.push_back("connect_denied " + m.text); }
  void on_relay_start(const RelayStart& m, std::vector<platform::UniqueFd> f) {
    calls.push_back("relay_start " + std::to_string(m.id));
    fds += f.size();
  }

  void on_transparent_start(const TransparentStart&, std::vector<platform::UniqueFd> f) {
    calls.push_back("transparent_start");
    fds += f.size();
  }
  void on_dns_answer(const DnsAnswer& m) { calls.push_back("dns_answer " + std::to_string(m.id)); }

  static constexpr Route<WorkerSide> kRoutes[] = {
      route<&WorkerSide::on_proxy_start>(),       route<&WorkerSide::on_local_listener>(),
      route<&WorkerSide::on_connect_allowed>(),   route<&WorkerSide::on_connect_denied>(),
      route<&WorkerSide::on_relay_start>(),       route<&WorkerSide::on_transparent_start>(),
      route<&WorkerSide::on_dns_answer>(),
  };
};
static_assert(routes_complete(WorkerSide::kRoutes, Role::Supervisor, Role::ProxyWorker));

// Incomplete or wrong tables are caught at compile time.
constexpr Route<WorkerSide> kMissingOne[] = {
    route<&WorkerSide::on_proxy_start>(), route<&WorkerSide::on_local_listener>(),
    route<&WorkerSide::on_connect_allowed>(), route<&WorkerSide::on_connect_denied>()};
static_assert(!routes_complete(kMissingOne, Role::Supervisor, Role::ProxyWorker));
static_assert(!routes_complete(WorkerSide::kRoutes, Role::Supervisor, Role::Launcher));
constexpr Route<WorkerSide> kTwice[] = {
    route<&WorkerSide::on_proxy_start>(),     route<&WorkerSide::on_local_listener>(),
    route<&WorkerSide::on_connect_allowed>(), route<&WorkerSide::on_connect_denied>(),
    route<&WorkerSide::on_relay_start>(),     route<&WorkerSide::on_relay_start>()};
static_assert(!routes_complete(kTwice, Role::Supervisor, Role::ProxyWorker));

platform::UniqueFd pipe_end() {
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  ::close(p[1]);
  return platform::UniqueFd(p[0]);
}

}  // namespace

TEST_CASE("dispatch calls the handler of each message, with its fds", "[ipc][handlers]") {
  auto [a, b] = make_channel_pair();
  Channel supervisor(std::move(a), Role::Supervisor, Role::ProxyWorker);
  Channel worker(std::move(b), Role::ProxyWorker, Role::Supervisor);
  supervisor.send_hello();
  auto l1 = pipe_end(), l2 = pipe_end();
  const int two[] = {l1.get(), l2.get()};
  const int one[] = {l1.get()};
  supervisor.send(ProxyStart{256, 8192, 5000, 60000, false}, two);
  supervisor.send(ConnectDenied{7, DenyReason::Policy, "no"}, {});
  supervisor.send(ConnectAllowed{8}, one);
  supervisor.send(LocalListener{6379}, one);
  supervisor.send(RelayStart{3}, two);
  WorkerSide side;
  for (int i = 0; i < 6; ++i) {
    auto in = worker.receive();
    REQUIRE(in);
    dispatch(WorkerSide::kRoutes, side, *in);  // Hello first: ignored
  }
  CHECK(side.calls == std::vector<std::string>{"proxy_start 256", "connect_denied no",
                                               "connect_allowed 8", "local_listener 6379",
                                               "relay_start 3"});
  CHECK(side.fds == 6);
}

TEST_CASE("a message no route names is a protocol error", "[ipc][handlers]") {
  Incoming in{MessageType::ExecCheck, {}, {}};
  WorkerSide side;
  CHECK_THROWS_AS(dispatch(WorkerSide::kRoutes, side, in), ProtocolError);
  CHECK(side.calls.empty());
  // ...and one that does not decode as its handler's type.
  Incoming bad{MessageType::ConnectDenied, {std::byte{1}}, {}};
  CHECK_THROWS_AS(dispatch(WorkerSide::kRoutes, side, bad), ProtocolError);
}

}  // namespace fence::ipc
