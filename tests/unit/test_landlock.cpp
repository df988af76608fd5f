// Landlock: every check restricts a forked child (never the test process), and first shows
// the operation works unrestricted, so removing a handled right or a scope fails the test.
// Files are world-writable so that uid 65534 is stopped by Landlock, not by file modes.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <string>

#include "child_process.hpp"
#include "platform/landlock.hpp"
#include "temp_tree.hpp"

namespace {

using fence::platform::apply_landlock;
using fence::platform::LandlockPolicy;
using fence::platform::PathAccess;

using fence::testing::Expect;
using fence::testing::failures_of;
using fence::testing::in_grandchild;
using fence::testing::kBothUsers;
using fence::testing::run_in_child;
using fence::testing::RunAs;
using fence::testing::TempTree;
using fence::testing::user_name;

// /tmp/fence-ll-XXXXXX with ro/data, exec/tool, rw/, outside/secret and a lone file.
struct LandlockTree : TempTree {
  LandlockTree() : TempTree("ll", "/tmp") {
    for (const char* dir : {"", "/ro", "/rw", "/exec", "/outside"}) {
      std::filesystem::create_directories(path() + dir);
      ::chmod((path() + dir).c_str(), 0777);
    }
    for (const char* file : {"ro/data", "exec/tool", "outside/secret", "lone"}) {
      ::chmod(write(file, "hello").c_str(), 0777);
    }
  }
};

LandlockPolicy fs_policy(std::vector<std::pair<std::string, PathAccess>> paths) {
  LandlockPolicy policy;
  policy.paths = std::move(paths);
  return policy;
}

long open_close(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0666);
  if (fd >= 0) ::close(fd);
  return fd;
}

off_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

int loopback_socket(sockaddr_in& addr, bool listen_on_it) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  if (listen_on_it) ::listen(fd, 4);
  return fd;
}

long connect_to(const sockaddr_in& addr) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  const int saved = errno;
  ::close(fd);
  errno = saved;
  return rc;
}

long bind_to(const sockaddr_in& addr) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  const int rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  const int saved = errno;
  ::close(fd);
  errno = saved;
  return rc;
}

}  // namespace

TEST_CASE("landlock ABI is the kernel's", "[landlock]") {
  CHECK(fence::platform::landlock_abi() >= 6);  // this machine: 7
}

TEST_CASE("landlock read tier: read yes, write and O_TRUNC no", "[landlock]") {
  LandlockTree tree;
  for (RunAs as : kBothUsers) {
    INFO(user_name(as));
    CHECK(failures_of(run_in_child(as, [&](Expect& expect) {
            expect.succeeds(open_close(tree / "ro/data", O_WRONLY), "control: open O_WRONLY");
            expect.succeeds(::truncate((tree / "lone").c_str(), 5), "control: truncate");
            // A lone file with the Read tier: dir-only rights must be masked off (else EINVAL).
            apply_landlock(
                fs_policy({{tree / "ro", PathAccess::Read}, {tree / "lone", PathAccess::Read}}));
            expect.succeeds(open_close(tree / "ro/data", O_RDONLY), "open O_RDONLY");
            expect.succeeds(open_close(tree / "lone", O_RDONLY), "open lone file O_RDONLY");
            expect.fails_with(open_close(tree / "ro/data", O_WRONLY), EACCES, "open O_WRONLY");
            expect.fails_with(open_close(tree / "ro/data", O_RDONLY | O_TRUNC), EACCES,
                              "open O_RDONLY|O_TRUNC");
            expect.fails_with(open_close(tree / "lone", O_RDONLY | O_TRUNC), EACCES,
                              "lone file O_RDONLY|O_TRUNC");
            expect.fails_with(::truncate((tree / "lone").c_str(), 0), EACCES, "truncate");
            expect.fails_with(open_close(tree / "ro/new", O_CREAT | O_WRONLY), EACCES, "create");
            expect.fails_with(::unlink((tree / "ro/data").c_str()), EACCES, "unlink");
            expect.that(file_size(tree / "ro/data") == 5, "file still has its content");
            DIR* dir = ::opendir((tree / "ro").c_str());
            expect.that(dir != nullptr, "read tier lists directories");
            if (dir != nullptr) ::closedir(dir);
          })) == "");
  }
}

