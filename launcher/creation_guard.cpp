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

namespace {

// One notification: its arguments as the command passed them, decided and answered here.
class Request {
 public:
  Request(const seccomp_notif& req, const GuardedNames& names, RestrictedWorker& worker)
      : req_(req),
        args_(req.data.args),
        names_(names),
        worker_(worker),
        pid_(static_cast<pid_t>(req.pid)),
        resolver_(pid_),
        mem_(::open(("/proc/" + std::to_string(pid_) + "/mem").c_str(), O_RDONLY | O_CLOEXEC)),
        umask_(read_umask(pid_)) {}

  Answer decide() {
    const int nr = req_.data.nr;
    if (nr == SCMP_SYS(open) || nr == SCMP_SYS(openat) || nr == SCMP_SYS(creat)) open_file(nr);
    else if (nr == SCMP_SYS(mkdir) || nr == SCMP_SYS(mkdirat)) make_node(nr == SCMP_SYS(mkdirat), true);
    else if (nr == SCMP_SYS(mknod) || nr == SCMP_SYS(mknodat)) make_node(nr == SCMP_SYS(mknodat), false);
    else if (nr == SCMP_SYS(symlink) || nr == SCMP_SYS(symlinkat)) make_symlink(nr == SCMP_SYS(symlinkat));
    else if (nr == SCMP_SYS(link) || nr == SCMP_SYS(linkat)) make_link(nr == SCMP_SYS(linkat));
    else if (nr == SCMP_SYS(rename) || nr == SCMP_SYS(renameat) || nr == SCMP_SYS(renameat2))
      rename(nr != SCMP_SYS(rename), nr == SCMP_SYS(renameat2));
    else answer_ = error_answer(ENOSYS);
    return std::move(answer_);
  }

 private:
  static constexpr std::uint64_t kCwd = static_cast<std::uint64_t>(AT_FDCWD);

  std::optional<std::string> string_arg(std::uint64_t addr) {
    int error = EPERM;
    auto s = mem_ ? read_string(mem_.get(), addr, error) : std::nullopt;
    if (!s) answer_ = error_answer(error);
    return s;
  }

  std::optional<UniqueFd> dir_arg(std::uint64_t value) {
    int error = 0;
    auto fd = resolver_.base(static_cast<int>(value), error);
    if (!fd) answer_ = error_answer(error);
    return fd;
  }

  // The path at `path_addr`, resolved relative to the directory argument `dir`.
  std::optional<Location> locate(std::uint64_t dir, std::uint64_t path_addr, bool follow) {
    auto path = string_arg(path_addr);
    auto base = path ? dir_arg(dir) : std::nullopt;
    if (!base) return std::nullopt;
    int error = 0;
    auto loc = resolver_.resolve(*base, *path, follow, error);
    if (!loc) answer_ = error_answer(error);
    return loc;
  }

  // Whether creating `loc` would make a guarded name (or, with ancestors_too, put something
  // other than an empty directory where a guarded name's missing parent belongs).
  bool guarded(const Location& loc, bool ancestors_too) const {
    if (loc.object || !loc.parent) return false;
    const std::string dir = fd_path(loc.parent.get());
    const std::string full = (dir == "/" ? "" : dir) + "/" + bare(loc.name);
    return names_.names.count(full) > 0 || (ancestors_too && names_.ancestors.count(full) > 0);
  }

  // Runs `op` on the restricted worker with the command's umask; its result is the answer.
  std::int64_t perform(const std::function<std::int64_t()>& op) {
    std::int64_t result = -1;
    int error = 0;
    worker_.run([&] {
      ::umask(umask_);
      result = op();
      error = result < 0 ? errno : 0;
    });
    if (result < 0) answer_ = error_answer(error);
    else answer_.value = result;
    return result;
  }

  void open_file(int nr) {
    const bool at = nr == SCMP_SYS(openat);
    const bool creat = nr == SCMP_SYS(creat);
    const int flags = creat ? (O_CREAT | O_WRONLY | O_TRUNC) : static_cast<int>(args_[at ? 2 : 1]);
    const mode_t mode = static_cast<mode_t>(args_[creat ? 1 : (at ? 3 : 2)]);
    // Like the kernel: a final symlink is followed unless O_EXCL or O_NOFOLLOW.
    const bool follow = !(flags & O_EXCL) && !(flags & O_NOFOLLOW);
    auto loc = locate(at ? args_[0] : kCwd, args_[at ? 1 : 0], follow);
    if (!loc) return;
    if (guarded(*loc, false)) {
      answer_ = error_answer(EACCES);
      return;
    }
    const std::int64_t fd = perform([&]() -> std::int64_t {
      if (loc->object) {
        // A /proc magic link (e.g. /dev/stdout): reopen the object it points at.
        const std::string reopen = "/proc/self/fd/" + std::to_string(loc->object.get());
        return ::open(reopen.c_str(), flags | O_CLOEXEC, mode);
      }
      // O_NOFOLLOW: the resolver already followed any final symlink; one swapped in since
      // must not redirect the creation.
      return ::openat(loc->parent.get(), loc->name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode);
    });
    if (fd >= 0) {
      answer_.fd.reset(static_cast<int>(fd));
      answer_.cloexec = (flags & O_CLOEXEC) != 0;
    }
  }

