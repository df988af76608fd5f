// The kernel facts the connect mediation (launcher/notify/unix_connect.hpp) stands on: unix_diag
// tells which socket files are bound in this network namespace, and pidfd_getfd hands over another
// process's socket. The mediation itself is tested end to end in
// tests/integration/test_localhost.py.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>

#include <thread>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>

#include "launcher/notify/unix_connect.hpp"
#include "platform/process.hpp"
#include "platform/unique_fd.hpp"
#include "platform/unix_diag.hpp"
#include "temp_tree.hpp"

namespace {

using fence::platform::UniqueFd;
using fence::platform::unix_socket_bound_here;

UniqueFd bound_socket(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(fd);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  REQUIRE(path.size() < sizeof address.sun_path);
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(::listen(fd.get(), 1) == 0);
  return fd;
}

struct stat stat_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st;
}

}  // namespace

TEST_CASE("unix_diag knows the socket files bound in this network namespace", "[unix_connect]") {
  fence::testing::TempTree tree("unixdiag");
  const std::string path = tree / "server.sock";
  UniqueFd server = bound_socket(path);
  const struct stat st = stat_of(path);
  CHECK(unix_socket_bound_here(st.st_dev, st.st_ino));
  // Another inode on the same device, and the same inode number on another device: no.
  const struct stat file = stat_of(tree.write("plain", "x"));
  CHECK_FALSE(unix_socket_bound_here(file.st_dev, file.st_ino));
  CHECK_FALSE(unix_socket_bound_here(st.st_dev + 1, st.st_ino));
  // The file outlives the socket, and no socket can ever be bound to it again.
  server.reset();
  CHECK_FALSE(unix_socket_bound_here(st.st_dev, st.st_ino));
}

TEST_CASE("ConnectGuard lists a socket only under its one real name", "[unix_connect]") {
  fence::testing::TempTree tree("connect-guard");
  const std::string one = tree / "one.sock", two = tree / "two.sock", link = tree / "link.sock";
  std::vector<UniqueFd> servers;
  for (const std::string& path : {one, two}) {
    UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    REQUIRE(::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    servers.push_back(std::move(s));
  }
  REQUIRE(::symlink(one.c_str(), link.c_str()) == 0);
  CHECK(fence::launcher::ConnectGuard({one}, false).listed_count() == 1);
  CHECK(fence::launcher::ConnectGuard({link}, false).listed_count() == 0);
  REQUIRE(::link(two.c_str(), (tree / "second-name.sock").c_str()) == 0);
  CHECK(fence::launcher::ConnectGuard({two}, false).listed_count() == 0);
}

TEST_CASE("duplicate_fd_of takes a descriptor of a thread that is not the leader",
          "[unix_connect]") {
  // A connect() from a program's second thread is notified with that thread's id.
  int pipe_fds[2];
  REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  std::atomic<pid_t> tid{0};
  std::atomic<bool> done{false};
  std::thread thread([&] {
    tid = static_cast<pid_t>(::gettid());
    while (!done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  while (tid == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  int error = 0;
  UniqueFd taken = fence::platform::duplicate_fd_of(tid, write_end.get(), error);
  done = true;
  thread.join();
  CHECK(error == 0);
  REQUIRE(taken);
  CHECK(::write(taken.get(), "t", 1) == 1);
  char c = 0;
  CHECK(::read(read_end.get(), &c, 1) == 1);
  CHECK(c == 't');
}

TEST_CASE("duplicate_fd_of takes another process's socket", "[unix_connect]") {
  int pair[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(pair[1]);
    ::pause();
    ::_exit(0);
  }
  const int number = pair[0];
  ::close(pair[0]);  // only the child holds this end now
  UniqueFd other(pair[1]);
  int error = 0;
  UniqueFd taken = fence::platform::duplicate_fd_of(child, number, error);
  CHECK(error == 0);
  REQUIRE(taken);
  CHECK(::write(taken.get(), "x", 1) == 1);
  char c = 0;
  CHECK(::read(other.get(), &c, 1) == 1);
  CHECK(c == 'x');
  CHECK((::fcntl(taken.get(), F_GETFD) & FD_CLOEXEC) != 0);
  error = 0;
  CHECK_FALSE(fence::platform::duplicate_fd_of(child, 999, error));
  CHECK(error == EBADF);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  error = 0;
  CHECK_FALSE(fence::platform::duplicate_fd_of(child, number, error));
  CHECK(error == ESRCH);
}
