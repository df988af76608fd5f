// Path normalization and glob matching for filesystem policy entries.
//
// Every path the supervisor hands to the launcher is absolute, free of "." / ".." and of
// trailing slashes, and has its symlinks resolved for the part that exists. The launcher then
// re-opens each path with RESOLVE_NO_SYMLINKS and fails closed if it changed in between.
//
// Glob language (deliberately small, documented in docs/configuration.md):
//   *   any run of characters inside one path component (never crosses '/'; matches dotfiles)
//   ?   exactly one character inside one path component
//   **  as a whole component: zero or more whole components; inside a component it acts as *
// Every other character, including '[', '{' and '\', is literal.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace fence::supervisor {

// Hard cap on directory entries one expand_glob() call may look at. A pattern like "/**/x" must
// fail loudly instead of walking the whole disk at every start.
inline constexpr std::size_t kMaxGlobEntriesVisited = 100'000;
// Symlink hops allowed while resolving one path (the kernel's own limit is 40).
inline constexpr int kMaxSymlinkHops = 40;

// Checks the syntax of a raw policy path without touching the filesystem: non-empty, no NUL,
// "~" only as "~" or "~/...", no ".." after a glob component. Throws std::invalid_argument.
void validate_path_syntax(std::string_view raw);

// Lexical normalization of an absolute path: collapses "//", ".", "..", drops trailing "/".
// ".." at the root stays at the root. Requires raw to start with '/'.
std::string lexically_normalize(std::string_view absolute);

// "~" / "~/x" -> home, relative -> cwd/raw, then lexically normalized. No filesystem access.
// Throws std::invalid_argument on invalid syntax (see validate_path_syntax) or when cwd/home is
// needed but not absolute.
std::string absolute_path(std::string_view raw, const std::string& cwd, const std::string& home);

struct ResolvedPath {
  std::string path;                   // absolute, normalized, symlinks of existing prefix resolved
  std::vector<std::string> symlinks;  // absolute location of every symlink that was followed
};

// absolute_path() followed by symlink resolution of the longest existing prefix; a missing tail
// is kept as written. Throws std::invalid_argument on bad syntax or a symlink loop.
ResolvedPath resolve_path(std::string_view raw, const std::string& cwd, const std::string& home);

// resolve_path(...).path.
std::string normalize_path(std::string_view raw, const std::string& cwd, const std::string& home);

// True if the string contains glob metacharacters ('*' or '?').
bool has_glob(std::string_view text);

// Matches a whole path against a glob pattern (see the language above). Both are split on '/';
// an absolute pattern only matches absolute paths and vice versa; trailing '/' is ignored.
bool glob_match(std::string_view pattern, std::string_view path);

// The components of `absolute_pattern` before its first glob component, as an absolute path.
std::string glob_literal_prefix(std::string_view absolute_pattern);

// Lists the existing paths matching an absolute, lexically normalized pattern, sorted. Walks from
// the literal prefix; never descends into a symlinked directory below it (a symlink may itself be
// a match). Throws std::runtime_error when more than max_visits directory entries are visited
// or more than max_results paths match; std::invalid_argument for a non-absolute pattern.
std::vector<std::string> expand_glob(const std::string& absolute_pattern, std::size_t max_results,
                                     std::size_t max_visits = kMaxGlobEntriesVisited);

}  // namespace fence::supervisor
