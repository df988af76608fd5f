#include "supervisor/config/paths.hpp"

#include "ipc/grammar.hpp"

#include "supervisor/policy/path_rules.hpp"

#include "supervisor/policy/safe_text.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <deque>
#include <filesystem>
#include <set>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace fence::supervisor {
namespace {

std::string join_child(const std::string& dir, std::string_view name) {
  std::string out = dir;
  if (out.empty() || out.back() != '/') out += '/';
  out += name;
  return out;
}

bool lstat_ok(const std::string& path, struct stat* st) {
  return ::lstat(path.c_str(), st) == 0;
}

// Filesystem walk for expand_glob(). State = (path, index of the next pattern component).
class GlobWalker {
 public:
  GlobWalker(std::string pattern, std::vector<std::string> components, std::size_t max_results,
             std::size_t max_visits)
      : pattern_(std::move(pattern)),
        comps_(std::move(components)),
        max_results_(max_results),
        max_visits_(max_visits) {}

  void walk(const std::string& path, std::size_t idx, bool is_base) {
    // Several "**" can reach the same state in many ways; visit each state once.
    if (!seen_.insert(std::to_string(idx) + '\n' + path).second) return;
    if (idx == comps_.size()) {
      results_.insert(path);
      if (results_.size() > max_results_) {
        throw std::runtime_error("glob " + in_quotes(pattern_) + " matches more than " +
                                 std::to_string(max_results_) + " paths; use a narrower pattern");
      }
      return;
    }
    const std::string& part = comps_[idx];
    if (part == "**") {
      walk(path, idx + 1, is_base);  // "**" matching zero components
      if (!descendable(path, is_base)) return;
      for (const std::string& child : children(path)) walk(child, idx, false);
      return;
    }
    if (!descendable(path, is_base)) return;
    if (has_glob(part)) {
      for (const std::string& child : children(path)) {
        const std::string_view name = std::string_view(child).substr(child.rfind('/') + 1);
        if (component_match(part, name)) walk(child, idx + 1, false);
      }
      return;
    }
    const std::string child = join_child(path, part);
    struct stat st {};
    if (lstat_ok(child, &st)) walk(child, idx + 1, false);
  }

  std::vector<std::string> results() const { return {results_.begin(), results_.end()}; }

 private:
  // SECURITY: below the literal prefix we never descend through a symlink: a tree the sandbox
  // could write must not redirect the expansion of a policy pattern somewhere else.
  static bool descendable(const std::string& path, bool is_base) {
    struct stat st {};
    const int rc = is_base ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st);
    return rc == 0 && S_ISDIR(st.st_mode);
  }

  std::vector<std::string> children(const std::string& dir) {
    std::vector<std::string> out;
    std::error_code ec;
    std::filesystem::directory_iterator it(dir, ec);
    if (ec) return out;  // unreadable directories simply contribute no matches
    for (const std::filesystem::directory_iterator end; it != end; it.increment(ec)) {
      if (ec) break;
      if (++visited_ > max_visits_) {
        throw std::runtime_error("glob " + in_quotes(pattern_) + " visits more than " +
                                 std::to_string(max_visits_) +
                                 " filesystem entries; use a narrower pattern");
      }
      out.push_back(join_child(dir, it->path().filename().native()));
    }
    return out;
  }

  std::string pattern_;
  std::vector<std::string> comps_;
  std::size_t max_results_;
  std::size_t max_visits_;
  std::size_t visited_ = 0;
  std::set<std::string> seen_;
  std::set<std::string> results_;
};

}  // namespace

ResolvedPath resolve_path(std::string_view raw, const std::string& cwd, const std::string& home) {
  const std::string absolute = absolute_path(raw, cwd, home);
  std::deque<std::string> pending;
  for (std::string_view comp : split_components(absolute)) pending.emplace_back(comp);

  ResolvedPath out;
  out.lexical = absolute;
  std::string resolved;  // "" stands for "/"
  bool exists = true;    // false once a component is missing: the rest is kept as written
  int hops = 0;
  while (!pending.empty()) {
    const std::string comp = std::move(pending.front());
    pending.pop_front();
    if (comp == ".") continue;
    if (comp == "..") {  // only symlink targets still contain ".."; resolved is physical here
      resolved.erase(resolved.empty() ? 0 : resolved.rfind('/'));
      continue;
    }
    std::string candidate = resolved + "/" + comp;
    struct stat st {};
    if (!exists || !lstat_ok(candidate, &st)) {
      exists = false;
      resolved = std::move(candidate);
      continue;
    }
    if (!S_ISLNK(st.st_mode)) {
      resolved = std::move(candidate);
      continue;
    }
    if (++hops > kMaxSymlinkHops) {
      throw std::invalid_argument("too many levels of symbolic links resolving " + in_quotes(raw));
    }
    std::error_code ec;
    const std::filesystem::path target = std::filesystem::read_symlink(candidate, ec);
    if (ec) {
      throw std::invalid_argument("cannot read symbolic link " + in_quotes(candidate) + ": " +
                                  ec.message());
    }
    out.symlinks.push_back(candidate);
    const std::string target_text = target.native();
    const std::vector<std::string_view> target_comps = split_components(target_text);
    for (auto it = target_comps.rbegin(); it != target_comps.rend(); ++it) {
      pending.emplace_front(*it);
    }
    if (!target_text.empty() && target_text[0] == '/') resolved.clear();
  }
  out.path = resolved.empty() ? "/" : resolved;
  return out;
}

std::string normalize_path(std::string_view raw, const std::string& cwd, const std::string& home) {
  return resolve_path(raw, cwd, home).path;
}

std::vector<std::string> expand_glob(const std::string& absolute_pattern, std::size_t max_results,
                                     std::size_t max_visits) {
  if (absolute_pattern.empty() || absolute_pattern[0] != '/') {
    throw std::invalid_argument("glob pattern is not absolute: " + in_quotes(absolute_pattern));
  }
  if (absolute_pattern.find('\0') != std::string::npos) {
    throw std::invalid_argument("glob pattern contains a NUL byte");
  }
  std::vector<std::string> comps;
  std::size_t first_glob = std::string::npos;
  for (std::string_view comp : split_components(absolute_pattern)) {
    if (first_glob == std::string::npos && has_glob(comp)) first_glob = comps.size();
    comps.emplace_back(comp);
  }
  if (first_glob == std::string::npos) {
    struct stat st {};
    const std::string literal = lexically_normalize(absolute_pattern);
    if (lstat_ok(literal, &st)) return {literal};
    return {};
  }
  const std::string base = glob_literal_prefix(absolute_pattern);
  GlobWalker walker(absolute_pattern, std::move(comps), max_results, max_visits);
  walker.walk(base, first_glob, true);
  return walker.results();
}

const std::string* planted_symlink(const std::vector<std::string>& symlinks, const std::string& cwd,
                                   const std::string& home,
                                   const std::vector<std::string>& writable_trees) {
  for (const std::string& link : symlinks) {
    if (ipc::is_within(link, cwd) || ipc::is_within(link, home) || ipc::is_within(link, "/tmp"))
      return &link;
    for (const std::string& tree : writable_trees)
      if (link != tree && ipc::is_within(link, tree)) return &link;
  }
  return nullptr;
}

}  // namespace fence::supervisor
