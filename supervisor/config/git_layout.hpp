// Where git keeps what makes it run code, for the always-protected set: a worktree's git
// directories (following a `.git` file's "gitdir:" and a "commondir"), and core.hooksPath.
//
// SECURITY: the files read here (.git, commondir, .git/config, ~/.gitconfig) may have been
// written by an earlier sandboxed run: hostile text. They are read with a size cap and parsed,
// never executed or expanded; a value git itself could not use adds nothing.
// parse_git_hooks_paths() gets the text of each git directory's config and of ~/.gitconfig
// from filesystem_plan.cpp (read_small_file); fuzzed by fuzz/fuzz_git_hooks_path.cpp.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fence::supervisor {

// The git directories of a worktree: ".git" itself, or for a ".git" file ("gitdir: X", used by
// worktrees and submodules) X and X's commondir. The .git file is protected too: rewriting it
// would point git at a directory with attacker-chosen hooks.
struct GitLayout {
  std::vector<std::string> git_dirs;
  std::optional<std::string> git_file;
};

GitLayout git_layout(const std::string& worktree, const std::string& home);

// A regular file's text, when it is at most 1 MiB (symlinks are not followed).
std::optional<std::string> read_small_file(const std::string& path);

// The values of core.hooksPath in a git config file's text (all of them, in order; git uses
// the last). A deliberately small parser: sections, comments, quoting and escapes; no includes.
std::vector<std::string> parse_git_hooks_paths(std::string_view git_config_text);

}  // namespace fence::supervisor
