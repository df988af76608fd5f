// Turns the filesystem part of a Config into concrete absolute paths for the launcher.
//
// The plan is computed once, by the supervisor, before the sandbox exists; the lists feed the
// ipc::LaunchSpec fields of the same names. Precedence, strongest first:
//   hidden (denyRead) > read_only (denyWrite + always-protected) > writable > readable/executable
// The launcher applies them in the reverse order so that the strongest is mounted last.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/config.hpp"

namespace fence::supervisor {

// Per-entry cap on glob matches (a single list must also fit ipc::kMaxPathCount).
inline constexpr std::size_t kMaxGlobMatchesPerEntry = 512;

// Standard system directories readable by default (those that exist on this host).
inline constexpr std::array<std::string_view, 12> kSystemReadablePaths = {
    "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
    "/usr", "/etc",  "/opt", "/var",   "/snap",  "/nix"};

// Always read-only, in the working directory AND in home, whatever the policy says: these are
// the usual persistence vectors (code that runs the next time a shell, editor, agent or git
// starts). SECURITY-RULES 7.
inline constexpr std::array<std::string_view, 18> kAlwaysProtectedNames = {
    ".gitconfig",   ".gitmodules",      ".bashrc",       ".bash_profile", ".bash_login",
    ".bash_logout", ".zshrc",           ".zshenv",       ".zprofile",     ".zlogin",
    ".zlogout",     ".profile",         ".ripgreprc",    ".mcp.json",     ".vscode",
    ".idea",        ".claude/commands", ".claude/agents"};

// Always read-only in home only: git's second global config file, fence's own user config
// (protected even when it does not exist, so a sandboxed run cannot plant one for the next
// run), what ssh and sshd run or trust, and what a desktop session or systemd starts.
inline constexpr std::array<std::string_view, 7> kAlwaysProtectedHomeNames = {
    ".config/git/config", ".fence.json",         ".ssh/authorized_keys", ".ssh/config", ".ssh/rc",
    ".config/autostart",  ".config/systemd/user"};

// Protected at any depth of a writable tree, whether they exist or not (name patterns for
// launcher/protected_names.hpp): kAlwaysProtectedNames, and the parts of every git directory
// (submodules' and worktrees' included) that make git run code. `.git/config` (and its
// per-worktree form) only without allowGitConfig.
// (`commondir` names the directory git takes hooks and config from; a linked worktree's
// `.git/worktrees/NAME/commondir` too.)
inline constexpr std::array<std::string_view, 5> kProtectedGitNames = {
    ".git/hooks", ".git/commondir", ".git/worktrees/*/commondir", ".git/modules/**/hooks",
    ".git/modules/**/commondir"};
inline constexpr std::array<std::string_view, 5> kProtectedGitConfigNames = {
    ".git/config", ".git/config.worktree", ".git/worktrees/*/config.worktree",
    ".git/modules/**/config", ".git/modules/**/config.worktree"};
// A `.git` that is not a directory points git at a git directory elsewhere.
inline constexpr std::array<std::string_view, 1> kProtectedFileNames = {".git"};
// What `git init` and `git clone` create in a new git directory and git never runs.
inline constexpr std::array<std::string_view, 4> kCreatableProtectedNames = {
    ".git/hooks", ".git/hooks/*.sample", ".git/modules/**/hooks", ".git/modules/**/hooks/*.sample"};

struct FilesystemPlan {
  std::vector<std::string> readable;    // system dirs, cwd, home, allowRead (existing only)
  std::vector<std::string> executable;  // allowExecute (existing only)
  std::vector<std::string> writable;    // allowWrite (existing only; "/tmp": the host's /tmp)
  std::vector<std::string> read_only;   // denyWrite + always-protected (existing or not)
  std::vector<std::string> hidden;      // denyRead (existing only, nested entries collapsed)
  // Name patterns protected at any depth of a writable tree (see above).
  std::vector<std::string> protected_names;
  std::vector<std::string> protected_files;
  std::vector<std::string> creatable_protected;
  bool protect_bare_repositories = false;  // without allowGitConfig
  std::vector<std::string> warnings;       // entries ignored and why, for -d / -m output
};

// Builds the plan. cwd and home must be absolute; own_config_files are fence's settings files
// in use (e.g. the -s file), protected like the built-in list. Every list is sorted, free of
// duplicates and of entries beneath a hidden entry. Throws ConfigError when an entry cannot be
// resolved or expanded (too many glob matches, symlink loop, lists over IPC limits).
FilesystemPlan build_filesystem_plan(const Config& config, const std::string& cwd,
                                     const std::string& home,
                                     const std::vector<std::string>& own_config_files);

// The values of core.hooksPath in a git config file's text (all of them, in order; git uses
// the last). A deliberately small parser: sections, comments, quoting and escapes; no includes.
std::vector<std::string> parse_git_hooks_paths(std::string_view git_config_text);

}  // namespace fence::supervisor