  void make_node(bool at, bool directory) {
    auto loc = locate(at ? args_[0] : kCwd, args_[at ? 1 : 0], false);
    if (!loc) return;
    const mode_t mode = static_cast<mode_t>(args_[at ? 2 : 1]);
    const dev_t dev = static_cast<dev_t>(args_[at ? 3 : 2]);
    // mkdir of a missing parent of a guarded name is fine (an empty directory); nothing else.
    if (guarded(*loc, !directory)) {
      answer_ = error_answer(EACCES);
      return;
    }
    perform([&]() -> std::int64_t {
      return directory ? ::mkdirat(loc->parent.get(), loc->name.c_str(), mode)
                       : ::mknodat(loc->parent.get(), loc->name.c_str(), mode, dev);
    });
  }

  void make_symlink(bool at) {
    auto target = string_arg(args_[0]);
    if (!target) return;
    auto loc = locate(at ? args_[1] : kCwd, args_[at ? 2 : 1], false);
    if (!loc) return;
    if (guarded(*loc, true)) {
      answer_ = error_answer(EACCES);
      return;
    }
    perform([&]() -> std::int64_t {
      return ::symlinkat(target->c_str(), loc->parent.get(), loc->name.c_str());
    });
  }

  void make_link(bool at) {
    const int flags = at ? static_cast<int>(args_[4]) : 0;
    std::optional<Location> old_loc;
    if (at && (flags & AT_EMPTY_PATH)) {
      auto old_path = string_arg(args_[1]);
      if (!old_path) return;
      if (old_path->empty()) {
        // linkat(fd, "", ..., AT_EMPTY_PATH): the fd itself (e.g. an O_TMPFILE file).
        auto object = dir_arg(args_[0]);
        if (!object) return;
        old_loc = Location{{}, {}, std::move(*object)};
      }
    }
    if (!old_loc) old_loc = locate(at ? args_[0] : kCwd, args_[at ? 1 : 0], flags & AT_SYMLINK_FOLLOW);
    if (!old_loc) return;
    auto new_loc = locate(at ? args_[2] : kCwd, args_[at ? 3 : 1], false);
    if (!new_loc) return;
    if (guarded(*new_loc, true)) {
      answer_ = error_answer(EACCES);
      return;
    }
    perform([&]() -> std::int64_t {
      if (old_loc->object) {
        const std::string source = "/proc/self/fd/" + std::to_string(old_loc->object.get());
        return ::linkat(AT_FDCWD, source.c_str(), new_loc->parent.get(), new_loc->name.c_str(),
                        AT_SYMLINK_FOLLOW);
      }
      return ::linkat(old_loc->parent.get(), old_loc->name.c_str(), new_loc->parent.get(),
                      new_loc->name.c_str(), 0);
    });
  }

  void rename(bool at, bool with_flags) {
    const unsigned flags = with_flags ? static_cast<unsigned>(args_[4]) : 0;
    auto old_loc = locate(at ? args_[0] : kCwd, args_[at ? 1 : 0], false);
    if (!old_loc) return;
    auto new_loc = locate(at ? args_[2] : kCwd, args_[at ? 3 : 1], false);
    if (!new_loc) return;
    // RENAME_EXCHANGE also puts the new side's entry at the old name.
    const bool exchange = (flags & RENAME_EXCHANGE) != 0;
    if (guarded(*new_loc, true) || (exchange && guarded(*old_loc, true))) {
      answer_ = error_answer(EACCES);
      return;
    }
    perform([&]() -> std::int64_t {
      return ::syscall(SYS_renameat2, old_loc->parent.get(), old_loc->name.c_str(),
                       new_loc->parent.get(), new_loc->name.c_str(), flags);
    });
  }

  const seccomp_notif& req_;
  const decltype(seccomp_notif::data.args)& args_;
  const GuardedNames& names_;
  RestrictedWorker& worker_;
  pid_t pid_;
  Resolver resolver_;
  UniqueFd mem_;
  mode_t umask_;
  Answer answer_;
};

}  // namespace

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
  Answer answer = Request(*req, names_, worker_).decide();

  // SECURITY: the pid whose memory we read must still be the process in this syscall.
  if (seccomp_notify_id_valid(listener_.get(), req->id) != 0) return true;
  if (answer.fd) {
    struct seccomp_notif_addfd addfd {};
    addfd.id = req->id;
    addfd.flags = SECCOMP_ADDFD_FLAG_SEND;  // inject and return it as the syscall's result
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
