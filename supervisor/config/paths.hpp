// Resolution of filesystem policy entries against the host's filesystem: symlinks of the
// existing prefix followed (and recorded), globs expanded by walking directories. The lexical
// rules (syntax, normalization, the glob language) are policy/path_rules.hpp.
//
// Every path the supervisor hands to the launcher is absolute, free of "." / ".." and of
// trailing slashes, and has its symlinks resolved for the part that exists. The launcher then
// re-opens each path with RESOLVE_NO_SYMLINKS and fails closed if it changed in between.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/policy/path_rules.hpp"

namespace fence::supervisor {

// Hard cap on directory entries one expand_glob() call may look at. A pattern like "/**/x" must
// fail loudly instead of walking the whole disk at every start.
inline constexpr std::size_t kMaxGlobEntriesVisited = 100'000;
// Symlink hops allowed while resolving one path (the kernel's own limit is 40).
inline constexpr int kMaxSymlinkHops = 40;

struct ResolvedPath {
  std::string lexical;                // absolute_path(): before any symlink is followed
  std::string path;                   // absolute, normalized, symlinks of existing prefix resolved
  std::vector<std::string> symlinks;  // absolute location of every symlink that was followed
};

// absolute_path() followed by symlink resolution of the longest existing prefix; a missing tail
// is kept as written. Throws std::invalid_argument on bad syntax or a symlink loop.
ResolvedPath resolve_path(std::string_view raw, const std::string& cwd, const std::string& home);

// SECURITY-RULES 8: the first of `symlinks` (ResolvedPath::symlinks) that an earlier sandboxed
// run could have planted: one in a place such runs commonly can write (the working directory,
// HOME, /tmp, whatever this run's policy says) or beneath one of `writable_trees`. nullptr when
// there is none.
const std::string* planted_symlink(const std::vector<std::string>& symlinks, const std::string& cwd,
                                   const std::string& home,
                                   const std::vector<std::string>& writable_trees);

// resolve_path(...).path.
std::string normalize_path(std::string_view raw, const std::string& cwd, const std::string& home);

// Lists the existing paths matching an absolute, lexically normalized pattern, sorted. Walks from
// the literal prefix; never descends into a symlinked directory below it (a symlink may itself be
// a match). Throws std::runtime_error when more than max_visits directory entries are visited
// or more than max_results paths match; std::invalid_argument for a non-absolute pattern.
std::vector<std::string> expand_glob(const std::string& absolute_pattern, std::size_t max_results,
                                     std::size_t max_visits = kMaxGlobEntriesVisited);

}  // namespace fence::supervisor