TEST_CASE("landlock write tier allows create, rename, remove", "[landlock]") {
  LandlockTree tree;
  for (RunAs as : kBothUsers) {
    INFO(user_name(as));
    CHECK(failures_of(run_in_child(as, [&](Expect& expect) {
            apply_landlock(
                fs_policy({{tree / "rw", PathAccess::Write}, {tree / "ro", PathAccess::Read}}));
            expect.succeeds(open_close(tree / "rw/new", O_CREAT | O_WRONLY | O_TRUNC),
                            "create file");
            expect.succeeds(::mkdir((tree / "rw/sub").c_str(), 0700), "mkdir");
            expect.succeeds(::rename((tree / "rw/new").c_str(), (tree / "rw/sub/moved").c_str()),
                            "rename within the tree");
            expect.succeeds(::unlink((tree / "rw/sub/moved").c_str()), "unlink");
            expect.succeeds(::rmdir((tree / "rw/sub").c_str()), "rmdir");
            expect.fails_with(open_close(tree / "ro/new", O_CREAT | O_WRONLY), EACCES,
                              "create outside the write tier");
            expect.fails_with(::rename((tree / "ro/data").c_str(), (tree / "rw/stolen").c_str()),
                              EACCES, "move a read-only file into the write tier");
          })) == "");
  }
}

TEST_CASE("landlock execute tier: read files, no listing; other paths unreadable", "[landlock]") {
  LandlockTree tree;
  for (RunAs as : kBothUsers) {
    INFO(user_name(as));
    CHECK(
        failures_of(run_in_child(as, [&](Expect& expect) {
          DIR* before = ::opendir((tree / "exec").c_str());
          expect.that(before != nullptr, "control: opendir");
          if (before != nullptr) ::closedir(before);
          expect.succeeds(open_close(tree / "outside/secret", O_RDONLY), "control: read outside");
          apply_landlock(fs_policy({{tree / "exec", PathAccess::Execute}}));
          errno = 0;
          DIR* after = ::opendir((tree / "exec").c_str());
          expect.that(after == nullptr && errno == EACCES, "opendir on execute tier fails EACCES");
          if (after != nullptr) ::closedir(after);
          expect.succeeds(open_close(tree / "exec/tool", O_RDONLY), "read a file in execute tier");
          expect.fails_with(open_close(tree / "exec/tool", O_WRONLY), EACCES, "write execute tier");
          expect.fails_with(open_close(tree / "outside/secret", O_RDONLY), EACCES,
                            "read outside every rule");
        })) == "");
  }
}

TEST_CASE("landlock reports missing paths and rejects relative ones", "[landlock]") {
  LandlockTree tree;
  CHECK(failures_of(run_in_child(RunAs::Root, [&](Expect& expect) {
          bool threw = false;
          try {
            apply_landlock(fs_policy({{"relative/path", PathAccess::Read}}));
          } catch (const std::exception&) {
            threw = true;
          }
          expect.that(threw, "relative path rejected");
          const auto result = apply_landlock(fs_policy(
              {{tree / "does-not-exist", PathAccess::Read}, {tree / "ro", PathAccess::Read}}));
          expect.that(result.abi >= 6, "abi reported");
          expect.that(result.skipped_paths == std::vector<std::string>{tree / "does-not-exist"},
                      "missing path reported as skipped");
        })) == "");
}

TEST_CASE("landlock write tier never follows a symlink", "[landlock]") {
  LandlockTree tree;
  REQUIRE(::symlink((tree / "outside").c_str(), (tree / "link").c_str()) == 0);
  CHECK(failures_of(run_in_child(RunAs::Root, [&](Expect& expect) {
          bool threw = false;
          try {
            apply_landlock(fs_policy({{tree / "link", PathAccess::Write}}));
          } catch (const std::exception&) {
            threw = true;
          }
          expect.that(threw, "symlink as write path rejected");
        })) == "");
}

