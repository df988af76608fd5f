#include "launcher/notify/unix_connect.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include "launcher/command_seccomp.hpp"
#include "launcher/notify/path_resolver.hpp"
#include "launcher/notify/process_memory.hpp"
#include "launcher/notify/restricted_thread.hpp"
#include "platform/process.hpp"
#include "platform/sys_error.hpp"
#include "platform/unix_diag.hpp"

namespace fence::launcher {

namespace {

constexpr std::size_t kPathOffset = offsetof(sockaddr_un, sun_path);

// The path of a pathname unix address, nullopt for any other form (abstract, unnamed, another
// family: the kernel judges those itself, none of them names a file).
std::optional<std::string> pathname_of(const sockaddr_storage& address, socklen_t length) {
  if (length <= kPathOffset || address.ss_family != AF_UNIX) return std::nullopt;
  const auto* un = reinterpret_cast<const sockaddr_un*>(&address);
  if (un->sun_path[0] == '\0') return std::nullopt;
  const std::size_t max = length - kPathOffset;
  return std::string(un->sun_path, ::strnlen(un->sun_path, max));
}

ipc::Violation connect_violation(const seccomp_notif& req, std::string path, int error) {
  ipc::Violation v;
  v.kind = ipc::ViolationKind::Filesystem;
  v.pid = req.pid;
  v.comm = read_comm(static_cast<pid_t>(req.pid));
  v.operation = "connect";
  v.detail = std::move(path);
  v.error = error;
  return v;
}

}  // namespace

ConnectGuard::ConnectGuard(const std::vector<std::string>& listed, bool report) : report_(report) {
  // SECURITY: the socket at the listed name itself, and only one with that single name: a
  // symlink or a second hard link swapped in since the supervisor checked the path (by another
  // sandbox sharing the tree) could name any host socket.
  for (const auto& path : listed) {
    platform::UniqueFd file(::open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    struct stat st {};
    if (file && ::fstat(file.get(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_nlink == 1)
      listed_.emplace(std::make_pair(st.st_dev, st.st_ino), path);
  }
}

ConnectDecision ConnectGuard::decide(const seccomp_notif& req, const ProcessMemory& mem) const {
  ConnectDecision out;
  ConnectJob job;
  job.notification = req.id;
  const pid_t pid = static_cast<pid_t>(req.pid);
  // The kernel reads the fd and the length as ints.
  const int fd = static_cast<int>(req.data.args[0]);
  const int length = static_cast<int>(req.data.args[2]);
  int error = 0;
  job.socket = platform::duplicate_fd_of(pid, fd, error);
  if (!job.socket) {
    out.error = error == ESRCH ? EBADF : error;
    return out;
  }
  int domain = 0;
  socklen_t size = sizeof domain;
  if (::getsockopt(job.socket.get(), SOL_SOCKET, SO_DOMAIN, &domain, &size) != 0) {
    out.error = errno;  // ENOTSOCK, as connect() on a non-socket
    return out;
  }
  if (length < 0 || static_cast<std::size_t>(length) > sizeof job.address) {
    out.error = EINVAL;
    return out;
  }
  job.length = static_cast<socklen_t>(length);
  if (length > 0 &&
      mem.read(&job.address, static_cast<std::size_t>(length), req.data.args[1]) != length) {
    out.error = EFAULT;
    return out;
  }
  const std::optional<std::string> path =
      domain == AF_UNIX ? pathname_of(job.address, job.length) : std::nullopt;
  if (!path) {
    out.job = std::move(job);
    return out;
  }
  return decide_unix_path(req, std::move(job), *path);
}

ConnectDecision ConnectGuard::decide_unix_path(const seccomp_notif& req, ConnectJob job,
                                               const std::string& path) const {
  ConnectDecision out;
  int error = 0;
  PathResolver resolver(static_cast<pid_t>(req.pid));
  std::optional<platform::UniqueFd> base = resolver.base(AT_FDCWD, error);
  std::optional<Location> where;
  if (base) where = resolver.resolve(*base, path, /*follow_last=*/true, error);
  if (!where) {
    out.error = error ? error : ENOENT;
    return out;
  }
  platform::UniqueFd file = std::move(where->object);
  if (!file) {
    file.reset(::openat(where->parent.get(), where->name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!file) {
      out.error = errno;
      return out;
    }
  }
  struct stat st {};
  if (::fstat(file.get(), &st) != 0) {
    out.error = errno;
    return out;
  }
  // A file that is not a socket reaches nothing: the connect thread lets the kernel answer
  // (EACCES without write permission on it, else ECONNREFUSED), as it would the caller.
  // SECURITY: the decision is about the file held open, which is what gets connected to.
  if (S_ISSOCK(st.st_mode)) {
    const auto listed = listed_.find({st.st_dev, st.st_ino});
    if (listed != listed_.end()) {
      if (report_)
        out.reached =
            ipc::UnixConnect{req.pid, read_comm(static_cast<pid_t>(req.pid)), listed->second};
    } else if (!bound_here(st.st_dev, st.st_ino)) {
      out.error = EACCES;
      if (report_) out.violation = connect_violation(req, where->full_path(), EACCES);
      return out;
    }
  }
  job.checked_file = std::move(file);
  out.job = std::move(job);
  return out;
}

bool ConnectGuard::bound_here(dev_t dev, ino_t ino) {
  try {
    return platform::unix_socket_bound_here(dev, ino);
  } catch (const platform::SysError&) {
    return false;  // SECURITY: cannot tell, so no
  }
}

ConnectPool::ConnectPool(int notify_fd, platform::LandlockPolicy policy)
    : notify_fd_(notify_fd), policy_(std::move(policy)) {
  // See the header: the threads' Landlock domain is not the command's.
  policy_.scope_abstract_unix = false;
}

ConnectPool::~ConnectPool() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void ConnectPool::submit(ConnectJob job) {
  std::unique_lock lock(mutex_);
  if (queue_.size() >= kMaxQueuedConnects) {
    lock.unlock();
    return answer(job.notification, EAGAIN);
  }
  queue_.push_back(std::move(job));
  follow_caller_cpu();
  const bool any_idle =
      std::any_of(running_.begin(), running_.end(), [](const ConnectThread& t) { return t.idle; });
  if (!any_idle && threads_.size() < kMaxConnectThreads) {
    try {
      threads_.emplace_back([this] { loop(); });
    } catch (const std::system_error&) {
      // The jobs wait for a thread that is running.
      if (threads_.empty()) {
        ConnectJob lost = std::move(queue_.back());
        queue_.pop_back();
        lock.unlock();
        return answer(lost.notification, EAGAIN);
      }
    }
  }
  lock.unlock();
  cv_.notify_one();
}

void ConnectPool::loop() {
  bool restricted = true;
  try {
    restrict_this_thread(policy_);
  } catch (const std::exception&) {
    restricted = false;  // SECURITY: this thread then refuses whatever it takes
  }
  std::unique_lock lock(mutex_);
  const std::size_t self = running_.size();
  running_.push_back({::gettid(), -1, false});
  for (;;) {
    running_[self].idle = true;
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    running_[self].idle = false;
    if (stop_) return;
    ConnectJob job = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    if (restricted)
      perform(job);
    else
      answer(job.notification, EPERM);
    lock.lock();
  }
}

// Waiting threads follow init's CPU: the caller of connect() slept on it (restricted_thread.hpp).
void ConnectPool::follow_caller_cpu() {
  for (ConnectThread& t : running_)
    if (t.idle) follow_current_cpu(t.tid, t.cpu);
}

void ConnectPool::perform(ConnectJob& job) const {
  sockaddr_storage address = job.address;
  socklen_t length = job.length;
  if (job.checked_file) {
    // The file checked, through its magic link: whatever the caller's path names by now.
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    const std::string link = "/proc/self/fd/" + std::to_string(job.checked_file.get());
    std::memcpy(un.sun_path, link.c_str(), link.size() + 1);
    std::memcpy(&address, &un, sizeof un);
    length = static_cast<socklen_t>(kPathOffset + link.size() + 1);
  }
  const int rc = ::connect(job.socket.get(), reinterpret_cast<const sockaddr*>(&address), length);
  answer(job.notification, rc == 0 ? 0 : errno);
}

void ConnectPool::answer(std::uint64_t notification, int error) const {
  platform::answer_notification(notify_fd_, notification, 0, error, 0);
}

}  // namespace fence::launcher
