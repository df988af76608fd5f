// The restrictions of the RUNNING fence-proxy-worker, read from /proc, and its fail-closed
// behaviour when the supervisor goes away or misbehaves.
#include <sys/stat.h>

#include <filesystem>

#include <catch2/catch.hpp>

#include "test_worker_harness.hpp"

namespace fence::testing::worker {
namespace {

constexpr uid_t kNobody = 65534;

// "Max open files  160  160  files" -> {"160", "160"}
std::pair<std::string, std::string> limit_of(pid_t pid, const std::string& name) {
  std::istringstream in(proc_file(pid, "limits"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) == 0) {
      std::istringstream fields(line.substr(name.size()));
      std::string soft, hard;
      fields >> soft >> hard;
      return {soft, hard};
    }
  }
  return {};
}

void check_restrictions(WorkerHarness& w, const ipc::ProxyStart& limits) {
  REQUIRE(w.wait_restricted());
  const pid_t pid = w.pid();
  CHECK(status_field(pid, "Seccomp") == "2");  // filter mode
  CHECK(status_field(pid, "NoNewPrivs") == "1");
  CHECK(status_field(pid, "CapEff") == "0000000000000000");
  CHECK(status_field(pid, "CapPrm") == "0000000000000000");
  CHECK(status_field(pid, "CapBnd") == "0000000000000000");
  CHECK(status_field(pid, "Threads") == "1");
  // Own network and user namespaces.
  const std::string me = std::to_string(::getpid());
  const std::string it = std::to_string(pid);
  CHECK_FALSE(ns_of(it, "net").empty());
  CHECK(ns_of(it, "net") != ns_of(me, "net"));
  CHECK(ns_of(it, "user") != ns_of(me, "user"));
  // rlimits: fds for max_tunnels (6 per tunnel + 64), no processes, 256 MiB address space.
  const std::string nofile = std::to_string(limits.max_tunnels * 6ULL + 64);
  CHECK(limit_of(pid, "Max open files") == std::make_pair(nofile, nofile));
  CHECK(limit_of(pid, "Max processes") == std::make_pair(std::string("0"), std::string("0")));
  CHECK(limit_of(pid, "Max core file size") == std::make_pair(std::string("0"), std::string("0")));
#if !defined(__SANITIZE_ADDRESS__)
  CHECK(limit_of(pid, "Max address space") ==
        std::make_pair(std::string("268435456"), std::string("268435456")));
#endif
  // Exactly stdio, the channel, the two listeners and the event loop's own fds — no strays.
  std::size_t fds = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/" + it + "/fd")) {
    (void)entry;
    ++fds;
  }
  CHECK(fds <= 9);  // 0 1 2 3, 2 listeners, epoll, eventfd, timerfd
}

TEST_CASE("worker sandbox: the running worker is restricted (as root)", "[worker]") {
  ipc::ProxyStart limits;
  limits.max_tunnels = 16;
  WorkerHarness w(limits);
  check_restrictions(w, limits);
  // It still serves after all that.
  UniqueFd client = connect_loopback(w.http_port());
  write_all(client.get(), "CONNECT example.com:443 HTTP/1.1\r\n\r\n");
  CHECK(w.expect_request().host == "example.com");
}

TEST_CASE("worker sandbox: the running worker is restricted and non-dumpable (uid 65534)",
          "[worker]") {
  if (::geteuid() != 0) {
    WARN("not root: the worker runs as the test's user");
  }
  ipc::ProxyStart limits;
  limits.max_tunnels = 16;
  std::optional<uid_t> as;
  if (::geteuid() == 0) as = kNobody;
  WorkerHarness w(limits, as);
  check_restrictions(w, limits);
  // Non-dumpable: the kernel makes /proc/<pid>/mem (and friends) owned by root instead of the
  // process's own uid, so other processes of that uid (the sandboxed command) cannot use them.
  struct stat st {};
  REQUIRE(::stat(("/proc/" + std::to_string(w.pid()) + "/mem").c_str(), &st) == 0);
  CHECK(st.st_uid == 0);
  CHECK(status_field(w.pid(), "Uid").rfind(std::to_string(as.value_or(::getuid())), 0) == 0);
  UniqueFd client = connect_loopback(w.socks_port());
  write_all(client.get(), std::string("\x05\x01\x00", 3));
  CHECK(read_exact(client.get(), 2) == std::string("\x05\x00", 2));
}

TEST_CASE("worker sandbox: supervisor gone -> the worker exits and clients are cut off",
          "[worker]") {
  WorkerHarness w;
  REQUIRE(w.wait_restricted());
  UniqueFd waiting = connect_loopback(w.http_port());
  write_all(waiting.get(), "CONNECT example.com:443 HTTP/1.1\r\n\r\n");
  (void)w.expect_request();
  w.close_channel();
  const int status = w.wait_exit();
  REQUIRE(status != -1);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  bool eof = false;
  read_to_eof(waiting.get(), kTimeoutMs, &eof);
  CHECK(eof);
}

TEST_CASE("worker sandbox: an answer for an id never asked is fatal (fail closed)", "[worker]") {
  WorkerHarness w;
  REQUIRE(w.wait_restricted());
  UniqueFd stray = w.allow(4242);
  const int status = w.wait_exit();
  REQUIRE(status != -1);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 2);
}

TEST_CASE("worker sandbox: a worker without its channel at fd 3 exits non-zero", "[worker]") {
  const std::string path = worker_path();
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(ipc::kChannelFd);
    char* const argv[] = {const_cast<char*>(path.c_str()), nullptr};
    char* const envp[] = {nullptr};
    ::execve(path.c_str(), argv, envp);
    ::_exit(122);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) != 0);
}

}  // namespace
}  // namespace fence::testing::worker
