// WorkerHost against a hostile proxy worker (issue 3, "Faults"; SECURITY-RULES 19).
//
// This test process plays both sides: it owns a real WorkerHost (the supervisor side, with
// its real policy, connector and thread pool) and IMPERSONATES the proxy worker on the other end
// of a real SEQPACKET socketpair. The fake worker sends well-formed requests through an
// ipc::Channel and malformed or forbidden ones as raw datagrams (sendmsg), so that nothing on
// the sending side filters them.
//
// Every case checks that:
//   - the supervisor (this process) keeps running, and the policy still answers afterwards;
//   - the fault sink is called exactly when a violation happens, and only then;
//   - after a fault the broker has dropped the worker channel (poll_fds() shrinks to the
//     eventfd alone);
//   - the number of open fds (/proc/self/fd) is the same after the case as before it,
//     including fds the fake worker pushed into the supervisor with SCM_RIGHTS.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <sys/syscall.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <thread>

#include "ipc/channel.hpp"
#include "ipc/frame.hpp"
#include "platform/sys_error.hpp"
#include "supervisor/network/upstream_connector.hpp"
#include "supervisor/network/worker_host.hpp"
#include "supervisor/policy/network_policy.hpp"
#include "tests/unit/raw_ipc.hpp"

namespace fence::supervisor {
namespace {

using platform::UniqueFd;
using test::frame_of;
using test::send_datagram;
using Clock = std::chrono::steady_clock;

// --- process-level helpers -------------------------------------------------------------------

std::size_t fd_count() {
  std::size_t n = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  REQUIRE(dir != nullptr);
  while (const dirent* e = ::readdir(dir)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) ++n;
  }
  ::closedir(dir);
  return n - 1;  // the directory stream's own fd
}

// The broker's connect threads are detached and hold its eventfd until they notice `stopping`;
// give them a moment after the broker is destroyed before comparing fd counts.
std::size_t fd_count_settled(std::size_t expected) {
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  std::size_t n = fd_count();
  while (n != expected && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    n = fd_count();
  }
  return n;
}

// A pipe whose write end the fake worker sends to the supervisor. Once our own copy is closed,
// the read end reports end-of-file exactly when the supervisor has closed its copy too.
struct Witness {
  UniqueFd read_end;
  UniqueFd write_end;

  static Witness make() {
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    return Witness{UniqueFd(p[0]), UniqueFd(p[1])};
  }
  // True when every copy of the write end (ours already closed) is gone.
  bool peer_copy_closed(int timeout_ms = 2000) {
    write_end.reset();
    pollfd p{read_end.get(), POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return false;
    char c;
    return ::read(read_end.get(), &c, 1) == 0;
  }
};

// --- raw wire helpers (the fake worker's side) ------------------------------------------------

void put_le(std::vector<std::byte>& out, std::uint64_t v, std::size_t bytes) {
  for (std::size_t i = 0; i < bytes; ++i) out.push_back(static_cast<std::byte>(v >> (8 * i)));
}

// A frame header with every field chosen by the caller, followed by `payload`.
std::vector<std::byte> raw_frame(std::uint32_t magic, std::uint16_t version, std::uint16_t type,
                                 std::uint32_t payload_len, std::uint32_t fd_count,
                                 std::span<const std::byte> payload) {
  std::vector<std::byte> out;
  put_le(out, magic, 4);
  put_le(out, version, 2);
  put_le(out, type, 2);
  put_le(out, payload_len, 4);
  put_le(out, fd_count, 4);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

// A TCP listener on 127.0.0.1 at a port the kernel picks.
UniqueFd loopback_listener() {
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(listener);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(listener.get(), 4) == 0);
  return listener;
}

std::uint16_t local_port(int sock) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(sock, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  return ntohs(addr.sin_port);
}

ipc::ConnectRequest request(std::uint64_t id, std::string host, std::uint16_t port = 443) {
  ipc::ConnectRequest r;
  r.id = id;
  r.host = std::move(host);
  r.port = port;
  r.protocol = ipc::ProxyProtocol::HttpConnect;
  return r;
}

// --- the harness ------------------------------------------------------------------------------

struct Answer {
  ipc::MessageType type{};
  std::uint64_t id = 0;
  ipc::DenyReason reason{};
  std::uint8_t rcode = 0;     // DnsAnswer
  std::uint32_t address = 0;  // DnsAnswer
  std::string text;
  std::vector<UniqueFd> fds;
};

class FakeWorker {
 public:
  explicit FakeWorker(NetworkPolicy policy, WorkerHostOptions options = default_options()) {
    auto [supervisor_end, worker_end] = ipc::make_channel_pair();
    worker_ = std::make_unique<ipc::Channel>(std::move(worker_end), ipc::Role::ProxyWorker,
                                             ipc::Role::Supervisor);
    // await_worker blocks until our Hello arrives: ours goes first.
    worker_->send_hello();
    broker_ = std::make_unique<WorkerHost>(std::move(policy), options, sink_);
    broker_->adopt_worker(-1, std::move(supervisor_end));
    broker_->await_worker();
    auto hello = worker_->receive();
    REQUIRE(hello);
    REQUIRE(hello->type == ipc::MessageType::Hello);
    // Non-blocking from here on, so the fake worker can never stall this single-threaded test.
    REQUIRE(::fcntl(sock(), F_SETFL, ::fcntl(sock(), F_GETFL) | O_NONBLOCK) == 0);
    REQUIRE(broker_->poll_fds().size() == 2);
    channel_fd_ = broker_->poll_fds()[1];
  }

