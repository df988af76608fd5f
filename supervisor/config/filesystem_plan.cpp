#include "supervisor/config/filesystem_plan.hpp"
#include "supervisor/policy/safe_text.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <span>
#include <stdexcept>
#include <utility>

#include "ipc/grammar.hpp"
#include "ipc/protocol.hpp"
#include "supervisor/config/git_layout.hpp"
#include "supervisor/config/paths.hpp"

namespace fence::supervisor {
namespace {

bool exists_nofollow(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// "**/NAME" with one component NAME (fnmatch characters allowed): the name at any depth.
std::optional<std::string> any_depth_name(const std::string& raw) {
  if (!raw.starts_with("**/")) return std::nullopt;
  const std::string name = raw.substr(3);
  if (name.empty() || name.find('/') != std::string::npos || name == "**" || name == "." ||
      name == "..")
    return std::nullopt;
  return name;
}

bool is_symlink(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

class PlanBuilder {
 public:
  PlanBuilder(const Config& config, const std::string& cwd, const std::string& home)
      : config_(config), cwd_(cwd), home_(home) {
    add_protected_names();
  }

  FilesystemPlan build(const std::vector<std::string>& own_config_files) {
    add_system_paths();
    add_existing("filesystem.allowRead", config_.filesystem.allow_read, plan_.readable);
    add_existing("filesystem.allowExecute", config_.filesystem.allow_execute, plan_.executable);
    add_writable();
    add_hidden();
    for (const std::string& raw : config_.filesystem.deny_write) {
      // "**/NAME" (any depth below the working directory): protected by name wherever it lies
      // in a writable tree, checked at each write (launcher/notify/protected_names.hpp) instead
      // of a walk of the whole tree at every start. Outside writable trees nothing is writable.
      if (const std::optional<std::string> name = any_depth_name(raw)) {
        plan_.protected_names.push_back(*name);
        plan_.denied_write_names.push_back(*name);
        continue;
      }
      for (Entry& e : expand("filesystem.denyWrite", raw, false)) {
        plan_.denied_write_paths.push_back(e.path);
        plan_.read_only.push_back(std::move(e.path));
      }
    }
    add_protected(cwd_);
    if (has_home() && home_ != cwd_) add_protected(home_);
    if (has_home()) {
      for (std::string_view name : kAlwaysProtectedHomeNames) {
        protect(home_ + "/" + std::string(name));
      }
    }
    for (const std::string& file : own_config_files) protect(file);
    finish();
    return std::move(plan_);
  }

 private:
  struct Entry {
    std::string path;
    std::vector<std::string> symlinks;  // followed while resolving (for globs: in the prefix)
    std::string lexical;                // a literal entry before its symlinks were followed
  };

  // Without a usable home (HOME unset or relative) only "~" entries fail; the rest still works.
  bool has_home() const { return !home_.empty() && home_[0] == '/'; }

  [[noreturn]] static void fail(std::string_view field, const std::string& what) {
    throw ConfigError(std::string(field) + ": " + what);
  }

  // One configured entry -> resolved paths. Literal entries resolve to one path (existing or
  // not); globs expand to existing matches. `grant` is true for the allow* tiers.
  std::vector<Entry> expand(std::string_view field, const std::string& raw, bool grant) {
    try {
      if (!has_glob(raw)) {
        ResolvedPath resolved = resolve_path(raw, cwd_, home_);
        return {Entry{std::move(resolved.path), std::move(resolved.symlinks),
                      std::move(resolved.lexical)}};
      }
      const std::string pattern = absolute_path(raw, cwd_, home_);
      const std::string prefix = glob_literal_prefix(pattern);
      const std::string rest = pattern.substr(prefix == "/" ? 1 : prefix.size() + 1);
      // The literal prefix is resolved like a literal entry; its symlinks are recorded on every
      // match so the planted-symlink check of allowWrite covers "build/*" as well as "build".
      const ResolvedPath resolved_prefix = resolve_path(prefix, cwd_, home_);
      std::string base = resolved_prefix.path;
      if (base != "/") base += '/';
      std::vector<Entry> out;
      for (const std::string& match : expand_glob(base + rest, kMaxGlobMatchesPerEntry)) {
        // SECURITY: a glob must not grant access through a symlink it happens to match (one
        // planted by an earlier sandboxed run could point anywhere). Deny tiers follow it: the
        // target is what must stay hidden / read-only.
        if (grant && is_symlink(match)) {
          plan_.warnings.push_back(std::string(field) + ": skipping symlink " + match +
                                   " matched by " + in_quotes(raw));
          continue;
        }
        out.push_back(Entry{normalize_path(match, cwd_, home_), resolved_prefix.symlinks});
      }
      return out;
    } catch (const std::invalid_argument& e) {
      fail(field, e.what());
    } catch (const std::runtime_error& e) {
      fail(field, e.what());
    }
  }

  void add_system_paths() {
    const FilesystemConfig& fs = config_.filesystem;
    // strictDenyRead: what running programs needs from the system, no more.
    auto system = fs.strict_deny_read ? std::span<const std::string_view>(kExecReadablePaths)
                                      : std::span<const std::string_view>(kSystemReadablePaths);
    for (std::string_view path : system) {
      struct stat st {};
      const std::string p(path);
      if (::stat(p.c_str(), &st) == 0) plan_.readable.push_back(normalize_path(p, cwd_, home_));
    }
    // defaultDenyRead: the working directory and $HOME only when listed; the toolchains of
    // $HOME (version managers, per-user installs) stay readable so programs still run.
    if (fs.default_deny_read || fs.strict_deny_read) {
      if (!has_home()) return;
      for (std::string_view rel : kHomeToolchainPaths) {
        const std::string p = home_ + "/" + std::string(rel);
        struct stat st {};
        if (::lstat(p.c_str(), &st) == 0 && !S_ISLNK(st.st_mode))
          plan_.readable.push_back(normalize_path(p, cwd_, home_));
      }
      return;
    }
    plan_.readable.push_back(normalize_path(cwd_, cwd_, home_));
    if (has_home()) plan_.readable.push_back(normalize_path(home_, cwd_, home_));
  }

  void add_existing(std::string_view field, const std::vector<std::string>& raws,
                    std::vector<std::string>& into) {
    for (const std::string& raw : raws) {
      for (Entry& e : expand(field, raw, true)) {
        if (exists_nofollow(e.path)) {
          into.push_back(std::move(e.path));
        } else {
          plan_.warnings.push_back(std::string(field) + ": " + e.path + " does not exist; ignored");
        }
      }
    }
  }

  void add_writable() {
    std::vector<Entry> entries;
    std::vector<std::string> trees;  // everything the sandbox will be able to write
    bool host_tmp = false;
    for (const std::string& raw : config_.filesystem.allow_write) {
      for (Entry& e : expand("filesystem.allowWrite", raw, true)) {
        if (e.path == "/tmp") {
          host_tmp = true;  // the launcher binds the host /tmp instead of a private tmpfs
          continue;
        }
        if (!e.lexical.empty()) trees.push_back(e.lexical);
        trees.push_back(e.path);
        entries.push_back(std::move(e));
      }
    }
    if (host_tmp) {
      trees.push_back("/tmp");
      plan_.writable.push_back("/tmp");
    }
    for (Entry& e : entries) {
      // SECURITY: a symlink inside a writable tree may have been planted by an earlier sandboxed
      // run ("build -> ~", "out -> /etc"); following it would widen this run's writes.
      if (const std::string* planted = planted_symlink(e.symlinks, cwd_, home_, trees)) {
        plan_.warnings.push_back("filesystem.allowWrite: " + e.path + " ignored: reached through " +
                                 "symlink " + *planted + " inside a writable directory");
        continue;
      }
      if (!exists_nofollow(e.path)) {
        // Inside a directory the sandbox has its own of, the command's mkdir lands there, not
        // on the host.
        // (/tmp and /run show the host's only where a readable path of the policy is bound:
        // the working directory, HOME, allowRead.)
        const char* own = nullptr;
        auto host_bound = [&](const std::string& p) {
          for (const auto* list : {&plan_.readable, &plan_.executable})
            for (const std::string& r : *list)
              if (ipc::is_within(p, r)) return true;
          return false;
        };
        for (const char* dir : {"/proc", "/sys", "/dev", "/run", "/tmp"}) {
          const std::string_view d = dir;
          if (!ipc::is_within(e.path, d)) continue;
          if ((d == "/tmp" || d == "/run") && (host_bound(e.path) || (host_tmp && d == "/tmp")))
            continue;
          own = dir;
        }
        if (own) {
          plan_.warnings.push_back("filesystem.allowWrite: " + e.path +
                                   " does not exist; it lies in the sandbox's own " + own +
                                   " (not the host's): ignored");
          continue;
        }
        // Made by the command if it wants it: fence creates nothing on the host.
        missing_writable_.push_back(e.path);
        plan_.creatable.push_back(std::move(e.path));
        continue;
      }
      plan_.writable.push_back(std::move(e.path));
    }
  }

  // What became of each missing allowWrite entry, once the tiers are settled.
  void report_missing_writable() {
    auto within = [](const std::string& p, const std::vector<std::string>& roots) {
      return std::any_of(roots.begin(), roots.end(),
                         [&](const std::string& r) { return ipc::is_within(p, r); });
    };
    for (const std::string& path : missing_writable_) {
      const std::string head = "filesystem.allowWrite: " + path + " does not exist yet; ";
      if (within(path, plan_.creatable)) {
        plan_.warnings.push_back(head + "the command may create it and write beneath it");
      } else if (within(path, plan_.writable)) {
        plan_.warnings.push_back(head + "it lies in a writable tree");
      } else {
        plan_.warnings.push_back(head + "ignored (inside a read-only or hidden path)");
      }
    }
  }

  void add_hidden() {
    for (const std::string& raw : config_.filesystem.deny_read) {
      for (Entry& e : expand("filesystem.denyRead", raw, false)) {
        if (exists_nofollow(e.path)) {
          plan_.hidden.push_back(std::move(e.path));
        } else {
          plan_.warnings.push_back("filesystem.denyRead: " + e.path +
                                   " does not exist; nothing to hide");
        }
      }
    }
  }

  void add_protected_names() {
    ProtectedNamePatterns patterns = protected_name_patterns(config_.filesystem.allow_git_config);
    plan_.protected_names = std::move(patterns.names);
    plan_.protected_files = std::move(patterns.files);
    plan_.creatable_protected = std::move(patterns.creatable);
    plan_.protect_bare_repositories = patterns.bare_repositories;
  }

  // Protects the resolved target and, when the name itself is reached through a symlink, the
  // name too: the launcher pins a symlink in place so it cannot be swapped for a directory.
  void protect(const std::string& raw) {
    ResolvedPath resolved = resolve_path(raw, cwd_, home_);
    if (resolved.lexical != resolved.path) plan_.read_only.push_back(std::move(resolved.lexical));
    plan_.read_only.push_back(std::move(resolved.path));
  }

  void protect_hooks_paths(const std::string& git_config, const std::string& worktree) {
    const std::optional<std::string> text = read_small_file(git_config);
    if (!text) return;
    for (const std::string& hooks : parse_git_hooks_paths(*text)) {
      if (hooks.find('\0') != std::string::npos ||
          (hooks[0] == '~' && hooks.size() > 1 && hooks[1] != '/')) {
        continue;  // not a path git could use either
      }
      plan_.read_only.push_back(normalize_path(hooks, worktree, home_));
    }
  }

  // SECURITY-RULES 7: the always-protected set of one directory (cwd or home).
  void add_protected(const std::string& dir) {
    for (std::string_view name : kAlwaysProtectedNames) protect(dir + "/" + std::string(name));
    const GitLayout layout = git_layout(dir, home_);
    if (layout.git_file) protect(*layout.git_file);
    for (const std::string& git_dir : layout.git_dirs) {
      protect(git_dir + "/hooks");
      protect(git_dir + "/commondir");
      if (!config_.filesystem.allow_git_config) protect(git_dir + "/config");
      protect_hooks_paths(git_dir + "/config", dir);
    }
    // Global git config may set core.hooksPath for every repository; relative values are
    // relative to the repository git runs in, i.e. the working directory.
    if (!has_home()) return;
    protect_hooks_paths(home_ + "/.gitconfig", cwd_);
    protect_hooks_paths(home_ + "/.config/git/config", cwd_);
  }

  void finish() {
    settle_tiers(plan_);
    report_missing_writable();
    check_ipc_limits();
  }

  // Fail here with a readable message rather than later in the IPC encoder.
  void check_ipc_limits() const {
    const std::pair<std::string_view, const std::vector<std::string>*> lists[] = {
        {"readable", &plan_.readable},   {"executable", &plan_.executable},
        {"writable", &plan_.writable},   {"creatable", &plan_.creatable},
        {"read-only", &plan_.read_only}, {"hidden", &plan_.hidden}};
    for (const auto& [name, list] : lists) {
      if (list->size() > ipc::kMaxPathCount) {
        throw ConfigError("filesystem: too many " + std::string(name) + " paths (" +
                          std::to_string(list->size()) + ", at most " +
                          std::to_string(ipc::kMaxPathCount) + ")");
      }
      for (const std::string& path : *list) {
        if (path.size() > ipc::kMaxPathLen) {
          throw ConfigError("filesystem: path longer than " + std::to_string(ipc::kMaxPathLen) +
                            " bytes: " + path.substr(0, 64) + "...");
        }
      }
    }
  }

  const Config& config_;
  const std::string& cwd_;
  const std::string& home_;
  FilesystemPlan plan_;
  std::vector<std::string> missing_writable_;  // allowWrite entries that do not exist yet
};

}  // namespace

FilesystemPlan build_filesystem_plan(const Config& config, const std::string& cwd,
                                     const std::string& home,
                                     const std::vector<std::string>& own_config_files) {
  try {
    return PlanBuilder(config, cwd, home).build(own_config_files);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string("filesystem: ") + e.what());
  }
}

}  // namespace fence::supervisor
