// Resolving a path argument of a notified syscall the way the kernel would for the process
// that made it: relative to its cwd or dirfd, component by component, symlinks followed by
// hand, and the result held as an open directory (so later renames of the path's components do
// not matter) plus the last component.
//
// Trust: the path and the dirfd are the sandboxed caller's (HOSTILE), copied out of its memory
// by the filesystem guard, the connect guard and the exec check; the caller may also be changing
// the tree it names while init walks it. Init acts only on what it opened itself.
//
// Resolution runs in init's main thread, which has every capability of the sandbox's user
// namespace. SECURITY: it therefore refuses (EACCES) what would lend those rights to the caller:
//   - /proc/N of any thread of init (its memory, fds, environment): the caller cannot reach
//     them (init is non-dumpable), and the restricted thread, being one of init, could;
//   - /proc magic links (fd/N, cwd, root, exe, ...) of any process other than the caller's own
//     thread group: following them needs ptrace access, which init has and the caller may not.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "platform/unique_fd.hpp"

namespace fence::launcher {

// The path of an open fd as /proc/self/fd shows it ("" when unknown).
std::string fd_path(int fd);

// Where a name would be created or found: the directory and the last component. `object` is
// set instead when the path ends in a /proc magic link (e.g. /dev/stdout): the object it points
// at, opened O_PATH.
struct Location {
  platform::UniqueFd parent;
  std::string name;
  platform::UniqueFd object;
  // The path for messages: the directory's current path and the name.
  std::string full_path() const;
};

class PathResolver {
 public:
  // `pid`: the calling thread, in init's pid namespace.
  explicit PathResolver(pid_t pid);

  // Opens the base directory of a *at() call: the caller's cwd for AT_FDCWD, else its dirfd.
  std::optional<platform::UniqueFd> base(int dirfd, int& error) const;

  // `follow_last`: whether a symlink in the last component is followed (open without O_EXCL
  // or O_NOFOLLOW, link with AT_SYMLINK_FOLLOW, truncate).
  std::optional<Location> resolve(const platform::UniqueFd& base_fd, const std::string& path,
                                  bool follow_last, int& error) const;

 private:
  pid_t thread_group() const;

  pid_t pid_;
  mutable pid_t thread_group_ = 0;  // read when first needed (0: not yet)
};

}  // namespace fence::launcher