  static WorkerHostOptions default_options() {
    WorkerHostOptions o;
    o.connect_threads = 4;
    return o;
  }

  WorkerHost& broker() { return *broker_; }
  int sock() const { return worker_->fd(); }
  // The broker's worker channel fd, as it was after adopt_worker.
  int channel_fd() const { return channel_fd_; }
  bool channel_dropped() const { return broker_->poll_fds().size() == 1; }

  void send(const ipc::ConnectRequest& r) { worker_->send(r); }
  void send(const ipc::TunnelClosed& t) { worker_->send(t); }
  void send(const ipc::DnsQuery& q) { worker_->send(q); }
  void send_raw(std::span<const std::byte> bytes, std::span<const int> fds = {}) {
    REQUIRE(send_datagram(sock(), bytes, fds) == static_cast<ssize_t>(bytes.size()));
  }

  // Lets the broker read everything queued on its worker channel, without touching its
  // completions: requests handled this way stay pending (deterministic in-flight counts).
  // Works whether on_readable reads one datagram per call or drains the socket.
  void deliver() {
    pollfd p{channel_fd_, POLLIN, 0};
    REQUIRE(::poll(&p, 1, 2000) == 1);
    while (!channel_dropped()) {
      broker_->on_readable(channel_fd_);
      p.revents = 0;
      if (::poll(&p, 1, 0) != 1) break;
    }
  }

  // One round of the supervisor's event loop, as in launcher_host.cpp: poll the broker's fds
  // (the channel also for writing while answers wait in the broker's queue), dispatch.
  void pump(int timeout_ms) {
    std::vector<pollfd> fds;
    for (int fd : broker_->poll_fds()) {
      const bool out = broker_->wants_write() && fd == broker_->channel_fd();
      fds.push_back({fd, static_cast<short>(POLLIN | (out ? POLLOUT : 0)), 0});
    }
    if (::poll(fds.data(), fds.size(), timeout_ms) <= 0) return;
    for (const pollfd& p : fds) {
      if (p.revents & POLLOUT) broker_->on_writable();
      if (p.revents & (POLLIN | POLLHUP | POLLERR)) broker_->on_readable(p.fd);
    }
  }

  // Reads every answer queued for the worker.
  void drain() {
    for (;;) {
      ipc::ReceiveResult r = worker_->try_receive();
      if (r.status != ipc::ReceiveStatus::Message) return;
      Answer a;
      a.type = r.message->type;
      if (a.type == ipc::MessageType::ConnectDenied) {
        auto d = r.message->decode<ipc::ConnectDenied>();
        a.id = d.id;
        a.reason = d.reason;
        a.text = d.text;
      } else if (a.type == ipc::MessageType::ConnectAllowed) {
        a.id = r.message->decode<ipc::ConnectAllowed>().id;
        a.fds = std::move(r.message->fds);
      } else if (a.type == ipc::MessageType::DnsAnswer) {
        const auto d = r.message->decode<ipc::DnsAnswer>();
        a.id = d.id;
        a.rcode = d.rcode;
        a.address = d.address;
      } else if (a.type == ipc::MessageType::TransparentStart) {
        a.fds = std::move(r.message->fds);
      }
      answers.push_back(std::move(a));
    }
  }

  // Runs the supervisor's loop and drains the worker until `n` answers in total have arrived.
  void await_answers(std::size_t n, int timeout_ms = 10000) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (answers.size() < n && Clock::now() < deadline) {
      pump(10);
      drain();
    }
    REQUIRE(answers.size() >= n);
  }

  // What the host reports, as the run's Reporter would receive it.
  struct RecordingSink final : EventSink {
    explicit RecordingSink(FakeWorker& w) : w(w) {}
    void network(const NetworkEvent& e) override { w.events.push_back(e); }
    void worker_fault(const WorkerFault& f) override { w.faults.push_back(f); }
    void worker_log(const std::string& text) override { w.log_lines.push_back(text); }
    void sandbox_ready(const ipc::SandboxReady&) override {}
    void violation(const ipc::Violation&) override {}
    void unix_connect(const ipc::UnixConnect&) override {}
    void command(const CommandDecision&) override {}
    FakeWorker& w;
  };

  std::vector<NetworkEvent> events;
  std::vector<WorkerFault> faults;
  std::vector<std::string> log_lines;
  std::vector<Answer> answers;

