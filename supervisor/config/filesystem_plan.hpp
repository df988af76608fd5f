// Turns the filesystem part of a Config into concrete absolute paths for the launcher.
//
// The plan is computed once, by the supervisor, before the sandbox exists; the lists feed the
// ipc::LaunchSpec fields of the same names. Precedence (policy/filesystem_rules.hpp), strongest
// first: hidden > read_only > writable > readable/executable. The launcher applies them in the
// reverse order so that the strongest is mounted last.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/config/config.hpp"
#include "supervisor/policy/filesystem_rules.hpp"

namespace fence::supervisor {

// Per-entry cap on glob matches (a single list must also fit ipc::kMaxPathCount).
inline constexpr std::size_t kMaxGlobMatchesPerEntry = 512;

// Standard system directories readable by default (those that exist on this host).
inline constexpr std::array<std::string_view, 12> kSystemReadablePaths = {
    "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
    "/usr", "/etc",  "/opt", "/var",   "/snap",  "/nix"};

// strictDenyRead: the system directories a program needs to run (loader, libraries, the
// dynamic linker's configuration, certificates, time zones), nothing else of /etc or /var.
inline constexpr std::array<std::string_view, 13> kExecReadablePaths = {"/bin",
                                                                        "/sbin",
                                                                        "/lib",
                                                                        "/lib32",
                                                                        "/lib64",
                                                                        "/libx32",
                                                                        "/usr",
                                                                        "/etc/ld.so.cache",
                                                                        "/etc/ld.so.conf",
                                                                        "/etc/ld.so.conf.d",
                                                                        "/etc/ssl/certs",
                                                                        "/etc/localtime",
                                                                        "/usr/share/zoneinfo"};

// defaultDenyRead: directories of $HOME that hold toolchains and per-user installs, readable so
// that programs installed there still run (those that exist and are not symlinks).
inline constexpr std::array<std::string_view, 16> kHomeToolchainPaths = {
    ".local/bin", ".nvm",       ".volta",  ".fnm",   ".bun/bin", ".deno/bin", ".pyenv",
    ".rbenv",     ".cargo/bin", ".rustup", "go/bin", ".sdkman",  ".asdf",     ".local/share/mise",
    ".goenv",     ".jenv"};

// The tiers (policy/filesystem_rules.hpp), as resolved on this host:
//   readable    system dirs, cwd, home, allowRead (existing only)
//   executable  allowExecute (existing only)
//   writable    allowWrite (existing only; "/tmp": the host's /tmp)
//   creatable   allowWrite entries missing yet (outermost, outside writable/read-only/hidden)
//   read_only   denyWrite + always-protected (existing or not)
//   hidden      denyRead (existing only, nested entries collapsed)
struct FilesystemPlan : PathTiers {
  // Name patterns protected at any depth of a writable tree (policy/filesystem_rules.hpp).
  std::vector<std::string> protected_names;
  std::vector<std::string> protected_files;
  std::vector<std::string> creatable_protected;
  bool protect_bare_repositories = false;  // without allowGitConfig
  std::vector<std::string> warnings;       // entries ignored and why, for -d / -m output
  // The policy's own denyWrite entries (also in read_only and protected_names above), apart
  // from the always-protected set: what a nested run must find protected already.
  std::vector<std::string> denied_write_paths;
  std::vector<std::string> denied_write_names;
};

// Builds the plan. cwd and home must be absolute; own_config_files are fence's settings files
// in use (e.g. the -s file), protected like the built-in list. Every list is sorted, free of
// duplicates and of entries beneath a hidden entry. Throws ConfigError when an entry cannot be
// resolved or expanded (too many glob matches, symlink loop, lists over IPC limits).
FilesystemPlan build_filesystem_plan(const Config& config, const std::string& cwd,
                                     const std::string& home,
                                     const std::vector<std::string>& own_config_files);

}  // namespace fence::supervisor
