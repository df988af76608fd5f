#include "launcher/notify/path_resolver.hpp"

#include <fcntl.h>
#include <linux/limits.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <deque>
#include <map>
#include <vector>

#include "launcher/notify/process_memory.hpp"
#include "platform/kernel_abi.hpp"
#include "platform/process.hpp"

namespace fence::launcher {
namespace {

using platform::UniqueFd;

using platform::kMaxSymlinks;
constexpr std::size_t kMaxPath = PATH_MAX;

// Whether the filesystem of `fd` (device `dev`) is procfs. Cached by device: nothing inside the
// sandbox can mount or unmount, so a device number keeps its filesystem for init's lifetime.
bool on_procfs(int fd, dev_t dev) {
  static std::map<dev_t, bool> known;
  if (auto it = known.find(dev); dev != 0 && it != known.end()) return it->second;
  struct statfs st {};
  if (::fstatfs(fd, &st) != 0) return false;
  const bool procfs = st.f_type == PROC_SUPER_MAGIC;
  if (dev != 0 && known.size() < 256) known.emplace(dev, procfs);
  return procfs;
}

dev_t device_of(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? st.st_dev : 0;
}

bool is_number(const std::string& s) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// The N of a /proc/N/... directory path, -1 for anything else.
pid_t proc_owner(const std::string& dir) {
  if (dir.rfind("/proc/", 0) != 0) return -1;
  const std::string rest = dir.substr(6);
  const std::string first = rest.substr(0, rest.find('/'));
  return is_number(first) ? static_cast<pid_t>(std::stol(first)) : -1;
}

// SECURITY: true when `tid` is a thread of init itself (the caller of this code).
bool is_init_thread(pid_t tid) {
  return platform::is_own_thread(tid);
}

std::optional<Location> fail(int& error, int value) {
  error = value;
  return std::nullopt;
}

void push_front(std::deque<std::string>& parts, const std::string& path) {
  std::vector<std::string> split;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string comp = path.substr(start, end - start);
    if (!comp.empty() && comp != ".") split.push_back(std::move(comp));
    start = end + 1;
  }
  // A trailing slash keeps its meaning (the name must be a directory).
  if (!split.empty() && path.size() > 1 && path.back() == '/') split.back() += "/";
  parts.insert(parts.begin(), split.begin(), split.end());
}

const UniqueFd& root() {
  static UniqueFd fd(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  return fd;
}

}  // namespace

std::string fd_path(int fd) {
  char buf[kMaxPath + 1];
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(link.c_str(), buf, kMaxPath);
  if (n <= 0) return {};
  return std::string(buf, static_cast<std::size_t>(n));
}

std::string Location::full_path() const {
  if (object) return fd_path(object.get());
  const std::string dir = fd_path(parent.get());
  if (name == ".") return dir;
  return dir == "/" ? "/" + name : dir + "/" + name;
}

PathResolver::PathResolver(pid_t pid) : pid_(pid) {}

pid_t PathResolver::thread_group() const {
  if (thread_group_ == 0) thread_group_ = platform::thread_group_of(pid_);
  return thread_group_;
}

std::optional<UniqueFd> PathResolver::base(int dirfd, int& error) const {
  const std::string link = dirfd == AT_FDCWD
                               ? "/proc/" + std::to_string(pid_) + "/cwd"
                               : "/proc/" + std::to_string(pid_) + "/fd/" + std::to_string(dirfd);
  UniqueFd fd(::open(link.c_str(), O_PATH | O_CLOEXEC));
  if (!fd) {
    error = errno == ENOENT ? EBADF : errno;
    return std::nullopt;
  }
  return fd;
}

std::optional<Location> PathResolver::resolve(const UniqueFd& base_fd, const std::string& path,
                                              bool follow_last, int& error) const {
  if (path.empty()) return fail(error, ENOENT);
  std::deque<std::string> parts;
  push_front(parts, path);
  UniqueFd cur(::fcntl(path[0] == '/' ? root().get() : base_fd.get(), F_DUPFD_CLOEXEC, 0));
  if (!cur) return fail(error, errno);
  // The device of `cur`, kept up to date from the stat of each component descended into.
  dev_t cur_dev = device_of(cur.get());
  int links = 0;
  while (!parts.empty()) {
    std::string comp = parts.front();
    parts.pop_front();
    const bool last = parts.empty();
    if (comp == "..") {
      UniqueFd up(::openat(cur.get(), "..", O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!up) return fail(error, errno);
      cur = std::move(up);
      cur_dev = device_of(cur.get());
      if (last) return Location{std::move(cur), ".", {}};
      continue;
    }
    const bool procfs = on_procfs(cur.get(), cur_dev);
    const std::string dir = procfs ? fd_path(cur.get()) : std::string();
    const bool proc_root = procfs && dir == "/proc";
    if (proc_root) {
      // /proc/self would be init's own entry: the caller means itself.
      if (comp == "self" || comp == "thread-self") comp = std::to_string(pid_);
      if (is_number(comp) && is_init_thread(static_cast<pid_t>(std::stol(comp))))
        return fail(error, EACCES);
    }
    struct stat st {};
    if (::fstatat(cur.get(), comp.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT && last) return Location{std::move(cur), comp, {}};
      return fail(error, errno);
    }
    if (S_ISLNK(st.st_mode) && (!last || follow_last)) {
      if (++links > kMaxSymlinks) return fail(error, ELOOP);
      if (procfs && !proc_root) {
        // A magic link (fd/N, cwd, root, exe): let the kernel follow it for the object, but
        // only into the caller's own process.
        const pid_t owner = proc_owner(dir);
        if (owner < 0 || thread_group() < 0 || platform::thread_group_of(owner) != thread_group())
          return fail(error, EACCES);
        UniqueFd object(::openat(cur.get(), comp.c_str(), O_PATH | O_CLOEXEC));
        if (!object) return fail(error, errno);
        if (last) return Location{std::move(cur), comp, std::move(object)};
        struct stat ost {};
        if (::fstat(object.get(), &ost) != 0 || !S_ISDIR(ost.st_mode)) return fail(error, ENOTDIR);
        cur = std::move(object);
        cur_dev = ost.st_dev;
        continue;
      }
      char target[kMaxPath + 1];
      const ssize_t n = ::readlinkat(cur.get(), comp.c_str(), target, kMaxPath);
      if (n <= 0) return fail(error, n == 0 ? ENOENT : errno);
      const std::string text(target, static_cast<std::size_t>(n));
      if (text[0] == '/') {
        cur.reset(::fcntl(root().get(), F_DUPFD_CLOEXEC, 0));
        cur_dev = device_of(cur.get());
      }
      push_front(parts, text);
      if (parts.empty()) return Location{std::move(cur), ".", {}};
      continue;
    }
    if (last) return Location{std::move(cur), comp, {}};
    if (!S_ISDIR(st.st_mode)) return fail(error, ENOTDIR);
    UniqueFd next(::openat(cur.get(), comp.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next) return fail(error, errno);
    cur = std::move(next);
    cur_dev = st.st_dev;
  }
  // Only "/" or "." components: the base itself.
  return Location{std::move(cur), ".", {}};
}

}  // namespace fence::launcher