TEST_CASE("landlock denies TCP bind/connect except listed ports", "[landlock]") {
  for (RunAs as : kBothUsers) {
    INFO(user_name(as));
    CHECK(failures_of(run_in_child(as, [&](Expect& expect) {
            sockaddr_in listening{}, free_port{};
            const int listener = loopback_socket(listening, true);
            ::close(loopback_socket(free_port, false));  // a port nobody holds
            expect.succeeds(connect_to(listening), "control: connect");
            expect.succeeds(bind_to(free_port), "control: bind");
            // Grandchild: restricted with no ports; the child: restricted with both ports listed.
            expect.that(in_grandchild([&] {
                          Expect inner;
                          apply_landlock(LandlockPolicy{});
                          inner.fails_with(connect_to(listening), EACCES, "connect");
                          inner.fails_with(bind_to(free_port), EACCES, "bind");
                          return inner.failures.empty() ? 0 : 1;
                        }) == 0,
                        "tcp denied without ports");
            LandlockPolicy policy;
            policy.connect_ports = {ntohs(listening.sin_port)};
            policy.bind_ports = {ntohs(free_port.sin_port)};
            apply_landlock(policy);
            expect.succeeds(connect_to(listening), "connect to a listed port");
            expect.succeeds(bind_to(free_port), "bind to a listed port");
            ::close(listener);
          })) == "");
  }
}

TEST_CASE("landlock scopes abstract unix sockets and signals", "[landlock]") {
  // The listener belongs to the test process: outside every Landlock domain.
  const int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string name = "fence-ll-test-" + std::to_string(::getpid());
  std::memcpy(addr.sun_path + 1, name.data(), name.size());
  const auto addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), addr_len) == 0);
  REQUIRE(::listen(listener, 16) == 0);
  const auto connect_abstract = [&] {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), addr_len);
    const int saved = errno;
    ::close(fd);
    errno = saved;
    return rc;
  };
  for (RunAs as : kBothUsers) {
    INFO(user_name(as));
    CHECK(failures_of(run_in_child(as, [&](Expect& expect) {
            // A same-uid process outside the domain to signal: it exits when its pipe closes.
            int gate[2];
            expect.succeeds(::pipe2(gate, O_CLOEXEC), "pipe");
            const pid_t peer = ::fork();
            if (peer == 0) {
              ::close(gate[1]);
              char c;
              (void)!::read(gate[0], &c, 1);
              ::_exit(0);
            }
            ::close(gate[0]);
            expect.succeeds(connect_abstract(), "control: abstract connect");
            expect.succeeds(::kill(peer, 0), "control: kill(peer, 0)");
            LandlockPolicy unscoped;
            unscoped.scope_abstract_unix = unscoped.scope_signal = false;
            apply_landlock(unscoped);
            expect.succeeds(connect_abstract(), "abstract connect without scope");
            expect.succeeds(::kill(peer, 0), "kill without scope");
            apply_landlock(LandlockPolicy{});
            expect.fails_with(connect_abstract(), EPERM, "abstract connect with scope");
            expect.fails_with(::kill(peer, 0), EPERM, "kill(peer, 0) with scope");
            expect.fails_with(::kill(::getppid(), SIGCONT), EPERM, "kill(parent) with scope");
            expect.succeeds(::kill(::getpid(), 0), "kill(self) still allowed");
            ::close(gate[1]);
            ::waitpid(peer, nullptr, 0);
          })) == "");
  }
  ::close(listener);
}

TEST_CASE("describe_landlock names tiers, ports and scopes", "[landlock]") {
  LandlockPolicy policy;
  policy.paths = {{"/usr", PathAccess::Read}, {"/tmp", PathAccess::Write}};
  policy.connect_ports = {3128};
  std::string all;
  for (const auto& line : fence::platform::describe_landlock(policy, 7)) all += line + "\n";
  CHECK(all.find("read /usr") != std::string::npos);
  CHECK(all.find("write /tmp") != std::string::npos);
  CHECK(all.find("connect allowed on ports: 3128") != std::string::npos);
  CHECK(all.find("signals scoped") != std::string::npos);
  std::string old_abi;
  for (const auto& line : fence::platform::describe_landlock(policy, 3)) old_abi += line + "\n";
  CHECK(old_abi.find("not restricted (needs ABI 4)") != std::string::npos);
  CHECK(fence::platform::describe_landlock(policy, 0).size() == 1);
}
