// The lexical rules of filesystem policy entries: their syntax, normalization and the glob
// language. Pure: no filesystem access (config/paths.hpp resolves entries on the host).
//
// Glob language (deliberately small, documented in docs/configuration.md):
//   *   any run of characters inside one path component (never crosses '/'; matches dotfiles)
//   ?   exactly one character inside one path component
//   **  as a whole component: zero or more whole components; inside a component it acts as *
// Every other character, including '[', '{' and '\', is literal.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace fence::supervisor {

// The non-empty components of a path ("/a//b/" -> "a", "b").
std::vector<std::string_view> split_components(std::string_view path);

// '*' / '?' matching of one component (no '/').
bool component_match(std::string_view pattern, std::string_view name);

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

// True if the string contains glob metacharacters ('*' or '?').
bool has_glob(std::string_view text);

// Matches a whole path against a glob pattern (see the language above). Both are split on '/';
// an absolute pattern only matches absolute paths and vice versa; trailing '/' is ignored.
bool glob_match(std::string_view pattern, std::string_view path);

// The components of `absolute_pattern` before its first glob component, as an absolute path.
std::string glob_literal_prefix(std::string_view absolute_pattern);

}  // namespace fence::supervisor
