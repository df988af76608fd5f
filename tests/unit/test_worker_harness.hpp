// Plays the supervisor for the real fence-proxy-worker binary (from the test binary's own
// directory): a channel socketpair at the worker's fd 3 (ipc::kChannelFd), an empty environment,
// Hello, then ProxyStart with two listening sockets on 127.0.0.1 ephemeral ports. The tests then
// act as clients of those ports and answer the worker's ConnectRequests themselves.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "ipc/channel.hpp"
#include "platform/unique_fd.hpp"

namespace fence::testing::worker {

using platform::UniqueFd;
using Clock = std::chrono::steady_clock;

inline constexpr int kTimeoutMs = 5000;

inline std::string worker_path() {
  char self[PATH_MAX] = {};
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  REQUIRE(n > 0);
  std::string dir(self, static_cast<std::size_t>(n));
  dir.erase(dir.rfind('/'));
  return dir + "/fence-proxy-worker";
}

inline UniqueFd listen_loopback(std::uint16_t& port) {
  UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(s);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  REQUIRE(::listen(s.get(), 128) == 0);
  socklen_t len = sizeof(addr);
  REQUIRE(::getsockname(s.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  port = ntohs(addr.sin_port);
  return s;
}

inline UniqueFd connect_loopback(std::uint16_t port) {
  UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(s);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  REQUIRE(::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  return s;
}

inline void write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    REQUIRE(n > 0);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

inline bool wait_readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) == 1;
}

// Reads until `done(buffer)` holds, EOF, or the timeout; returns what was read.
template <typename Done>
std::string read_until(int fd, Done done, int timeout_ms = kTimeoutMs, bool* eof = nullptr) {
  std::string out;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  if (eof) *eof = false;
  while (!done(out)) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0 || !wait_readable(fd, static_cast<int>(left))) break;
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      if (eof) *eof = true;
      break;
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

inline std::string read_exact(int fd, std::size_t size, int timeout_ms = kTimeoutMs) {
  return read_until(
      fd, [size](const std::string& s) { return s.size() >= size; }, timeout_ms);
}

inline std::string read_to_eof(int fd, int timeout_ms = kTimeoutMs, bool* eof = nullptr) {
  return read_until(
      fd, [](const std::string&) { return false; }, timeout_ms, eof);
}

inline std::string read_head(int fd) {
  return read_until(fd,
                    [](const std::string& s) { return s.find("\r\n\r\n") != std::string::npos; });
}

inline std::string proc_file(pid_t pid, const char* name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The value of "Key:" in /proc/<pid>/status, whitespace-trimmed.
inline std::string status_field(pid_t pid, const std::string& key) {
  std::istringstream in(proc_file(pid, "status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) {
      std::string v = line.substr(key.size() + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  }
  return "";
}

inline std::string ns_of(const std::string& pid, const char* ns) {
  char buf[128] = {};
  const ssize_t n = ::readlink(("/proc/" + pid + "/ns/" + ns).c_str(), buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

class WorkerHarness {
 public:
  // as_uid: when set (and we are root), the worker runs as this uid/gid instead of ours.
  explicit WorkerHarness(ipc::ProxyStart limits = {}, std::optional<uid_t> as_uid = {})
      : limits_(limits) {
    auto [ours, theirs] = ipc::make_channel_pair();
    UniqueFd http = listen_loopback(http_port_);
    UniqueFd socks = listen_loopback(socks_port_);
    const std::string path = worker_path();
    REQUIRE(::access(path.c_str(), X_OK) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      if (as_uid) {
        if (::setgroups(0, nullptr) != 0 || ::setresgid(*as_uid, *as_uid, *as_uid) != 0 ||
            ::setresuid(*as_uid, *as_uid, *as_uid) != 0) {
          ::_exit(120);
        }
      }
      // dup2 clears CLOEXEC on the channel fd; everything else of ours is CLOEXEC or closed by
      // the worker.
      if (theirs.get() == ipc::kChannelFd) {
        ::fcntl(ipc::kChannelFd, F_SETFD, 0);
      } else if (::dup2(theirs.get(), ipc::kChannelFd) != ipc::kChannelFd) {
        ::_exit(121);
      }
      char* const argv[] = {const_cast<char*>(path.c_str()), nullptr};
      char* const envp[] = {nullptr};
      ::execve(path.c_str(), argv, envp);
      ::_exit(122);
    }
    theirs.reset();
    channel_.emplace(std::move(ours), ipc::Role::Supervisor, ipc::Role::ProxyWorker);
    channel_->send_hello();
    auto hello = receive();
    REQUIRE(hello);
    REQUIRE(hello->type == ipc::MessageType::Hello);
    const int fds[] = {http.get(), socks.get()};
    channel_->send(limits_, fds);
  }

  ~WorkerHarness() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  pid_t pid() const { return pid_; }
  std::uint16_t http_port() const { return http_port_; }
  std::uint16_t socks_port() const { return socks_port_; }
  ipc::Channel& channel() { return *channel_; }

  // Next message from the worker, or nullopt on EOF / timeout.
  std::optional<ipc::Incoming> receive(int timeout_ms = kTimeoutMs) {
    if (!wait_readable(channel_->fd(), timeout_ms)) return std::nullopt;
    return channel_->receive();
  }

  ipc::ConnectRequest expect_request() {
    auto msg = receive();
    REQUIRE(msg);
    REQUIRE(msg->type == ipc::MessageType::ConnectRequest);
    return msg->decode<ipc::ConnectRequest>();
  }

  ipc::TunnelClosed expect_closed(int timeout_ms = kTimeoutMs) {
    auto msg = receive(timeout_ms);
    REQUIRE(msg);
    REQUIRE(msg->type == ipc::MessageType::TunnelClosed);
    return msg->decode<ipc::TunnelClosed>();
  }

  // Answers `id` with one end of a fresh stream socketpair; returns the other end (upstream).
  UniqueFd allow(std::uint64_t id) {
    int pair[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
    UniqueFd mine(pair[0]), theirs(pair[1]);
    const int fds[] = {theirs.get()};
    channel_->send(ipc::ConnectAllowed{id}, fds);
    return mine;
  }

  void deny(std::uint64_t id, ipc::DenyReason reason, std::string text) {
    channel_->send(ipc::ConnectDenied{id, reason, std::move(text)});
  }

  // Waits until the worker has installed its seccomp filter (it is then fully restricted).
  bool wait_restricted() {
    const auto deadline = Clock::now() + std::chrono::milliseconds(kTimeoutMs);
    while (Clock::now() < deadline) {
      if (status_field(pid_, "Seccomp") == "2") return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

  // Exit status of the worker within the timeout (-1 if still running).
  int wait_exit(int timeout_ms = kTimeoutMs) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Clock::now() < deadline) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return status;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return -1;
  }

  void close_channel() { channel_.reset(); }

 private:
  ipc::ProxyStart limits_;
  std::uint16_t http_port_ = 0;
  std::uint16_t socks_port_ = 0;
  pid_t pid_ = -1;
  std::optional<ipc::Channel> channel_;
};

}  // namespace fence::testing::worker
