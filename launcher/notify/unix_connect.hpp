// connect() answered by init when the policy lists host unix sockets (allowUnixSockets; seccomp
// UnixSockets::Listed). Listing a socket makes socket(AF_UNIX) available, and a socket of its
// own could otherwise connect to ANY socket file the command can see: a read-only mount does
// not stop connect(2), and Landlock ABI 7 has no right for it, so a gpg-agent or docker socket
// somewhere in the read-only view of the host would be one connect away.
//
// Trust: the socket fd number, the address and the path it holds are the sandboxed caller's
// (HOSTILE), handed over by the notifier; the listed paths come from the LaunchSpec.
//
// Every connect() of the command therefore reaches init (notifier.hpp), which:
//   1. takes the socket itself (pidfd_getfd) and copies the address out of the caller's memory
//      once (SECURITY: everything after works on these copies; nothing is ever let through with
//      SECCOMP_USER_NOTIF_FLAG_CONTINUE, which would let another thread swap the fd number or
//      the address after the check);
//   2. for a unix socket and a pathname address, resolves the path as the kernel would for the
//      caller (path_resolver.hpp) and holds the file it names (O_PATH). It allows the connect
//      when that file is one of the listed sockets (same device and inode) or is bound by a
//      socket of the sandbox's own network namespace (platform/unix_diag.hpp): a server that a
//      sandboxed process started, wherever its file lives. Any other socket file: EACCES,
//      reported. A file that is not a socket reaches nothing; the kernel refuses it in step 3.
//   3. PERFORMS the connect on a connect thread, from its copies: a checked path is replaced by
//      /proc/self/fd/N of the held file, so the socket reached is the one checked even if the
//      name changes meanwhile. The connect may block (a full backlog, a blocking TCP connect),
//      so it never runs on init's main thread.
//
// Connect threads have no capabilities (the socket file's permissions are checked with the
// user's rights) and the command's Landlock policy (the TCP connect rules keep applying), minus
// abstract-socket scoping: their Landlock domain is not the command's, so scoping would refuse
// the sandbox's own abstract sockets. The network namespace already confines abstract names to
// the sandbox.
//
// Datagram unix sockets do not exist in this mode (the seccomp profile refuses them): every send
// of one could name another socket file.
#pragma once

#include <linux/seccomp.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ipc/protocol.hpp"
#include "launcher/notify/process_memory.hpp"
#include "platform/landlock.hpp"
#include "platform/unique_fd.hpp"

namespace fence::launcher {

// One connect to perform: the caller's socket (our duplicate), its address as copied, and for a
// checked unix path the socket file held open (O_PATH), which is connected to instead.
struct ConnectJob {
  std::uint64_t notification = 0;
  platform::UniqueFd socket;
  sockaddr_storage address{};
  socklen_t length = 0;
  platform::UniqueFd checked_file;
};

struct ConnectDecision {
  std::optional<ConnectJob> job;            // set: perform it
  int error = 0;                            // else: answer this errno
  std::optional<ipc::Violation> violation;  // a refusal to report (only when reporting)
  std::optional<ipc::UnixConnect> reached;  // a listed host socket allowed (only when reporting)
};

class ConnectGuard {
 public:
  // `listed`: the allowUnixSockets paths as seen inside the finished sandbox; each is checked
  // now (a path that is not a socket, is a symlink, or names a socket with a second name any
  // more is simply not listed).
  ConnectGuard(const std::vector<std::string>& listed, bool report);

  // How many of the listed paths are reachable.
  std::size_t listed_count() const { return listed_.size(); }

  // Decides one connect notification. `mem`: the caller's memory. The caller checks
  // that the notification is still valid before acting on the decision.
  ConnectDecision decide(const seccomp_notif& req, const ProcessMemory& mem) const;

 private:
  ConnectDecision decide_unix_path(const seccomp_notif& req, ConnectJob job,
                                   const std::string& path) const;
  // A socket of the sandbox's own network namespace is bound to this file.
  static bool bound_here(dev_t dev, ino_t ino);

  std::map<std::pair<dev_t, ino_t>, std::string> listed_;  // socket file -> its listed path
  bool report_;
};

// Threads that perform connects and answer their notifications (SECCOMP_IOCTL_NOTIF_SEND is
// safe from any thread). Started on demand, at most kMaxConnectThreads; jobs beyond
// kMaxQueuedConnects are answered EAGAIN at once.
class ConnectPool {
 public:
  // `notify_fd`: the seccomp listener, owned by the notifier, which outlives the pool.
  ConnectPool(int notify_fd, platform::LandlockPolicy policy);
  ~ConnectPool();
  ConnectPool(const ConnectPool&) = delete;
  ConnectPool& operator=(const ConnectPool&) = delete;

  void submit(ConnectJob job);

 private:
  void loop();
  void follow_caller_cpu();
  void perform(ConnectJob& job) const;
  void answer(std::uint64_t notification, int error) const;

  int notify_fd_;
  platform::LandlockPolicy policy_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<ConnectJob> queue_;
  std::vector<std::thread> threads_;
  struct ConnectThread {
    pid_t tid = 0;
    int cpu = -1;  // the CPU it was last moved to
    bool idle = false;
  };
  std::vector<ConnectThread> running_;  // one per started thread, once it runs
  bool stop_ = false;
};

inline constexpr std::size_t kMaxConnectThreads = 8;
inline constexpr std::size_t kMaxQueuedConnects = 1024;

}  // namespace fence::launcher
