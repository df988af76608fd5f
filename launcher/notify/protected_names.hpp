// Protected names at any depth of a writable tree (SECURITY-RULES 7): `.bashrc`, `.vscode`,
// `.git/hooks`, `.git/config`... protect the files that run code the next time a shell, an
// editor, an agent or git starts. A mount can only cover what exists, and a walk of a large
// tree at every start would cost seconds, so inside writable trees they are protected by name,
// whenever and wherever one is touched: init sees every syscall that could create, write,
// remove, rename or chmod a name (filesystem_guard.hpp) and asks this class.
//
// The patterns come from the supervisor (LaunchSpec::protected_names and friends): relative
// paths of components, `*` and `?` within a component as fnmatch(3), `**` for any number of
// components. A pattern matches at any depth of a writable tree, counted from the outermost
// writable root that holds the path and including that root's own name (`allowWrite` of
// `repo/.git` beside `.` leaves `repo/.git/hooks` protected, and so does `repo/.git` alone):
//   protected_names      the path matched and everything beneath it: nothing may be created,
//                        written, truncated, renamed (away or onto), linked, removed or chmod-ed
//   protected_files      the path matched, unless it is a directory (a `.git` file points git
//                        at another git directory; a `.git` directory is git's own business)
//   creatable_protected  exceptions for creation only: an empty directory or a new name that
//                        git itself makes in `git init` and `git clone` (the hooks directory,
//                        its *.sample files, which git never runs)
// A path is also an *ancestor location* when a protected name could lie beneath it (`.claude`
// for `.claude/commands`, anything under `.git/modules/`): a directory or symlink must not be
// moved or linked there, since it would bring its own contents into a protected place.
// Pure: strings in, verdict out (no I/O). The patterns are the supervisor's; the paths
// classified are those init resolved for a sandboxed caller (read back from its own fds).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace fence::launcher {

struct NameVerdict {
  bool protected_tree = false;  // the path or one of its ancestors below the root matches
  bool protected_file = false;  // the path matches a protected_files pattern
  bool creatable = false;       // ...but it matches a creatable_protected pattern exactly
  bool ancestor = false;        // a protected name could lie beneath the path
  bool in_writable_root = false;

  // Whether a non-directory may be created, written, removed or renamed at the path.
  bool refuses_file() const { return protected_tree || protected_file; }

  // For a place whose path cannot be told: everything refused.
  static NameVerdict unknown() { return {true, true, false, true, true}; }
};

class ProtectedNames {
 public:
  ProtectedNames() = default;
  // `roots`: absolute, normalized writable roots (host trees the sandbox can write).
  ProtectedNames(std::vector<std::string> roots, const std::vector<std::string>& names,
                 const std::vector<std::string>& files, const std::vector<std::string>& creatable,
                 bool bare_repositories = false);

  bool empty() const { return roots_.empty() || (names_.empty() && files_.empty()); }

  // The verdict for an absolute, normalized path (as /proc/self/fd shows it). Paths outside
  // every writable root are never protected here (they are read-only anyway). The match
  // starts at the outermost root holding the path, and at that root's last component.
  NameVerdict classify(std::string_view path) const;

  // Whether a git directory that is not named .git (a bare repository: any directory with a
  // HEAD) gets its config, commondir and hooks protected too. Which directories are such is
  // decided with the filesystem (filesystem_request.cpp).
  bool bare_repositories() const { return bare_repositories_; }

 private:
  using Pattern = std::vector<std::string>;
  std::vector<std::string> roots_;
  std::vector<Pattern> names_;
  std::vector<Pattern> files_;
  std::vector<Pattern> creatable_;
  bool bare_repositories_ = false;
};

// Splits "a/b/c" into its components (empty ones dropped).
std::vector<std::string> split_components(std::string_view path);

}  // namespace fence::launcher
