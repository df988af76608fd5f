// One member of FilesystemRequest per family of filesystem syscalls: each decodes its arguments
// as the kernel would, asks the guard's names and the protected names, and PERFORMS the
// operation on the restricted thread from what it resolved.
#include <fcntl.h>
#include <linux/limits.h>
#include <seccomp.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "launcher/notify/filesystem_request.hpp"
#include "launcher/notify/process_memory.hpp"
#include "platform/process.hpp"

namespace fence::launcher {
namespace {

using platform::UniqueFd;

bool exists(const Location& loc) {
  struct stat st {};
  return loc.object || ::fstatat(loc.parent.get(), loc.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

bool is_fifo(const Location& loc) {
  struct stat st {};
  const int rc = loc.object
                     ? ::fstat(loc.object.get(), &st)
                     : ::fstatat(loc.parent.get(), loc.name.c_str(), &st, AT_SYMLINK_NOFOLLOW);
  return rc == 0 && S_ISFIFO(st.st_mode);
}

// Neither a directory nor a symlink (nor missing): what may go where a protected name could
// lie beneath. SECURITY: checking first and acting next is safe here because init answers
// one notification at a time and, with protected names, every syscall that can change a
// name is notified: nothing in the sandbox can swap the entry in between.
bool is_plain_entry(int dir, const std::string& name) {
  struct stat st {};
  return ::fstatat(dir, bare(name).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
         !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode);
}

// SECURITY: a file the sandbox makes set-user-ID (or set-group-ID, but on a directory, where
// it only means group inheritance) would run with its owner's rights for whoever executes it on
// the host: with fence run as root, root's. Mounts are nosuid inside, not on the host.
bool privileged_bits(mode_t mode, bool directory) {
  return (mode & S_ISUID) != 0 || (!directory && (mode & S_ISGID) != 0);
}

void clear_nonblock(int fd) {
  const int fl = ::fcntl(fd, F_GETFL);
  if (fl >= 0) ::fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
}

}  // namespace

void FilesystemRequest::open_file(int nr) {
  const bool at = nr == SCMP_SYS(openat);
  const bool creat = nr == SCMP_SYS(creat);
  const int flags = creat ? (O_CREAT | O_WRONLY | O_TRUNC) : static_cast<int>(args_[at ? 2 : 1]);
  // New files never get set-user-ID or set-group-ID (see privileged_bits).
  const mode_t mode = static_cast<mode_t>(args_[creat ? 1 : (at ? 3 : 2)]) & ~(S_ISUID | S_ISGID);
  // Like the kernel: a final symlink is followed unless O_NOFOLLOW, or O_CREAT|O_EXCL.
  const bool excl = (flags & O_CREAT) && (flags & O_EXCL);
  const bool follow = !excl && !(flags & O_NOFOLLOW);
  if (!locate_target(at ? args_[0] : kCwd, args_[at ? 1 : 0], follow)) return;
  const Location& loc = *target_;
  const bool writes = (flags & O_ACCMODE) != O_RDONLY;
  const bool creates = (flags & O_CREAT) && !exists(loc);
  operation_ = creates ? "create" : (writes ? "write" : "truncate");
  if ((flags & O_CREAT) && guarded(loc, false)) return refuse(EACCES);
  // SECURITY-RULES 7 at any depth: no new protected file (but git's sample hooks), no write
  // or truncation of one. An O_TMPFILE file has no name until it is linked (checked then).
  const bool tmpfile_open = (flags & O_TMPFILE) == O_TMPFILE;
  if (!tmpfile_open && (writes || creates || (flags & O_TRUNC))) {
    const NameVerdict v = verdict(loc);
    if (v.refuses_file() && !(creates && v.creatable)) return refuse(EACCES);
  }
  // A creatable allowWrite entry made as a regular file: created empty through init's clone,
  // then opened like an existing file (O_EXCL has done its part).
  int open_flags_asked = flags;
  if (creates && !tmpfile_open && make_on_the_way(loc, false, mode)) {
    if (outcome_.answer.error != 0) return;
    open_flags_asked &= ~(O_CREAT | O_EXCL);
  }
  // A FIFO open would sleep until the other side comes: init opens it without blocking,
  // then gives the process a blocking file as it asked for.
  const bool fifo = !creates && !(flags & O_NONBLOCK) && !(flags & O_PATH) && is_fifo(loc);
  auto open_with = [&](int open_flags) {
    return [&loc, open_flags, mode]() -> std::int64_t {
      if (loc.object) {
        // A /proc magic link (e.g. /dev/stdout): reopen the object it points at.
        return ::open(self_fd(loc.object.get()).c_str(), open_flags, mode);
      }
      // O_NOFOLLOW: the resolver already followed any final symlink; one swapped in since
      // must not redirect the operation.
      return ::openat(loc.parent.get(), loc.name.c_str(), open_flags | O_NOFOLLOW, mode);
    };
  };
  const int open_flags = open_flags_asked | O_CLOEXEC | (fifo ? O_NONBLOCK : 0);
  const bool tmpfile = (flags & O_TMPFILE) == O_TMPFILE;
  std::int64_t fd = -1;
  if ((open_flags_asked & O_CREAT) && (open_flags_asked & O_EXCL) && !creates && !tmpfile) {
    // The kernel's answer to O_CREAT|O_EXCL on an existing name, before any permission check.
    return refuse(EEXIST);
  }
  if ((open_flags_asked & O_CREAT) && !creates && !tmpfile) {
    // The name exists: the umask plays no part unless it vanishes meanwhile, and then the
    // open is made again as the creation it has become (reading the umask is not free).
    fd = perform(open_with(open_flags & ~O_CREAT));
    if (fd < 0 && outcome_.answer.error == ENOENT) fd = perform(open_with(open_flags), true);
  } else {
    fd = perform(open_with(open_flags), (open_flags_asked & O_CREAT) && (creates || tmpfile));
  }
  if (fd < 0) {
    if (fifo && outcome_.answer.error == ENXIO && (flags & O_ACCMODE) == O_WRONLY) park(loc, flags);
    return;
  }
  outcome_.answer = NotifyAnswer{};
  outcome_.answer.fd.reset(static_cast<int>(fd));
  outcome_.answer.cloexec = (flags & O_CLOEXEC) != 0;
  if (fifo) clear_nonblock(outcome_.answer.fd.get());
}

void FilesystemRequest::park(const Location& loc, int flags) {
  UniqueFd target(
      loc.object ? ::fcntl(loc.object.get(), F_DUPFD_CLOEXEC, 0)
                 : ::openat(loc.parent.get(), loc.name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!target) return;  // answer ENXIO: the FIFO went away
  outcome_.parked = ParkedOpen{std::move(target), flags, pid_};
}

void FilesystemRequest::make_node(bool at, bool directory) {
  if (!locate_target(at ? args_[0] : kCwd, args_[at ? 1 : 0], false)) return;
  const Location& loc = *target_;
  operation_ = directory ? "mkdir" : "mknod";
  // Set-group-ID is a directory's ordinary group inheritance; set-user-ID never.
  const mode_t mode =
      static_cast<mode_t>(args_[at ? 2 : 1]) & ~(directory ? S_ISUID : (S_ISUID | S_ISGID));
  const dev_t dev = static_cast<dev_t>(args_[at ? 3 : 2]);
  // mkdir of a missing parent of a guarded name is fine (an empty directory); nothing else.
  if (guarded(loc, !directory)) return refuse(EACCES);
  // A directory may stand where a protected file name would (`.git`), and git's own hooks
  // directory may be made; no other protected name, and no device, FIFO or socket file.
  const NameVerdict v = verdict(loc);
  if (directory ? (v.protected_tree && !v.creatable) : v.refuses_file()) return refuse(EACCES);
  if (directory && make_on_the_way(loc, true, mode)) return;
  perform(
      [&]() -> std::int64_t {
        return directory ? ::mkdirat(loc.parent.get(), loc.name.c_str(), mode)
                         : ::mknodat(loc.parent.get(), loc.name.c_str(), mode, dev);
      },
      true);
}

void FilesystemRequest::make_symlink(bool at) {
  auto text = string_arg(args_[0]);
  if (!text) return;
  if (!locate_target(at ? args_[1] : kCwd, args_[at ? 2 : 1], false)) return;
  const Location& loc = *target_;
  operation_ = "symlink";
  if (guarded(loc, true)) return refuse(EACCES);
  // SECURITY: a symlink where a protected name could lie beneath (`.claude -> elsewhere`)
  // would bring a tree of the attacker's choosing into a protected place.
  const NameVerdict v = verdict(loc);
  if (v.refuses_file() || v.ancestor) return refuse(EACCES);
  perform([&]() -> std::int64_t {
    return ::symlinkat(text->c_str(), loc.parent.get(), loc.name.c_str());
  });
}

void FilesystemRequest::make_link(bool at) {
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
  if (!old_loc)
    old_loc = locate(at ? args_[0] : kCwd, args_[at ? 1 : 0], flags & AT_SYMLINK_FOLLOW);
  if (!old_loc) return;
  if (!locate_target(at ? args_[2] : kCwd, args_[at ? 3 : 1], false)) return;
  const Location& new_loc = *target_;
  operation_ = "link";
  if (guarded(new_loc, true)) return refuse(EACCES);
  // SECURITY: no protected name made by a link, and no second name for a protected file
  // (writes through it would reach the protected one).
  const NameVerdict to = verdict(new_loc);
  if (to.refuses_file() || verdict(*old_loc).refuses_file()) return refuse(EACCES);
  // A hard link to a symlink is a symlink: not where a protected name could lie beneath.
  if (to.ancestor && !old_loc->object && !is_plain_entry(old_loc->parent.get(), old_loc->name))
    return refuse(EACCES);
  perform([&]() -> std::int64_t {
    if (old_loc->object) {
      return ::linkat(AT_FDCWD, self_fd(old_loc->object.get()).c_str(), new_loc.parent.get(),
                      new_loc.name.c_str(), AT_SYMLINK_FOLLOW);
    }
    return ::linkat(old_loc->parent.get(), old_loc->name.c_str(), new_loc.parent.get(),
                    new_loc.name.c_str(), 0);
  });
}

void FilesystemRequest::rename(bool at, bool with_flags) {
  const unsigned flags = with_flags ? static_cast<unsigned>(args_[4]) : 0;
  auto old_loc = locate(at ? args_[0] : kCwd, args_[at ? 1 : 0], false);
  if (!old_loc) return;
  if (!locate_target(at ? args_[2] : kCwd, args_[at ? 3 : 1], false)) return;
  source_ = std::move(old_loc);
  const Location& from = *source_;
  const Location& to = *target_;
  operation_ = "rename";
  removal_ = true;
  // RENAME_EXCHANGE also puts the new side's entry at the old name.
  const bool exchange = (flags & RENAME_EXCHANGE) != 0;
  if (guarded(to, true) || (exchange && guarded(from, true))) return refuse(EACCES);
  // SECURITY: a protected name is never renamed away nor onto (at any depth), and nothing
  // but a plain file moves to where a protected name could lie beneath: a directory or a
  // symlink there would bring its own tree into a protected place.
  const NameVerdict from_v = verdict(from);
  const NameVerdict to_v = verdict(to);
  if (from_v.refuses_file() || to_v.refuses_file()) return refuse(EACCES);
  if (exchange && (from_v.ancestor || to_v.ancestor)) return refuse(EACCES);
  if (to_v.ancestor && !is_plain_entry(from.parent.get(), from.name)) return refuse(EACCES);
  perform([&]() -> std::int64_t {
    return ::renameat2(from.parent.get(), from.name.c_str(), to.parent.get(), to.name.c_str(),
                       flags);
  });
}

// unlink, rmdir, unlinkat: the last component is never followed.
void FilesystemRequest::remove(bool at, std::uint64_t path_addr, int flags) {
  if (flags & ~AT_REMOVEDIR) return refuse(EINVAL);
  if (!locate_target(at ? args_[0] : kCwd, path_addr, false)) return;
  const Location& loc = *target_;
  operation_ = flags & AT_REMOVEDIR ? "rmdir" : "unlink";
  removal_ = true;
  const NameVerdict v = verdict(loc);
  if (v.protected_tree || (v.protected_file && !(flags & AT_REMOVEDIR))) return refuse(EACCES);
  perform([&]() -> std::int64_t { return ::unlinkat(loc.parent.get(), loc.name.c_str(), flags); });
}

// truncate(path, length): through an O_PATH fd of exactly the resolved file, so the kernel
// makes its own checks (write permission, Landlock's truncate right, read-only mount, type).
void FilesystemRequest::truncate_file() {
  if (!locate_target(kCwd, args_[0], true)) return;
  const Location& loc = *target_;
  operation_ = "truncate";
  if (verdict(loc).refuses_file()) return refuse(EACCES);
  UniqueFd file(
      loc.object ? ::fcntl(loc.object.get(), F_DUPFD_CLOEXEC, 0)
                 : ::openat(loc.parent.get(), loc.name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!file) return refuse(errno);
  const auto length = static_cast<off_t>(args_[1]);
  perform([&]() -> std::int64_t { return ::truncate(self_fd(file.get()).c_str(), length); });
}

// chmod, fchmodat, fchmodat2: SECURITY: the mode of a protected file is part of it (an
// executable bit turns a dormant hook on). Performed on exactly the file resolved.
void FilesystemRequest::change_mode(std::uint64_t dir, std::uint64_t path_addr,
                                    std::uint64_t mode_arg, std::uint64_t flags_arg) {
  const int flags = static_cast<int>(flags_arg);
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return refuse(EINVAL);
  std::optional<Location> loc;
  if (flags & AT_EMPTY_PATH) {
    auto path = string_arg(path_addr);
    if (!path) return;
    if (path->empty()) {
      auto object = dir_arg(dir);
      if (!object) return;
      loc = Location{{}, {}, std::move(*object)};
    }
  }
  if (!loc && !locate_target(dir, path_addr, !(flags & AT_SYMLINK_NOFOLLOW))) return;
  if (loc) target_ = std::move(loc);
  const Location& at = *target_;
  operation_ = "chmod";
  if (verdict(at).refuses_file()) return refuse(EACCES);
  UniqueFd file(at.object
                    ? ::fcntl(at.object.get(), F_DUPFD_CLOEXEC, 0)
                    : ::openat(at.parent.get(), at.name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!file) return refuse(errno);
  // A symlink is there only with AT_SYMLINK_NOFOLLOW: its mode cannot be changed.
  struct stat st {};
  if (::fstat(file.get(), &st) == 0 && S_ISLNK(st.st_mode)) return refuse(EOPNOTSUPP);
  const auto mode = static_cast<mode_t>(mode_arg);
  if (privileged_bits(mode, S_ISDIR(st.st_mode))) return refuse(EPERM);
  perform([&]() -> std::int64_t { return ::chmod(self_fd(file.get()).c_str(), mode); });
}

// fchmod(fd): the caller's own file description, taken over and checked by its path.
void FilesystemRequest::change_fd_mode() {
  int error = 0;
  UniqueFd file = platform::duplicate_fd_of(pid_, static_cast<int>(args_[0]), error);
  if (!file) return refuse(error == ESRCH ? EBADF : error);
  target_ = Location{{}, {}, UniqueFd(::fcntl(file.get(), F_DUPFD_CLOEXEC, 0))};
  operation_ = "chmod";
  if (verdict(*target_).refuses_file()) return refuse(EACCES);
  const auto mode = static_cast<mode_t>(args_[1]);
  struct stat st {};
  if (::fstat(file.get(), &st) != 0 || privileged_bits(mode, S_ISDIR(st.st_mode)))
    return refuse(EPERM);
  perform([&]() -> std::int64_t { return ::fchmod(file.get(), mode); });
}

// setxattr, lsetxattr, fsetxattr, removexattr, lremovexattr, fremovexattr. SECURITY: an
// extended attribute can be part of what runs: system.posix_acl_access sets the mode bits
// (an execute bit for a dormant hook). Protected names refuse them all; any other is
// performed on exactly the file resolved (or the caller's own file description).
void FilesystemRequest::change_xattr(bool by_path, bool follow, bool set) {
  constexpr std::size_t kFirst = 1;  // name, value, size, flags follow the path or fd
  constexpr std::size_t kMaxName = XATTR_NAME_MAX;
  constexpr std::size_t kMaxValue = XATTR_SIZE_MAX;
  UniqueFd file;
  if (by_path) {
    if (!locate_target(kCwd, args_[0], follow)) return;
    const Location& at = *target_;
    file.reset(at.object
                   ? ::fcntl(at.object.get(), F_DUPFD_CLOEXEC, 0)
                   : ::openat(at.parent.get(), at.name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!file) return refuse(errno);
  } else {
    int error = 0;
    file = platform::duplicate_fd_of(pid_, static_cast<int>(args_[0]), error);
    if (!file) return refuse(error == ESRCH ? EBADF : error);
    target_ = Location{{}, {}, UniqueFd(::fcntl(file.get(), F_DUPFD_CLOEXEC, 0))};
  }
  operation_ = set ? "setxattr" : "removexattr";
  if (verdict(*target_).refuses_file()) return refuse(EACCES);
  int error = EFAULT;
  auto name = read_string(mem_, args_[kFirst], kMaxName, error);
  if (!name) return refuse(error == ENAMETOOLONG ? ERANGE : error);
  std::string value;
  const std::size_t size = set ? static_cast<std::size_t>(args_[kFirst + 2]) : 0;
  if (size > kMaxValue) return refuse(E2BIG);
  if (size > 0) {
    value.resize(size);
    if (mem_.read(value.data(), size, args_[kFirst + 1]) != static_cast<ssize_t>(size))
      return refuse(EFAULT);
  }
  const int flags = set ? static_cast<int>(args_[kFirst + 3]) : 0;
  const bool via_fd = !by_path;
  perform([&]() -> std::int64_t {
    if (via_fd) {
      return set ? ::fsetxattr(file.get(), name->c_str(), value.data(), size, flags)
                 : ::fremovexattr(file.get(), name->c_str());
    }
    // The O_PATH fd of the file resolved (a symlink itself when not followed): no name of
    // the caller's is looked up again.
    const std::string path = self_fd(file.get());
    return set ? ::lsetxattr(path.c_str(), name->c_str(), value.data(), size, flags)
               : ::lremovexattr(path.c_str(), name->c_str());
  });
}

// bind(2): a unix socket bound to a path creates that name (a socket at `.bashrc`, at a
// guarded `~/.fence.json`, at `sub/.git`). The socket is taken over, the address copied
// once; a pathname is resolved and checked like any creation, and the bind performed from
// the directory resolved. Any other address is bound as given (Landlock's TCP bind rules
// apply to the thread that does it).
void FilesystemRequest::bind_socket() {
  int error = 0;
  UniqueFd socket = platform::duplicate_fd_of(pid_, static_cast<int>(args_[0]), error);
  if (!socket) return refuse(error == ESRCH ? EBADF : error);
  const int length = static_cast<int>(args_[2]);
  sockaddr_storage address{};
  if (length < 0 || static_cast<std::size_t>(length) > sizeof address) return refuse(EINVAL);
  if (length > 0 && mem_.read(&address, static_cast<std::size_t>(length), args_[1]) != length)
    return refuse(EFAULT);
  int domain = 0;
  socklen_t size = sizeof domain;
  if (::getsockopt(socket.get(), SOL_SOCKET, SO_DOMAIN, &domain, &size) != 0) return refuse(errno);
  const auto* un = reinterpret_cast<const sockaddr_un*>(&address);
  constexpr auto kPathOffset = static_cast<int>(offsetof(sockaddr_un, sun_path));
  const bool pathname = domain == AF_UNIX && address.ss_family == AF_UNIX && length > kPathOffset &&
                        un->sun_path[0] != '\0';
  if (!pathname) {
    perform([&]() -> std::int64_t {
      return ::bind(socket.get(), reinterpret_cast<const sockaddr*>(&address),
                    static_cast<socklen_t>(length));
    });
    return;
  }
  const std::string path(un->sun_path,
                         ::strnlen(un->sun_path, static_cast<std::size_t>(length - kPathOffset)));
  std::optional<UniqueFd> base = UniqueFd();
  if (path[0] != '/') base = dir_arg(kCwd);
  if (!base) return;
  int resolve_error = 0;
  auto loc = resolver_.resolve(*base, path, /*follow_last=*/false, resolve_error);
  if (!loc) return refuse(resolve_error);
  target_ = std::move(loc);
  operation_ = "bind";
  if (target_->object) return refuse(EADDRINUSE);  // a /proc magic link: a name that exists
  if (guarded(*target_, true) || verdict(*target_).refuses_file()) return refuse(EACCES);
  const std::string name = bare(target_->name);
  if (name.size() >= sizeof un->sun_path) return refuse(ENAMETOOLONG);
  perform(
      [&]() -> std::int64_t {
        // From the directory resolved (the restricted thread has a working directory of its own).
        if (::fchdir(target_->parent.get()) != 0) return -1;
        sockaddr_un local{};
        local.sun_family = AF_UNIX;
        std::memcpy(local.sun_path, name.c_str(), name.size() + 1);
        return ::bind(socket.get(), reinterpret_cast<const sockaddr*>(&local),
                      static_cast<socklen_t>(kPathOffset + name.size() + 1));
      },
      true);
}

}  // namespace fence::launcher