 private:
  RecordingSink sink_{*this};
  std::unique_ptr<ipc::Channel> worker_;
  std::unique_ptr<WorkerHost> broker_;
  int channel_fd_ = -1;
};

NetworkPolicy test_policy() {
  auto build =
      network_policy_from_strings({"allowed.test", "*.allowed.test"}, {"denied.test"}, false);
  REQUIRE(build.ok());
  return build.policy;
}

// After a fault: exactly the expected faults, the broker cut the worker off (only its eventfd
// is still polled), and another turn of the event loop changes nothing.
void require_cut_off(FakeWorker& w, std::size_t expected_faults = 1) {
  CHECK(w.faults.size() == expected_faults);
  CHECK(w.channel_dropped());
  // Further traffic from the (dead) worker is never read: the channel is gone.
  w.pump(20);
  CHECK(w.faults.size() == expected_faults);
}

// Sends one hostile datagram (optionally carrying a witness fd) and expects exactly one fault.
void expect_fault_from_datagram(std::span<const std::byte> datagram, bool with_fd) {
  const std::size_t before = fd_count();
  {
    FakeWorker w(test_policy());
    Witness witness = Witness::make();
    std::vector<int> fds;
    if (with_fd) fds.push_back(witness.write_end.get());
    w.send_raw(datagram, fds);
    w.deliver();
    INFO("faults: " << (w.faults.empty() ? std::string("none") : w.faults.front().what));
    require_cut_off(w);
    if (with_fd) CHECK(witness.peer_copy_closed());
  }
  CHECK(fd_count_settled(before) == before);
}

// --- cases: malformed datagrams ---------------------------------------------------------------

TEST_CASE("broker: oversized datagram from the worker is a fault", "[broker]") {
  const std::size_t before = fd_count();
  {
    FakeWorker w(test_policy());
    // A 200 KiB datagram needs a send buffer that large on the fake worker's side.
    const int size = 1 << 20;
    ::setsockopt(w.sock(), SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    std::vector<std::byte> big = frame_of(request(1, "allowed.test"));
    big.resize(200 * 1024, std::byte{0x41});
    Witness witness = Witness::make();
    const int fd = witness.write_end.get();
    const ssize_t n = send_datagram(w.sock(), big, std::span<const int>(&fd, 1));
    INFO("sendmsg errno " << errno);
    REQUIRE(n == static_cast<ssize_t>(big.size()));
    w.deliver();
    REQUIRE(w.faults.size() == 1);
    CHECK(w.faults[0].what.find("larger than") != std::string::npos);
    require_cut_off(w);
    CHECK(witness.peer_copy_closed());
  }
  CHECK(fd_count_settled(before) == before);
}

TEST_CASE("broker: malformed frames from the worker are faults", "[broker]") {
  const auto payload = ipc::encode_payload(request(1, "allowed.test"));
  const auto len = static_cast<std::uint32_t>(payload.size());
  const auto type = static_cast<std::uint16_t>(ipc::MessageType::ConnectRequest);

  SECTION("unknown message type 99") {
    expect_fault_from_datagram(raw_frame(ipc::kMagic, ipc::kProtocolVersion, 99, len, 0, payload),
                               false);
  }
  SECTION("unknown message type 99, carrying an fd") {
    expect_fault_from_datagram(raw_frame(ipc::kMagic, ipc::kProtocolVersion, 99, len, 1, payload),
                               true);
  }
  SECTION("bad magic") {
    expect_fault_from_datagram(raw_frame(0x46454e44, ipc::kProtocolVersion, type, len, 0, payload),
                               false);
  }
  SECTION("bad magic, carrying an fd") {
    expect_fault_from_datagram(raw_frame(0xdeadbeef, ipc::kProtocolVersion, type, len, 1, payload),
                               true);
  }
  SECTION("wrong protocol version") {
    expect_fault_from_datagram(
        raw_frame(ipc::kMagic, ipc::kProtocolVersion + 1, type, len, 0, payload), false);
  }
  SECTION("truncated header") {
    auto frame = raw_frame(ipc::kMagic, ipc::kProtocolVersion, type, len, 0, payload);
    frame.resize(ipc::kFrameHeaderSize - 5);
    expect_fault_from_datagram(frame, false);
  }
  SECTION("payload_len larger than the datagram") {
    expect_fault_from_datagram(
        raw_frame(ipc::kMagic, ipc::kProtocolVersion, type, len + 1, 0, payload), false);
  }
  SECTION("payload with trailing bytes") {
    auto padded = payload;
    padded.push_back(std::byte{0});
    expect_fault_from_datagram(
        raw_frame(ipc::kMagic, ipc::kProtocolVersion, type, len + 1, 0, padded), false);
  }
  SECTION("payload cut short") {
    std::vector<std::byte> cut(payload.begin(), payload.end() - 3);
    expect_fault_from_datagram(raw_frame(ipc::kMagic, ipc::kProtocolVersion, type, len - 3, 0, cut),
                               false);
  }
  SECTION("host that fails validation") {
    expect_fault_from_datagram(frame_of(request(1, "bad host/../x")), false);
  }
  SECTION("port 0") {
    expect_fault_from_datagram(frame_of(request(1, "allowed.test", 0)), false);
  }
  SECTION("empty datagram (read as end of stream)") {
    expect_fault_from_datagram(std::span<const std::byte>(), false);
  }
}

// --- cases: fds where none belong -------------------------------------------------------------

TEST_CASE("broker: a ConnectRequest with an extra SCM_RIGHTS fd is a fault, the fd closed",
          "[broker]") {
  const std::size_t before = fd_count();
  {
    FakeWorker w(test_policy());
    const auto resolved = resolver_call_count();
    Witness witness = Witness::make();
    const int fd = witness.write_end.get();
    // A valid frame whose header declares the fd it carries: only the dispatch rule (0 fds on
    // ConnectRequest) can refuse it.
    w.send_raw(frame_of(request(1, "allowed.test"), 1), std::span<const int>(&fd, 1));
    w.deliver();
    REQUIRE(w.faults.size() == 1);
    require_cut_off(w);
    CHECK(witness.peer_copy_closed());
    CHECK(resolver_call_count() == resolved);  // the request was never acted on
    CHECK(w.events.empty());
  }
  CHECK(fd_count_settled(before) == before);
}

TEST_CASE("broker: an fd the frame header does not declare is a fault, the fd closed", "[broker]") {
  // A valid ConnectRequest frame declaring 0 fds, with one attached: the frame check
  // (fd_count != fds received) refuses it; expect_fault_from_datagram checks the fd closed.
  expect_fault_from_datagram(frame_of(request(1, "allowed.test"), 0), true);
}

// --- cases: messages the worker may not send --------------------------------------------------

TEST_CASE("broker: messages only the supervisor or launcher may send are faults", "[broker]") {
  SECTION("ConnectAllowed (with its fd)") {
    expect_fault_from_datagram(frame_of(ipc::ConnectAllowed{1}, 1), true);
  }
  SECTION("ConnectDenied") {
    expect_fault_from_datagram(frame_of(ipc::ConnectDenied{1, ipc::DenyReason::Policy, "x"}),
                               false);
  }
  SECTION("LaunchSpec") {
    ipc::LaunchSpec spec;
    spec.argv = {"/bin/true"};
    spec.cwd = "/";
    expect_fault_from_datagram(frame_of(spec), false);
  }
  SECTION("ProxyStart (with its 2 fds declared, one sent)") {
    expect_fault_from_datagram(frame_of(ipc::ProxyStart{}, 1), true);
  }
  SECTION("CommandExited") {
    expect_fault_from_datagram(frame_of(ipc::CommandExited{false, 0}), false);
  }
  SECTION("a second Hello") {
    expect_fault_from_datagram(frame_of(ipc::Hello{ipc::kProtocolVersion, ipc::Role::ProxyWorker}),
                               false);
  }
}

// --- cases: policy decisions ------------------------------------------------------------------

TEST_CASE("broker: the worker's log lines are delivered as sent, a bounded number of them",
          "[broker]") {
  FakeWorker w(test_policy());
  const std::vector<std::string>& lines = w.log_lines;
  const std::string hostile = "fatal: \x1b[2J\r\nfence: forged";
  for (std::size_t i = 0; i < WorkerHost::kMaxWorkerLogLines + 50; ++i) {
    w.send_raw(frame_of(ipc::WorkerLog{i == 0 ? hostile : "line " + std::to_string(i)}));
    if (i % 64 == 63) w.deliver();
  }
  w.deliver();
  CHECK(w.faults.empty());
  REQUIRE(lines.size() == WorkerHost::kMaxWorkerLogLines + 1);
  CHECK(lines.front() == hostile);  // escaping is the display's job (Reporter, safe_text)
  CHECK(lines[WorkerHost::kMaxWorkerLogLines - 1] ==
        "line " + std::to_string(WorkerHost::kMaxWorkerLogLines - 1));
  CHECK(lines.back() == "(further lines of the proxy worker dropped)");
  // An empty line is a protocol violation like any bad field.
  w.send_raw(frame_of(ipc::WorkerLog{""}));
  w.deliver();
  CHECK(w.faults.size() == 1);
}

TEST_CASE("broker: a denied name is refused by policy and never resolved", "[broker]") {
  const std::size_t before = fd_count();
  {
    FakeWorker w(test_policy());
    const auto resolved = resolver_call_count();
    w.send(request(42, "denied.test"));
    w.await_answers(1);
    REQUIRE(w.answers.size() == 1);
    CHECK(w.answers[0].type == ipc::MessageType::ConnectDenied);
    CHECK(w.answers[0].id == 42);
    CHECK(w.answers[0].reason == ipc::DenyReason::Policy);
    CHECK(w.answers[0].fds.empty());
    REQUIRE(w.events.size() == 1);
    CHECK_FALSE(w.events[0].allowed);
    CHECK_FALSE(w.events[0].closed);
    CHECK(w.events[0].host == "denied.test");
    CHECK(w.events[0].port == 443);
    CHECK(w.events[0].rule.find("denied.test") != std::string::npos);
    CHECK(w.events[0].resolved.empty());
    CHECK(resolver_call_count() == resolved);
    CHECK(w.faults.empty());
    CHECK_FALSE(w.channel_dropped());
  }
  CHECK(fd_count_settled(before) == before);
}

TEST_CASE("broker: a name in no list is refused by default deny, never resolved", "[broker]") {
  const std::size_t before = fd_count();
  {
    FakeWorker w(test_policy());
    const auto resolved = resolver_call_count();
    w.send(request(7, "unlisted.test", 80));
    w.send(request(8, "sub.denied.test", 80));  // "denied.test" is exact: not a wildcard
    w.await_answers(2);
    REQUIRE(w.answers.size() == 2);
    for (const Answer& a : w.answers) {
      CHECK(a.type == ipc::MessageType::ConnectDenied);
      CHECK(a.reason == ipc::DenyReason::Policy);
    }
    REQUIRE(w.events.size() == 2);
    for (const NetworkEvent& e : w.events) {
      CHECK_FALSE(e.allowed);
      CHECK(e.rule == "default deny");
    }
    CHECK(resolver_call_count() == resolved);
    CHECK(w.faults.empty());
    CHECK_FALSE(w.channel_dropped());
  }
  CHECK(fd_count_settled(before) == before);
}

// --- cases: ids -------------------------------------------------------------------------------

TEST_CASE("broker: a duplicate id while the first request is pending is a fault", "[broker]") {
  const std::size_t before = fd_count();
  {
    FakeWorker w(test_policy());
    w.send(request(5, "denied.test"));
    w.deliver();  // pending: its completion is not handled yet
    CHECK(w.faults.empty());
    w.send(request(5, "unlisted.test"));
    w.deliver();
    REQUIRE(w.faults.size() == 1);
    CHECK(w.faults[0].what.find("reuses id 5") != std::string::npos);
    require_cut_off(w);
    // The first request's completion still arrives; nothing is sent to the dead worker.
    w.pump(200);
    w.drain();
    CHECK(w.answers.empty());
    CHECK(w.faults.size() == 1);
  }
  CHECK(fd_count_settled(before) == before);
}

TEST_CASE("broker: TunnelClosed for an id never allowed is a fault", "[broker]") {
  const std::size_t before = fd_count();
  SECTION("an id never seen") {
    FakeWorker w(test_policy());
    w.send(ipc::TunnelClosed{77, 1, 2, 3});
    w.deliver();
    REQUIRE(w.faults.size() == 1);
    CHECK(w.faults[0].what.find("unknown id 77") != std::string::npos);
    require_cut_off(w);
    CHECK(w.events.empty());
  }
  SECTION("an id that was denied") {
    FakeWorker w(test_policy());
    w.send(request(9, "denied.test"));
    w.await_answers(1);
    REQUIRE(w.faults.empty());
    w.send(ipc::TunnelClosed{9, 1, 2, 3});
    w.deliver();
    REQUIRE(w.faults.size() == 1);
    require_cut_off(w);
    CHECK(w.events.size() == 1);  // only the refusal
  }
  CHECK(fd_count_settled(before) == before);
}

// --- cases: volume ----------------------------------------------------------------------------

TEST_CASE("broker: 5000 refused requests are all answered, fds unchanged", "[broker]") {
  const std::size_t before = fd_count();
  {
    WorkerHostOptions options = FakeWorker::default_options();
    options.max_in_flight = 64;
    FakeWorker w(test_policy(), options);
    const auto resolved = resolver_call_count();
    constexpr std::size_t kTotal = 5000;
    constexpr std::size_t kBatch = 64;  // == max_in_flight: the limit itself is allowed
    std::uint64_t next_id = 1000;
    std::size_t sent = 0;
    while (sent < kTotal) {
      const std::size_t batch = std::min(kBatch, kTotal - sent);
      // As fast as the socket takes them; the broker reads its channel in between when the
      // socket is full. No completion is handled until the whole batch is in flight.
      std::size_t queued = 0;
      while (queued < batch) {
        // Alternately a denied name and a distinct name in no list.
        auto r = request(next_id, next_id % 2 == 0 ? std::string("denied.test")
                                                   : "n" + std::to_string(next_id) + ".test");
        try {
          w.send(r);
          ++queued;
          ++next_id;
        } catch (const platform::SysError& e) {
          REQUIRE(e.error_code() == EAGAIN);
          w.deliver();
        }
      }
      w.deliver();
      REQUIRE(w.faults.empty());
      sent += batch;
      w.await_answers(sent);
    }
    CHECK(w.faults.empty());
    CHECK_FALSE(w.channel_dropped());
    REQUIRE(w.answers.size() == kTotal);
    std::set<std::uint64_t> ids;
    for (const Answer& a : w.answers) {
      CHECK(a.type == ipc::MessageType::ConnectDenied);
      ids.insert(a.id);
    }
    CHECK(ids.size() == kTotal);
    CHECK(*ids.begin() == 1000);
    CHECK(*ids.rbegin() == 1000 + kTotal - 1);
    CHECK(w.events.size() == kTotal);
    CHECK(resolver_call_count() == resolved);
  }
  CHECK(fd_count_settled(before) == before);
}

TEST_CASE("broker: max_in_flight pending requests are fine, one more is a fault", "[broker]") {
  const std::size_t before = fd_count();
  {
    WorkerHostOptions options = FakeWorker::default_options();
    options.max_in_flight = 8;
    FakeWorker w(test_policy(), options);
    // Exactly at the limit, twice (answers drained in between).
    for (std::uint64_t round = 0; round < 2; ++round) {
      for (std::uint64_t i = 0; i < 8; ++i) w.send(request(round * 100 + i, "denied.test"));
      w.deliver();
      REQUIRE(w.faults.empty());
      w.await_answers((round + 1) * 8);
    }
    // Over the limit: 9 pending at once (8 read and pending, then one more).
    for (std::uint64_t i = 0; i < 8; ++i) w.send(request(1000 + i, "denied.test"));
    w.deliver();
    CHECK(w.faults.empty());
    w.send(request(2000, "denied.test"));
    w.deliver();
    REQUIRE(w.faults.size() == 1);
    CHECK(w.faults[0].what.find("in flight") != std::string::npos);
    require_cut_off(w);
  }
  CHECK(fd_count_settled(before) == before);
}

// A worker that keeps asking but never reads its answers must not be able to stall the
// supervisor's event loop (which also forwards signals and waits for the command's exit).
// With a blocking sendmsg the loop hangs once the socket buffer is full (about 340 unread
// answers here). Acceptable outcomes: the broker keeps answering (queueing), or it cuts the
// worker off with a fault; never an event-loop call that does not return. The watchdog
// unblocks a stalled broker by reading the answers, so that a regression fails instead of
// hanging the suite.
TEST_CASE("broker: a worker that never reads its answers cannot stall the supervisor", "[broker]") {
  const std::size_t before = fd_count();
  {
    WorkerHostOptions options = FakeWorker::default_options();
    options.max_in_flight = 64;
    FakeWorker w(test_policy(), options);
    std::atomic<bool> in_call{false};
    std::atomic<bool> stalled{false};
    std::atomic<bool> done{false};
    std::string stalled_in;  // the main thread's /proc syscall line while stalled
    const pid_t main_tid = ::gettid();
    const int worker_sock = w.sock();
    std::thread watchdog([&] {
      auto since = Clock::now();
      bool was_in = false;
      while (!done) {
        const bool in = in_call;
        if (in && !was_in) since = Clock::now();
        was_in = in;
        if (in && Clock::now() - since > std::chrono::seconds(3)) {
          if (!stalled) {
            std::ifstream in("/proc/self/task/" + std::to_string(main_tid) + "/syscall");
            std::getline(in, stalled_in);
          }
          stalled = true;
          static char buf[ipc::kMaxFrameSize];
          while (::recv(worker_sock, buf, sizeof buf, MSG_DONTWAIT) > 0) {
          }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
    std::uint64_t id = 1;
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    while (id <= 4000 && !stalled && !w.channel_dropped() && Clock::now() < deadline) {
      // Never more than max_in_flight outstanding (events count the decisions made), so the
      // only thing this worker does wrong is not reading.
      for (int i = 0; i < 32 && id - 1 - w.events.size() < options.max_in_flight; ++i) {
        try {
          w.send(request(id, "denied.test"));
          ++id;
        } catch (const platform::SysError&) {
          break;
        }
      }
      in_call = true;
      w.pump(10);
      in_call = false;
    }
    done = true;
    watchdog.join();
    INFO("requests sent: " << id - 1 << ", decisions: " << w.events.size());
    INFO("stalled in syscall (nr args...): " << stalled_in << "  [sendmsg is " << SYS_sendmsg
                                             << "]");
    CHECK_FALSE(stalled);
    CHECK(w.faults.size() <= 1);
    if (!w.faults.empty()) {
      CHECK(w.channel_dropped());
      INFO("fault: " << w.faults[0].what);
      CHECK(w.faults[0].what.find("does not read") != std::string::npos);
    }
  }
  CHECK(fd_count_settled(before) == before);
}

// --- allowed connection -----------------------------------------------------------------------

TEST_CASE("broker: an allowed connection arrives as one connected fd; its close is reported",
          "[broker]") {
  const std::size_t before = fd_count();
  {
    UniqueFd listener = loopback_listener();
    const std::uint16_t port = local_port(listener.get());

    auto build = network_policy_from_strings({"127.0.0.1"}, {"denied.test"}, true);
    REQUIRE(build.ok());
    FakeWorker w(build.policy);
    w.send(request(11, "127.0.0.1", port));
    w.await_answers(1);
    REQUIRE(w.faults.empty());
    REQUIRE(w.answers.size() == 1);
    Answer& a = w.answers[0];
    REQUIRE(a.type == ipc::MessageType::ConnectAllowed);
    CHECK(a.id == 11);
    REQUIRE(a.fds.size() == 1);
    const int upstream = a.fds[0].get();

    // The fd is connected to our listener: its peer is the listener's address.
    sockaddr_in peer{};
    socklen_t peer_len = sizeof peer;
    REQUIRE(::getpeername(upstream, reinterpret_cast<sockaddr*>(&peer), &peer_len) == 0);
    CHECK(ntohs(peer.sin_port) == port);
    CHECK(peer.sin_addr.s_addr == htonl(INADDR_LOOPBACK));
    UniqueFd accepted(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    REQUIRE(accepted);
    char c = 'x';
    REQUIRE(::send(upstream, &c, 1, MSG_NOSIGNAL) == 1);
    char got = 0;
    REQUIRE(::recv(accepted.get(), &got, 1, 0) == 1);
    CHECK(got == 'x');
    c = 'y';
    REQUIRE(::send(accepted.get(), &c, 1, MSG_NOSIGNAL) == 1);
    REQUIRE(::recv(upstream, &got, 1, 0) == 1);
    CHECK(got == 'y');

    REQUIRE(w.events.size() == 1);
    CHECK(w.events[0].allowed);
    CHECK_FALSE(w.events[0].closed);
    CHECK(w.events[0].rule == "127.0.0.1");
    CHECK(w.events[0].connected == "127.0.0.1");

    // The id is open: reusing it is a violation, closing it is reported once.
    w.send(ipc::TunnelClosed{11, 5, 7, 10});
    w.deliver();
    REQUIRE(w.faults.empty());
    REQUIRE(w.events.size() == 2);
    const NetworkEvent& closed = w.events[1];
    CHECK(closed.closed);
    CHECK(closed.allowed);
    CHECK(closed.host == "127.0.0.1");
    CHECK(closed.port == port);
    CHECK(closed.bytes_up == 5);
    CHECK(closed.bytes_down == 7);
    CHECK(closed.duration_ms == 10);

    SECTION("a second TunnelClosed for the same id is a fault") {
      w.send(ipc::TunnelClosed{11, 5, 7, 10});
      w.deliver();
      REQUIRE(w.faults.size() == 1);
      require_cut_off(w);
      CHECK(w.events.size() == 2);
    }
    SECTION("the id is free again after its close") {
      w.send(request(11, "denied.test"));
      w.await_answers(2);
      CHECK(w.faults.empty());
      CHECK(w.answers[1].type == ipc::MessageType::ConnectDenied);
    }
  }
  CHECK(fd_count_settled(before) == before);
}

TEST_CASE("broker: reusing the id of an open tunnel is a fault; stop reports it closed",
          "[broker]") {
  const std::size_t before = fd_count();
  {
    UniqueFd listener = loopback_listener();
    const std::uint16_t port = local_port(listener.get());

    auto build = network_policy_from_strings({"127.0.0.1"}, {}, true);
    REQUIRE(build.ok());
    FakeWorker w(build.policy);
    w.send(request(3, "127.0.0.1", port));
    w.await_answers(1);
    REQUIRE(w.answers.at(0).type == ipc::MessageType::ConnectAllowed);
    w.answers.clear();  // close the worker's copy of the upstream fd
    w.send(request(3, "127.0.0.1", port));
    w.deliver();
    REQUIRE(w.faults.size() == 1);
    require_cut_off(w);
    w.broker().stop();
    REQUIRE(w.events.size() == 2);
    CHECK(w.events[1].closed);
    CHECK(w.events[1].bytes_up == 0);
  }
  CHECK(fd_count_settled(before) == before);
}

// --- cases: the transparent path ----------------------------------------------------------------

// An unbound UDP socket: what the broker checks is its type.
UniqueFd datagram_socket() {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  REQUIRE(fd);
  return fd;
}

// Starts the transparent path on `w` and reads the TransparentStart it forwards.
void start_transparent(FakeWorker& w) {
  std::vector<UniqueFd> sockets;
  sockets.push_back(loopback_listener());
  sockets.push_back(datagram_socket());
  sockets.push_back(loopback_listener());
  w.broker().send_transparent_start(41080, 41053, std::move(sockets));
  w.await_answers(1);
  REQUIRE(w.answers[0].type == ipc::MessageType::TransparentStart);
  CHECK(w.answers[0].fds.size() == 3);
  w.answers.clear();
}

// The synthetic address the broker gives `name` (DnsQuery id 1), as text.
std::string synthetic_address_of(FakeWorker& w, const std::string& name) {
  w.send(ipc::DnsQuery{1, name, ipc::kDnsTypeA});
  w.await_answers(1);
  const std::uint32_t address = w.answers[0].address;
  w.answers.clear();
  return IpAddress::v4(address).to_string();
}

TEST_CASE("broker: DNS is answered from the policy alone; a reused id is a fault", "[broker]") {
  FakeWorker w(test_policy());
  start_transparent(w);
  const auto resolved = resolver_call_count();
  w.send(ipc::DnsQuery{1, "allowed.test", 1});
  w.send(ipc::DnsQuery{2, "denied.test", 1});
  w.send(ipc::DnsQuery{3, "unlisted.test", 1});
  w.send(ipc::DnsQuery{4, "www.allowed.test", 28});  // AAAA: no record, no address spent
  w.send(ipc::DnsQuery{5, "allowed.test", 1});
  w.await_answers(5);
  CHECK(w.answers[0].rcode == 0);
  CHECK((w.answers[0].address >> 17) == ((198u << 24 | 18u << 16) >> 17));  // 198.18.0.0/15
  CHECK(w.answers[1].rcode == 3);
  CHECK(w.answers[2].rcode == 3);
  CHECK(w.answers[1].address == 0);
  CHECK(w.answers[3].rcode == 0);
  CHECK(w.answers[3].address == 0);
  CHECK(w.answers[4].address == w.answers[0].address);  // one address per name, for the run
  // SECURITY: nothing was resolved for any of them.
  CHECK(resolver_call_count() == resolved);
  CHECK(w.faults.empty());
  w.send(ipc::DnsQuery{5, "allowed.test", 1});
  w.deliver();
  REQUIRE(w.faults.size() == 1);
  CHECK(w.faults[0].what.find("DnsQuery id 5") != std::string::npos);
}

TEST_CASE("broker: DNS and transparent requests before TransparentStart are faults", "[broker]") {
  SECTION("a query") {
    FakeWorker w(test_policy());
    w.send(ipc::DnsQuery{1, "allowed.test", 1});
    w.deliver();
    REQUIRE(w.faults.size() == 1);
    require_cut_off(w);
  }
  SECTION("a connection") {
    FakeWorker w(test_policy());
    w.send(ipc::ConnectRequest{1, "198.18.0.1", 443, ipc::ProxyProtocol::Transparent});
    w.deliver();
    REQUIRE(w.faults.size() == 1);
    require_cut_off(w);
  }
}

TEST_CASE("broker: a synthetic address stands for its name only; verifyTls compares the claim",
          "[broker]") {
  WorkerHostOptions options = FakeWorker::default_options();
  options.verify_names = true;
  FakeWorker w(test_policy(), options);
  start_transparent(w);
  const std::string address = synthetic_address_of(w, "allowed.test");
  const auto resolved = resolver_call_count();
  // Another name's claim on allowed.test's address: domain fronting.
  w.send(ipc::ConnectRequest{10, address, 443, ipc::ProxyProtocol::Transparent, "denied.test"});
  // No claim at all.
  w.send(ipc::ConnectRequest{11, address, 443, ipc::ProxyProtocol::Transparent, ""});
  // An address of the range no name was given.
  w.send(ipc::ConnectRequest{12, "198.19.255.1", 443, ipc::ProxyProtocol::Transparent, ""});
  w.await_answers(3);
  for (const Answer& a : w.answers) {
    CHECK(a.type == ipc::MessageType::ConnectDenied);
    CHECK(a.reason == ipc::DenyReason::Policy);
  }
  REQUIRE(w.events.size() >= 4);  // the DNS answer, then the three refusals
  CHECK(w.events[1].rule == "verifyTls");
  CHECK(w.events[1].host == "allowed.test");
  CHECK(w.events[1].reason.find("names denied.test") != std::string::npos);
  CHECK(w.events[2].reason.find("names no host") != std::string::npos);
  CHECK(w.events[3].reason.find("no name was given") != std::string::npos);
  CHECK(resolver_call_count() == resolved);
  CHECK(w.faults.empty());
}

TEST_CASE("broker: synthetic addresses through the proxies: mapped spellings, HTTP refused",
          "[broker]") {
  FakeWorker w(test_policy());
  start_transparent(w);
  const std::string address = synthetic_address_of(w, "allowed.test");
  const auto resolved = resolver_call_count();
  // An absolute-form HTTP request would carry the address as its Host: refused, naming the host.
  w.send(ipc::ConnectRequest{10, address, 80, ipc::ProxyProtocol::HttpForward});
  // The IPv4-mapped spelling of an address no name was given is that address.
  w.send(ipc::ConnectRequest{11, "::ffff:198.19.255.1", 443, ipc::ProxyProtocol::Socks5});
  w.await_answers(2);
  for (const Answer& a : w.answers) CHECK(a.type == ipc::MessageType::ConnectDenied);
  REQUIRE(w.events.size() >= 3);
  CHECK(w.events[1].reason.find("ask for allowed.test") != std::string::npos);
  CHECK(w.events[2].reason.find("no name was given") != std::string::npos);
  CHECK(resolver_call_count() == resolved);
  CHECK(w.faults.empty());
}

TEST_CASE("broker: a claimed host without verifyTls is a fault", "[broker]") {
  FakeWorker w(test_policy());
  start_transparent(w);
  w.send(ipc::ConnectRequest{1, "198.18.0.1", 443, ipc::ProxyProtocol::Transparent, "a.test"});
  w.deliver();
  REQUIRE(w.faults.size() == 1);
  CHECK(w.faults[0].what.find("claimed host") != std::string::npos);
  require_cut_off(w);
}

}  // namespace
}  // namespace fence::supervisor
