#include "launcher/notify/filesystem_request.hpp"

#include <fcntl.h>
#include <linux/limits.h>
#include <seccomp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "launcher/notify/process_memory.hpp"
#include "platform/kernel_abi.hpp"

namespace fence::launcher {
namespace {

using platform::UniqueFd;

constexpr std::size_t kMaxPath = PATH_MAX;

// SECURITY: git takes any directory with a HEAD (and objects/, refs/) for a git directory
// when it looks for a repository from a working directory below or at it, so a bare
// repository planted in `src/` would run its config (core.fsmonitor, core.pager) the next
// time git runs there. Outside any `.git` (whose own parts the name patterns protect), the
// config, commondir and hooks of a directory with a HEAD are protected, and so is a HEAD
// next to a config, commondir or hooks (in whichever order they come). These lookups are
// consistent with the operation: init performs every name change in the sandbox, one at a
// time.
bool in_bare_repository_role(const std::string& path) {
  if (path.find("/.git/") != std::string::npos || path.ends_with("/.git")) return false;
  const std::size_t slash = path.rfind('/');
  const std::string dir = path.substr(0, slash);
  const std::string name = path.substr(slash + 1);
  auto has = [](const std::string& directory, const char* entry) {
    struct stat st {};
    return ::fstatat(AT_FDCWD, (directory + "/" + entry).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
  };
  if (name == "config" || name == "config.worktree" || name == "commondir" || name == "hooks")
    return has(dir, "HEAD");
  if (name == "HEAD") return has(dir, "config") || has(dir, "commondir") || has(dir, "hooks");
  // Anything in a hooks directory of a directory with a HEAD.
  const std::size_t up = dir.rfind('/');
  return up != std::string::npos && dir.substr(up + 1) == "hooks" && has(dir.substr(0, up), "HEAD");
}

}  // namespace

FilesystemOutcome FilesystemRequest::decide() {
  const int nr = req_.data.nr;
  if (nr == SCMP_SYS(open) || nr == SCMP_SYS(openat) || nr == SCMP_SYS(creat))
    open_file(nr);
  else if (nr == SCMP_SYS(mkdir) || nr == SCMP_SYS(mkdirat))
    make_node(nr == SCMP_SYS(mkdirat), true);
  else if (nr == SCMP_SYS(mknod) || nr == SCMP_SYS(mknodat))
    make_node(nr == SCMP_SYS(mknodat), false);
  else if (nr == SCMP_SYS(symlink) || nr == SCMP_SYS(symlinkat))
    make_symlink(nr == SCMP_SYS(symlinkat));
  else if (nr == SCMP_SYS(link) || nr == SCMP_SYS(linkat))
    make_link(nr == SCMP_SYS(linkat));
  else if (nr == SCMP_SYS(rename) || nr == SCMP_SYS(renameat) || nr == SCMP_SYS(renameat2))
    rename(nr != SCMP_SYS(rename), nr == SCMP_SYS(renameat2));
  else if (nr == SCMP_SYS(unlink))
    remove(false, args_[0], 0);
  else if (nr == SCMP_SYS(rmdir))
    remove(false, args_[0], AT_REMOVEDIR);
  else if (nr == SCMP_SYS(unlinkat))
    remove(true, args_[1], static_cast<int>(args_[2]));
  else if (nr == SCMP_SYS(truncate))
    truncate_file();
  else if (nr == SCMP_SYS(chmod))
    change_mode(kCwd, args_[0], args_[1], 0);
  else if (nr == SCMP_SYS(fchmodat))
    change_mode(args_[0], args_[1], args_[2], 0);
  else if (nr == platform::kFchmodat2)
    change_mode(args_[0], args_[1], args_[2], args_[3]);
  else if (nr == SCMP_SYS(fchmod))
    change_fd_mode();
  else if (nr == SCMP_SYS(setxattr) || nr == SCMP_SYS(lsetxattr))
    change_xattr(true, nr == SCMP_SYS(setxattr), true);
  else if (nr == SCMP_SYS(removexattr) || nr == SCMP_SYS(lremovexattr))
    change_xattr(true, nr == SCMP_SYS(removexattr), false);
  else if (nr == SCMP_SYS(fsetxattr))
    change_xattr(false, false, true);
  else if (nr == SCMP_SYS(fremovexattr))
    change_xattr(false, false, false);
  else if (nr == SCMP_SYS(bind))
    bind_socket();
  else
    refuse(ENOSYS);
  return std::move(outcome_);
}

std::optional<std::string> FilesystemRequest::string_arg(std::uint64_t addr) {
  int error = EFAULT;
  auto s = read_string(mem_, addr, kMaxPath, error);
  if (!s) refuse(error);
  return s;
}

std::optional<UniqueFd> FilesystemRequest::dir_arg(std::uint64_t value) {
  int error = 0;
  auto fd = resolver_.base(static_cast<int>(value), error);
  if (!fd) refuse(error);
  return fd;
}

// The path at `path_addr`, resolved relative to the directory argument `dir` (which, like
// the kernel, is not even looked at for an absolute path).
std::optional<Location> FilesystemRequest::locate(std::uint64_t dir, std::uint64_t path_addr,
                                                  bool follow) {
  auto path = string_arg(path_addr);
  if (!path) return std::nullopt;
  std::optional<UniqueFd> base = UniqueFd();
  if (path->empty() || (*path)[0] != '/') base = dir_arg(dir);
  if (!base) return std::nullopt;
  int error = 0;
  auto loc = resolver_.resolve(*base, *path, follow, error);
  if (!loc) refuse(error);
  return loc;
}

// Locates the operation's target (kept for the report).
bool FilesystemRequest::locate_target(std::uint64_t dir, std::uint64_t path_addr, bool follow) {
  target_ = locate(dir, path_addr, follow);
  return target_.has_value();
}

// Whether creating `loc` would make a guarded name (or, with ancestors_too, put something
// other than an empty directory where a guarded name's missing parent belongs).
bool FilesystemRequest::guarded(const Location& loc, bool ancestors_too) const {
  if (names_.names.empty() || loc.object || !loc.parent) return false;
  const std::string full = place(loc);
  // SECURITY: a directory whose path cannot be told (over PATH_MAX) fails closed.
  if (full.empty()) return true;
  return names_.names.count(full) > 0 || (ancestors_too && names_.ancestors.count(full) > 0);
}

// What the protected names say of the place `loc` names (launcher/notify/protected_names.hpp).
// SECURITY: a place whose path cannot be told (a directory deeper than PATH_MAX, where
// readlink fails) is refused as if protected: the names below it cannot be checked.
NameVerdict FilesystemRequest::verdict(const Location& loc) const {
  if (protected_.empty()) return {};
  const std::string path = place(loc);
  if (path.empty()) return NameVerdict::unknown();
  NameVerdict v = protected_.classify(path);
  if (!v.refuses_file() && v.in_writable_root && protected_.bare_repositories() &&
      in_bare_repository_role(path))
    v.protected_tree = true;
  return v;
}

// The absolute path `loc` names now ("" when it cannot be told).
std::string FilesystemRequest::place(const Location& loc) const {
  std::string path = loc.object ? fd_path(loc.object.get()) : fd_path(loc.parent.get());
  if (path.empty() || loc.object) return path;
  return (path == "/" ? "" : path) + "/" + bare(loc.name);
}

// A creatable allowWrite entry, or a missing directory on its way, made by init through its
// clone (creatable_roots.hpp). True when `loc` was such a place: the answer is set.
bool FilesystemRequest::make_on_the_way(const Location& loc, bool directory, mode_t mode) {
  if (!creatable_ || loc.object || !loc.parent) return false;
  const std::string path = place(loc);
  CreatableRoot* root = path.empty() ? nullptr : creatable_->on_the_way(path);
  if (!root) return false;
  // Only P itself may be a regular file; everything on its way is a directory.
  if (!directory && path != root->path) return false;
  const int error = creatable_->make(*root, path, directory, mode, read_umask(pid_));
  if (error != 0)
    refuse(error);
  else
    outcome_.answer = NotifyAnswer{};
  return true;
}

// The restricted thread, or the writer thread of the creatable entries when the operation
// touches one that was made (its target, or a rename's or link's source).
RestrictedThread& FilesystemRequest::thread_for_operation() const {
  if (!creatable_ || !creatable_->any_made()) return restricted_;
  for (const std::optional<Location>* loc : {&target_, &source_}) {
    if (!loc->has_value()) continue;
    if (RestrictedThread* writer = creatable_->writer_for(place(**loc))) return *writer;
  }
  return restricted_;
}

// Runs `op` on the restricted thread (with the caller's umask when it `creates`); its result
// is the answer.
std::int64_t FilesystemRequest::perform(const std::function<std::int64_t()>& op, bool creates) {
  const mode_t mask = creates ? read_umask(pid_) : 0;
  std::int64_t result = -1;
  int error = 0;
  thread_for_operation().run([&] {
    if (creates) ::umask(mask);
    result = op();
    error = result < 0 ? errno : 0;
  });
  if (result < 0)
    refuse(error);
  else
    outcome_.answer.value = result;
  return result;
}

}  // namespace fence::launcher
