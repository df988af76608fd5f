// The filesystem policy's rules that need no filesystem: what is always protected, and how the
// tiers of a plan combine. config/filesystem_plan.hpp resolves a configuration's entries on
// the host and then applies these.
//
// Precedence, strongest first:
//   hidden (denyRead) > read_only (denyWrite + always-protected) > writable > readable/executable
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace fence::supervisor {

// Always read-only, in the working directory AND in home, whatever the policy says: these are
// the usual persistence vectors (code that runs the next time a shell, editor, agent or git
// starts). SECURITY-RULES 7.
inline constexpr std::array<std::string_view, 20> kAlwaysProtectedNames = {
    ".gitconfig", ".gitmodules", ".bashrc", ".bash_profile", ".bash_login", ".bash_logout",
    ".zshrc", ".zshenv", ".zprofile", ".zlogin", ".zlogout", ".profile", ".ripgreprc", ".mcp.json",
    ".vscode", ".idea", ".claude/commands", ".claude/agents",
    // fence's project configs: found by discovery in the working directory or a parent, so a
    // sandbox planting one (or a symlink to another project's trusted one) would choose, or
    // block, the next run's policy.
    "fence.json", "fence.jsonc"};

// Always read-only in home only: git's second global config file, fence's own user config
// (protected even when it does not exist, so a sandboxed run cannot plant one for the next
// run), what ssh and sshd run or trust, what a desktop session or systemd starts, and the
// startup files of the other shells `--shell user` accepts (fish reads all of ~/.config/fish).
inline constexpr std::array<std::string_view, 12> kAlwaysProtectedHomeNames = {
    ".config/git/config", ".fence.json", ".ssh/authorized_keys", ".ssh/config", ".ssh/rc",
    ".config/autostart", ".config/systemd/user", ".config/fish", ".kshrc",
    // Where fence reads its own user config and trust store from (config_loader.cpp,
    // trust_store.hpp): a sandbox writing there would choose the next run's policy.
    ".fence.jsonc", ".config/fence", ".local/state/fence"};

// Protected at any depth of a writable tree, whether they exist or not (name patterns for
// launcher/notify/protected_names.hpp): kAlwaysProtectedNames, and the parts of every git directory
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

// The tiers of a filesystem plan: absolute, normalized paths.
struct PathTiers {
  std::vector<std::string> readable;    // read, list, execute
  std::vector<std::string> executable;  // read files, execute; no listing
  std::vector<std::string> writable;    // all rights ("/tmp": the host's /tmp)
  std::vector<std::string> creatable;   // allowWrite entries missing yet: the command may make them
  std::vector<std::string> read_only;   // denyWrite + always-protected
  std::vector<std::string> hidden;      // denyRead
};

// Sorts every tier and removes duplicates; keeps only the outermost hidden entries; drops every
// entry at or beneath a hidden one (SECURITY-RULES 9: nothing may be bound there, or it would
// re-expose what denyRead masks). A creatable entry is kept only when it is the outermost one,
// outside every writable root (where the command may create it anyway) and outside every
// read-only entry (which it would otherwise make writable).
void settle_tiers(PathTiers& tiers);

// The name patterns protected at any depth of a writable tree (launcher/notify's protected
// names): always kAlwaysProtectedNames and kProtectedGitNames; without allowGitConfig also
// kProtectedGitConfigNames and bare repositories.
struct ProtectedNamePatterns {
  std::vector<std::string> names;      // the name and everything beneath it
  std::vector<std::string> files;      // the name, unless it is a directory
  std::vector<std::string> creatable;  // exceptions to creation (git's sample hooks)
  bool bare_repositories = false;
};
ProtectedNamePatterns protected_name_patterns(bool allow_git_config);

}  // namespace fence::supervisor
