#include "platform/host_path.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <deque>

namespace fence::platform {
namespace {

// The kernel's own limit on symlinks followed in one lookup.
constexpr int kMaxSymlinkHops = 40;

[[noreturn]] void fail(std::string_view path, const std::string& why) {
  throw HostPathError(path, why);
}

std::string join(const std::string& dir, std::string_view name) {
  return dir == "/" ? "/" + std::string(name) : dir + "/" + std::string(name);
}

std::string parent_of(const std::string& dir) {
  const std::size_t slash = dir.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : dir.substr(0, slash);
}

void split_into(std::deque<std::string>& out, std::string_view path, bool front) {
  std::deque<std::string> parts;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    const std::size_t end = std::min(path.find('/', pos), path.size());
    const std::string_view part = path.substr(pos, end - pos);
    if (!part.empty() && part != ".") parts.emplace_back(part);
    pos = end + 1;
  }
  if (front) {
    out.insert(out.begin(), parts.begin(), parts.end());
  } else {
    out.insert(out.end(), parts.begin(), parts.end());
  }
}

std::string current_directory() {
  std::string buf(4096, '\0');
  while (::getcwd(buf.data(), buf.size()) == nullptr) {
    if (errno != ERANGE) throw HostPathError(".", std::string("getcwd: ") + std::strerror(errno));
    buf.resize(buf.size() * 2);
  }
  return buf.c_str();
}

UniqueFd open_dir(int at, const char* name) {
  UniqueFd fd(::openat(at, name, O_PATH | O_DIRECTORY | O_CLOEXEC));
  return fd;
}

// SECURITY: the rule of host_path.hpp. `dir` holds the link, `link` is its lstat.
bool trusted_symlink(int dir, const struct stat& link) {
  if (::getuid() == 0 || ::geteuid() == 0) return false;
  struct stat d {};
  if (::fstat(dir, &d) != 0) return false;
  return link.st_uid == 0 && d.st_uid == 0 && (d.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

std::string read_link(int fd) {
  std::string target(4096, '\0');
  const ssize_t n = ::readlinkat(fd, "", target.data(), target.size());
  if (n < 0 || static_cast<std::size_t>(n) >= target.size()) return {};
  target.resize(static_cast<std::size_t>(n));
  return target;
}

}  // namespace

HostPath resolve_host_path(std::string_view path) {
  return resolve_host_path(path, 0);
}

HostPath resolve_host_path(std::string_view path, mode_t create_directories) {
  if (path.empty() || path.find('\0') != std::string_view::npos) fail(path, "invalid path");
  if (path.back() == '/') fail(path, "names a directory, not a file");
  std::deque<std::string> rest;
  split_into(rest, path, false);
  if (rest.empty() || rest.back() == "..") fail(path, "names a directory, not a file");

  const bool absolute = path.front() == '/';
  std::string reached = absolute ? "/" : current_directory();
  UniqueFd dir = open_dir(AT_FDCWD, absolute ? "/" : ".");
  if (!dir) fail(path, std::string("cannot open the starting directory: ") + std::strerror(errno));
  int hops = 0;
  while (!rest.empty()) {
    const std::string name = std::move(rest.front());
    rest.pop_front();
    if (name == "..") {
      UniqueFd up = open_dir(dir.get(), "..");
      if (!up) fail(path, "cannot open " + parent_of(reached) + ": " + std::strerror(errno));
      dir = std::move(up);
      reached = parent_of(reached);
      continue;
    }
    UniqueFd next(::openat(dir.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!next && errno == ENOENT && !rest.empty() && create_directories != 0) {
      // A missing directory on the way, made here (never through a symlink: mkdirat does not
      // follow one in its last component, and the directory it is made in was reached safely).
      if (::mkdirat(dir.get(), name.c_str(), create_directories) != 0 && errno != EEXIST)
        fail(path, "cannot create " + join(reached, name) + ": " + std::strerror(errno));
      next.reset(::openat(dir.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    }
    if (!next) {
      // A missing last component is what a file to create looks like.
      if (errno == ENOENT && rest.empty())
        return HostPath{std::move(dir), name, join(reached, name)};
      fail(path, join(reached, name) + ": " + std::strerror(errno));
    }
    struct stat st {};
    if (::fstat(next.get(), &st) != 0)
      fail(path, join(reached, name) + ": " + std::strerror(errno));
    if (S_ISLNK(st.st_mode)) {
      const std::string target = read_link(next.get());
      if (target.empty()) fail(path, "cannot read the symlink " + join(reached, name));
      if (!trusted_symlink(dir.get(), st)) {
        fail(path, "refusing to follow the symlink " + join(reached, name) + " -> " + target +
                       " (a sandboxed command could have planted it; give the real location)");
      }
      if (++hops > kMaxSymlinkHops) fail(path, std::strerror(ELOOP));
      split_into(rest, target, true);
      if (target.front() == '/') {
        dir = open_dir(AT_FDCWD, "/");
        reached = "/";
      }
      if (rest.empty()) fail(path, "the symlink " + join(reached, name) + " names a directory");
      continue;
    }
    if (rest.empty()) return HostPath{std::move(dir), name, join(reached, name)};
    if (!S_ISDIR(st.st_mode)) fail(path, join(reached, name) + ": " + std::strerror(ENOTDIR));
    // O_PATH | O_NOFOLLOW of a directory is already what open_dir would return.
    dir = std::move(next);
    reached = join(reached, name);
  }
  fail(path, "names a directory, not a file");
}

std::optional<int> inherited_fd_of(std::string_view path) {
  if (path == "/dev/stdout") return 1;
  if (path == "/dev/stderr") return 2;
  for (std::string_view prefix : {"/dev/fd/", "/proc/self/fd/"}) {
    if (!path.starts_with(prefix)) continue;
    const std::string_view digits = path.substr(prefix.size());
    int fd = -1;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), fd);
    if (ec == std::errc() && end == digits.data() + digits.size() && fd >= 0) return fd;
  }
  return std::nullopt;
}

HostFile open_host_file_for_append(std::string_view path, mode_t mode) {
  if (const std::optional<int> inherited = inherited_fd_of(path)) {
    const int fd = ::fcntl(*inherited, F_DUPFD_CLOEXEC, 3);
    if (fd < 0) fail(path, "not an open descriptor of fence: " + std::string(std::strerror(errno)));
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || (flags & O_ACCMODE) == O_RDONLY) {
      ::close(fd);
      fail(path, "descriptor not open for writing");
    }
    return HostFile{UniqueFd(fd), ""};
  }
  HostPath where = resolve_host_path(path);
  // O_NONBLOCK only for the open itself: a FIFO must not hang fence (it is refused below).
  UniqueFd fd(::openat(
      where.directory.get(), where.name.c_str(),
      O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, mode));
  if (!fd) {
    // ELOOP: a symlink appeared at the last component since it was resolved; ENXIO: a FIFO
    // without a reader, or a socket.
    if (errno == ELOOP) fail(path, "refusing to follow the symlink " + where.path);
    fail(path, errno == ENXIO ? "not a regular file" : std::string(std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) fail(path, std::strerror(errno));
  if (S_ISREG(st.st_mode)) {
    // SECURITY: a second name for the file means it may also be a file outside every writable
    // tree (a hard link planted by a sandbox next to ~/.bashrc's inode).
    if (st.st_nlink > 1)
      fail(path, "refusing a file with " + std::to_string(st.st_nlink) + " hard links");
  } else if (!S_ISCHR(st.st_mode)) {
    fail(path, "not a regular file");
  }
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0)
    fail(path, std::strerror(errno));
  return HostFile{std::move(fd), std::move(where.path)};
}

UniqueFd open_host_socket(std::string_view path) {
  HostPath where = resolve_host_path(path);
  UniqueFd fd(::openat(where.directory.get(), where.name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) fail(path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) fail(path, std::strerror(errno));
  if (S_ISLNK(st.st_mode)) fail(path, "refusing to follow the symlink " + where.path);
  if (!S_ISSOCK(st.st_mode)) fail(path, "not a unix socket");
  return fd;
}

void replace_host_file(std::string_view path, std::string_view content, mode_t mode) {
  HostPath where = resolve_host_path(path, 0700);
  const std::string temp = "." + where.name + ".new-" + std::to_string(::getpid());
  UniqueFd file(::openat(where.directory.get(), temp.c_str(),
                         O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!file)
    fail(path, "cannot create a temporary file next to it: " + std::string(std::strerror(errno)));
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(file.get(), content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = errno;
      ::unlinkat(where.directory.get(), temp.c_str(), 0);
      fail(path, std::string("cannot write: ") + std::strerror(error));
    }
    done += static_cast<std::size_t>(n);
  }
  // The new content replaces whatever stands at the name (a planted symlink or hard link is
  // replaced, never followed).
  if (::fsync(file.get()) != 0 || ::renameat(where.directory.get(), temp.c_str(),
                                             where.directory.get(), where.name.c_str()) != 0) {
    const int error = errno;
    ::unlinkat(where.directory.get(), temp.c_str(), 0);
    fail(path, std::string("cannot replace: ") + std::strerror(error));
  }
}

}  // namespace fence::platform
