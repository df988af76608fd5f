#include "launcher/creation_guard.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <optional>

#include "launcher/root_filesystem.hpp"
#include "platform/capabilities.hpp"
#include "platform/sys_error.hpp"

namespace fence::launcher {
namespace {

using platform::UniqueFd;

constexpr int kMaxSymlinks = 40;  // the kernel's own limit (MAXSYMLINKS)
constexpr std::size_t kMaxPath = 4096;

// ---------------------------------------------------------------------------------------------
// Reading the command's memory.

// Reads a NUL-terminated string at `addr` of process `pid`, page by page so that a string
// ending just before an unmapped page still reads. Fails with ENAMETOOLONG past kMaxPath.
std::optional<std::string> read_string(int mem_fd, std::uint64_t addr, int& error) {
  std::string out;
  char buf[4096];
  while (out.size() < kMaxPath) {
    const std::size_t page_left = 4096 - (addr % 4096);
    const std::size_t want = std::min(page_left, kMaxPath - out.size());
    const ssize_t n = ::pread(mem_fd, buf, want, static_cast<off_t>(addr));
    if (n <= 0) {
      error = EFAULT;
      return std::nullopt;
    }
    const void* nul = std::memchr(buf, '\0', static_cast<std::size_t>(n));
    if (nul) {
      out.append(buf, static_cast<const char*>(nul) - buf);
      return out;
    }
    out.append(buf, static_cast<std::size_t>(n));
    addr += static_cast<std::uint64_t>(n);
  }
  error = ENAMETOOLONG;
  return std::nullopt;
}

mode_t read_umask(pid_t pid) {
  UniqueFd fd(::open(("/proc/" + std::to_string(pid) + "/status").c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return 022;
  char buf[4096];
  const ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
  if (n <= 0) return 022;
  buf[n] = '\0';
  const char* line = std::strstr(buf, "\nUmask:");
  if (!line) return 022;
  return static_cast<mode_t>(std::strtoul(line + 7, nullptr, 8) & 0777);
}

std::string fd_path(int fd) {
  char buf[kMaxPath + 1];
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(link.c_str(), buf, kMaxPath);
  if (n <= 0) return {};
  return std::string(buf, static_cast<std::size_t>(n));
}

bool on_procfs(int fd) {
  struct statfs st {};
  return ::fstatfs(fd, &st) == 0 && st.f_type == PROC_SUPER_MAGIC;
}

// ---------------------------------------------------------------------------------------------
// Resolving a path the way the kernel would for the command.

// Where a name would be created or found: the directory (held open, so later renames of the
// path's components do not matter) and the last component. `object` is set instead when the
// path ends in a /proc magic link (e.g. /dev/stdout): the object it points at, opened O_PATH.
struct Location {
  UniqueFd parent;
  std::string name;
  UniqueFd object;
  std::string full_path() const {
    std::string dir = fd_path(parent.get());
    return dir == "/" ? "/" + name : dir + "/" + name;
  }
};

class Resolver {
 public:
  explicit Resolver(pid_t pid) : pid_(pid) {}

  // Opens the base directory of a *at() call: the command's cwd for AT_FDCWD, else its dirfd.
  std::optional<UniqueFd> base(int dirfd, int& error) const {
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

  // `follow_last`: whether a symlink in the last component is followed (open without O_EXCL
  // or O_NOFOLLOW, link with AT_SYMLINK_FOLLOW).
  std::optional<Location> resolve(const UniqueFd& base_fd, const std::string& path,
                                  bool follow_last, int& error) const {
    if (path.empty()) {
      error = ENOENT;
      return std::nullopt;
    }
    std::deque<std::string> parts;
    push_front(parts, path);
    UniqueFd cur(::fcntl(path[0] == '/' ? root().get() : base_fd.get(), F_DUPFD_CLOEXEC, 0));
    int links = 0;
    while (!parts.empty()) {
      std::string comp = parts.front();
      parts.pop_front();
      const bool last = parts.empty();
      if (comp == "..") {
        UniqueFd up(::openat(cur.get(), "..", O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!up) return fail(error, errno);
        cur = std::move(up);
        if (last) return Location{std::move(cur), ".", {}};
        continue;
      }
      const bool procfs = on_procfs(cur.get());
      // /proc/self would be init's own entry: the command means itself.
      if (procfs && (comp == "self" || comp == "thread-self") && fd_path(cur.get()) == "/proc")
        comp = std::to_string(pid_);
      struct stat st {};
      if (::fstatat(cur.get(), comp.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT && last) return Location{std::move(cur), comp, {}};
        return fail(error, errno);
      }
      if (S_ISLNK(st.st_mode) && (!last || follow_last)) {
        if (++links > kMaxSymlinks) return fail(error, ELOOP);
        if (procfs) {
          // A magic link (fd/N, cwd, root, exe): let the kernel follow it for the object.
          UniqueFd object(::openat(cur.get(), comp.c_str(), O_PATH | O_CLOEXEC));
          if (!object) return fail(error, errno);
          if (last) return Location{std::move(cur), comp, std::move(object)};
          struct stat ost {};
          if (::fstat(object.get(), &ost) != 0 || !S_ISDIR(ost.st_mode)) return fail(error, ENOTDIR);
          cur = std::move(object);
          continue;
        }
        char target[kMaxPath + 1];
        const ssize_t n = ::readlinkat(cur.get(), comp.c_str(), target, kMaxPath);
        if (n <= 0) return fail(error, n == 0 ? ENOENT : errno);
        const std::string text(target, static_cast<std::size_t>(n));
        if (text[0] == '/') cur.reset(::fcntl(root().get(), F_DUPFD_CLOEXEC, 0));
        push_front(parts, text);
        if (parts.empty()) return Location{std::move(cur), ".", {}};
        continue;
      }
      if (last) return Location{std::move(cur), comp, {}};
      if (!S_ISDIR(st.st_mode)) return fail(error, ENOTDIR);
      UniqueFd next(::openat(cur.get(), comp.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!next) return fail(error, errno);
      cur = std::move(next);
    }
    // Only "/" or "." components: the base itself.
    return Location{std::move(cur), ".", {}};
  }

 private:
  static std::optional<Location> fail(int& error, int value) {
    error = value;
    return std::nullopt;
  }

  static void push_front(std::deque<std::string>& parts, const std::string& path) {
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

  static const UniqueFd& root() {
    static UniqueFd fd(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    return fd;
  }

  pid_t pid_;
};

// ---------------------------------------------------------------------------------------------
// Answers.

struct Answer {
  std::int64_t value = 0;
  int error = 0;          // errno, 0 on success
  UniqueFd fd;            // set: inject it and return its number
  bool cloexec = false;
};

Answer error_answer(int error) {
  Answer a;
  a.error = error;
  return a;
}

// Strips a trailing "/" kept by the resolver from a name, for guard comparisons.
std::string bare(const std::string& name) {
  return !name.empty() && name.back() == '/' ? name.substr(0, name.size() - 1) : name;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

GuardedNames find_guarded_names(const ipc::LaunchSpec& spec) {
  std::vector<std::string> roots = spec.writable;
  if (spec.host_tmp) roots.push_back("/tmp");
  GuardedNames guarded;
  for (const auto& path : spec.read_only) {
    const bool in_writable = std::any_of(roots.begin(), roots.end(), [&](const std::string& r) {
      return path != r && path_within(path, r);
    });
    struct stat st {};
    if (!in_writable || ::lstat(path.c_str(), &st) == 0) continue;
    guarded.names.insert(path);
    for (std::string dir = path.substr(0, path.rfind('/')); !dir.empty();
         dir = dir.substr(0, dir.rfind('/'))) {
      if (::lstat(dir.c_str(), &st) == 0) break;
      guarded.ancestors.insert(dir);
    }
  }
  return guarded;
}

RestrictedWorker::RestrictedWorker(const platform::LandlockPolicy& policy) {
  thread_ = std::thread([this, policy] { loop(policy); });
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return ready_; });
  if (setup_error_ != 0) {
    lock.unlock();
    thread_.join();
    throw platform::SysError("creation guard: restrict worker thread", setup_error_);
  }
}

RestrictedWorker::~RestrictedWorker() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RestrictedWorker::loop(const platform::LandlockPolicy& policy) {
  int error = 0;
  try {
    // Own cwd/umask (CLONE_FS), then the command's restrictions. Credentials, no_new_privs and
    // Landlock domains are per thread: init's other threads keep theirs.
    if (::unshare(CLONE_FS) != 0) throw platform::SysError("unshare(CLONE_FS)");
    platform::drop_all_capabilities();
    platform::apply_landlock(policy);
  } catch (const platform::SysError& e) {
    error = e.error_code() ? e.error_code() : EPERM;
  } catch (const std::exception&) {
    error = EPERM;
  }
  std::unique_lock lock(mutex_);
  setup_error_ = error;
  ready_ = true;
  cv_.notify_all();
  if (error) return;
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || job_ != nullptr; });
    if (stop_) return;
    (*job_)();
    job_ = nullptr;
    done_ = true;
    cv_.notify_all();
  }
}

void RestrictedWorker::run(const std::function<void()>& work) {
  std::unique_lock lock(mutex_);
  done_ = false;
  job_ = &work;
  cv_.notify_all();
  cv_.wait(lock, [&] { return done_; });
}

CreationGuard::CreationGuard(GuardedNames names, RestrictedWorker& worker)
    : names_(std::move(names)), worker_(worker) {}

bool CreationGuard::handle_one() {
  struct seccomp_notif* req = nullptr;
  struct seccomp_notif_resp* resp = nullptr;
  if (seccomp_notify_alloc(&req, &resp) != 0) return false;
  struct Free {
    seccomp_notif* q;
    seccomp_notif_resp* r;
    ~Free() { seccomp_notify_free(q, r); }
  } release{req, resp};

  if (seccomp_notify_receive(listener_.get(), req) != 0) {
    // ENOENT: the command died while we were waiting; anything else: listener gone.
    return errno == ENOENT || errno == EINTR;
  }
  const pid_t pid = static_cast<pid_t>(req->pid);
  const auto& args = req->data.args;
  const int nr = req->data.nr;
  Resolver resolver(pid);

  UniqueFd mem(::open(("/proc/" + std::to_string(pid) + "/mem").c_str(), O_RDONLY | O_CLOEXEC));
  Answer answer;
  auto string_arg = [&](std::uint64_t addr) -> std::optional<std::string> {
    int error = 0;
    auto s = mem ? read_string(mem.get(), addr, error) : (error = EPERM, std::nullopt);
    if (!s) answer = error_answer(error);
    return s;
  };
  auto dir_arg = [&](std::uint64_t value) -> std::optional<UniqueFd> {
    int error = 0;
    auto fd = resolver.base(static_cast<int>(value), error);
    if (!fd) answer = error_answer(error);
    return fd;
  };
  auto locate = [&](const UniqueFd& base, const std::string& path, bool follow) {
    int error = 0;
    auto loc = resolver.resolve(base, path, follow, error);
    if (!loc) answer = error_answer(error);
    return loc;
  };
  auto guarded = [&](const Location& loc, bool ancestors_too) {
    if (loc.object) return false;
    const std::string full = loc.parent ? (fd_path(loc.parent.get()) == "/"
                                               ? "/" + bare(loc.name)
                                               : fd_path(loc.parent.get()) + "/" + bare(loc.name))
                                        : std::string();
    return names_.names.count(full) > 0 || (ancestors_too && names_.ancestors.count(full) > 0);
  };
  const mode_t umask_value = read_umask(pid);
  auto perform = [&](const std::function<std::int64_t()>& op) {
    std::int64_t result = -1;
    int error = 0;
    worker_.run([&] {
      ::umask(umask_value);
      result = op();
      error = result < 0 ? errno : 0;
    });
    if (result < 0) answer = error_answer(error);
    else answer.value = result;
    return result;
  };

  const int sys_open = SCMP_SYS(open), sys_openat = SCMP_SYS(openat), sys_creat = SCMP_SYS(creat);
  if (nr == sys_open || nr == sys_openat || nr == sys_creat) {
    const bool at = nr == sys_openat;
    const std::uint64_t dirfd = at ? args[0] : static_cast<std::uint64_t>(AT_FDCWD);
    const std::uint64_t path_addr = at ? args[1] : args[0];
    const int flags = nr == sys_creat ? (O_CREAT | O_WRONLY | O_TRUNC)
                                      : static_cast<int>(at ? args[2] : args[1]);
    const mode_t mode = static_cast<mode_t>(nr == sys_creat ? args[1] : (at ? args[3] : args[2]));
    auto path = string_arg(path_addr);
    auto base = path ? dir_arg(dirfd) : std::nullopt;
    const bool follow = !(flags & O_EXCL) && !(flags & O_NOFOLLOW);
    auto loc = base ? locate(*base, *path, follow) : std::nullopt;
    if (loc && guarded(*loc, false)) {
      answer = error_answer(EACCES);
    } else if (loc) {
      std::int64_t fd = -1;
      if (loc->object) {
        const std::string reopen = "/proc/self/fd/" + std::to_string(loc->object.get());
        fd = perform([&] { return ::open(reopen.c_str(), flags | O_CLOEXEC, mode); });
      } else {
        fd = perform([&] {
          return ::openat(loc->parent.get(), loc->name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode);
        });
      }
      if (fd >= 0) {
        answer.fd.reset(static_cast<int>(fd));
        answer.cloexec = (flags & O_CLOEXEC) != 0;
      }
    }
  } else if (nr == SCMP_SYS(mkdir) || nr == SCMP_SYS(mkdirat) || nr == SCMP_SYS(mknod) ||
             nr == SCMP_SYS(mknodat)) {
    const bool at = nr == SCMP_SYS(mkdirat) || nr == SCMP_SYS(mknodat);
    const bool dir = nr == SCMP_SYS(mkdir) || nr == SCMP_SYS(mkdirat);
    auto path = string_arg(at ? args[1] : args[0]);
    auto base = path ? dir_arg(at ? args[0] : static_cast<std::uint64_t>(AT_FDCWD)) : std::nullopt;
    auto loc = base ? locate(*base, *path, false) : std::nullopt;
    const mode_t mode = static_cast<mode_t>(at ? args[2] : args[1]);
    const dev_t dev = static_cast<dev_t>(at ? args[3] : args[2]);
    // mkdir of a missing parent of a guarded name is fine (an empty directory); nothing else.
    if (loc && guarded(*loc, !dir)) {
      answer = error_answer(EACCES);
    } else if (loc) {
      perform([&]() -> std::int64_t {
        return dir ? ::mkdirat(loc->parent.get(), loc->name.c_str(), mode)
                   : ::mknodat(loc->parent.get(), loc->name.c_str(), mode, dev);
      });
    }
  } else if (nr == SCMP_SYS(symlink) || nr == SCMP_SYS(symlinkat)) {
    const bool at = nr == SCMP_SYS(symlinkat);
    auto target = string_arg(args[0]);
    auto path = target ? string_arg(at ? args[2] : args[1]) : std::nullopt;
    auto base = path ? dir_arg(at ? args[1] : static_cast<std::uint64_t>(AT_FDCWD)) : std::nullopt;
    auto loc = base ? locate(*base, *path, false) : std::nullopt;
    if (loc && guarded(*loc, true)) {
      answer = error_answer(EACCES);
    } else if (loc) {
      perform([&]() -> std::int64_t {
        return ::symlinkat(target->c_str(), loc->parent.get(), loc->name.c_str());
      });
    }
  } else if (nr == SCMP_SYS(link) || nr == SCMP_SYS(linkat)) {
    const bool at = nr == SCMP_SYS(linkat);
    const int flags = at ? static_cast<int>(args[4]) : 0;
    auto old_path = string_arg(at ? args[1] : args[0]);
    auto new_path = old_path ? string_arg(at ? args[3] : args[1]) : std::nullopt;
    auto old_base = new_path ? dir_arg(at ? args[0] : static_cast<std::uint64_t>(AT_FDCWD))
                             : std::nullopt;
    auto new_base = old_base ? dir_arg(at ? args[2] : static_cast<std::uint64_t>(AT_FDCWD))
                             : std::nullopt;
    std::optional<Location> old_loc;
    if (new_base && old_path->empty() && (flags & AT_EMPTY_PATH)) {
      old_loc = Location{{}, {}, std::move(*old_base)};  // the dirfd itself (e.g. O_TMPFILE)
    } else if (new_base) {
      old_loc = locate(*old_base, *old_path, (flags & AT_SYMLINK_FOLLOW) != 0);
    }
    auto new_loc = old_loc ? locate(*new_base, *new_path, false) : std::nullopt;
    if (new_loc && guarded(*new_loc, true)) {
      answer = error_answer(EACCES);
    } else if (new_loc) {
      perform([&]() -> std::int64_t {
        if (old_loc->object) {
          const std::string src = "/proc/self/fd/" + std::to_string(old_loc->object.get());
          return ::linkat(AT_FDCWD, src.c_str(), new_loc->parent.get(), new_loc->name.c_str(),
                          AT_SYMLINK_FOLLOW);
        }
        return ::linkat(old_loc->parent.get(), old_loc->name.c_str(), new_loc->parent.get(),
                        new_loc->name.c_str(), 0);
      });
    }
  } else if (nr == SCMP_SYS(rename) || nr == SCMP_SYS(renameat) || nr == SCMP_SYS(renameat2)) {
    const bool at = nr != SCMP_SYS(rename);
    const unsigned flags = nr == SCMP_SYS(renameat2) ? static_cast<unsigned>(args[4]) : 0;
    auto old_path = string_arg(at ? args[1] : args[0]);
    auto new_path = old_path ? string_arg(at ? args[3] : args[1]) : std::nullopt;
    auto old_base = new_path ? dir_arg(at ? args[0] : static_cast<std::uint64_t>(AT_FDCWD))
                             : std::nullopt;
    auto new_base = old_base ? dir_arg(at ? args[2] : static_cast<std::uint64_t>(AT_FDCWD))
                             : std::nullopt;
    auto old_loc = new_base ? locate(*old_base, *old_path, false) : std::nullopt;
    auto new_loc = old_loc ? locate(*new_base, *new_path, false) : std::nullopt;
    const bool exchange = (flags & RENAME_EXCHANGE) != 0;
    if (new_loc && (guarded(*new_loc, true) || (exchange && guarded(*old_loc, true)))) {
      answer = error_answer(EACCES);
    } else if (new_loc) {
      perform([&]() -> std::int64_t {
        return ::syscall(SYS_renameat2, old_loc->parent.get(), old_loc->name.c_str(),
                         new_loc->parent.get(), new_loc->name.c_str(), flags);
      });
    }
  } else {
    answer = error_answer(ENOSYS);
  }

  // SECURITY: the pid we read from must still be the process in the syscall.
  if (seccomp_notify_id_valid(listener_.get(), req->id) != 0) return true;
  if (answer.fd) {
    struct seccomp_notif_addfd addfd {};
    addfd.id = req->id;
    addfd.flags = SECCOMP_ADDFD_FLAG_SEND;
    addfd.srcfd = static_cast<std::uint32_t>(answer.fd.get());
    addfd.newfd_flags = answer.cloexec ? O_CLOEXEC : 0;
    ::ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_ADDFD, &addfd);
    return true;
  }
  resp->id = req->id;
  resp->flags = 0;
  resp->val = answer.error ? 0 : answer.value;
  resp->error = answer.error ? -answer.error : 0;
  seccomp_notify_respond(listener_.get(), resp);
  return true;
}

}  // namespace fence::launcher
