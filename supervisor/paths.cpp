#include "supervisor/paths.hpp"

#include "supervisor/safe_text.hpp"

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

std::vector<std::string_view> split_components(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos < path.size()) {
    const std::size_t slash = path.find('/', pos);
    const std::size_t end = slash == std::string_view::npos ? path.size() : slash;
    if (end > pos) out.push_back(path.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

std::string join_child(const std::string& dir, std::string_view name) {
  std::string out = dir;
  if (out.empty() || out.back() != '/') out += '/';
  out += name;
  return out;
}

// Index just past the UTF-8 character starting at `i`, so '?' consumes a whole character.
std::size_t next_char(std::string_view s, std::size_t i) {
  ++i;
  while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
  return i;
}

// '*' / '?' matching inside one component. Classic greedy match with a single backtrack point:
// linear in practice and never exponential.
bool component_match(std::string_view pattern, std::string_view name) {
  std::size_t pi = 0;
  std::size_t si = 0;
  std::size_t star = std::string_view::npos;
  std::size_t mark = 0;
  while (si < name.size()) {
    if (pi < pattern.size() && pattern[pi] == '?') {
      ++pi;
      si = next_char(name, si);
    } else if (pi < pattern.size() && pattern[pi] == '*') {
      star = pi++;
      mark = si;
    } else if (pi < pattern.size() && pattern[pi] == name[si]) {
      ++pi;
      ++si;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      mark = next_char(name, mark);
      si = mark;
    } else {
      return false;
    }
  }
  while (pi < pattern.size() && pattern[pi] == '*') ++pi;
  return pi == pattern.size();
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

void validate_path_syntax(std::string_view raw) {
  if (raw.empty()) throw std::invalid_argument("path is empty");
  if (raw.find('\0') != std::string_view::npos) {
    throw std::invalid_argument("path contains a NUL byte");
  }
  if (raw[0] == '~' && raw.size() > 1 && raw[1] != '/') {
    throw std::invalid_argument(
        "\"~user\" paths are not supported; use \"~/...\" or an absolute "
        "path: " +
        in_quotes(raw));
  }
  bool after_glob = false;
  for (std::string_view comp : split_components(raw)) {
    if (after_glob && comp == "..") {
      throw std::invalid_argument("\"..\" after a glob component is not supported: " +
                                  in_quotes(raw));
    }
    after_glob = after_glob || has_glob(comp);
  }
}

std::string lexically_normalize(std::string_view absolute) {
  std::vector<std::string_view> stack;
  for (std::string_view comp : split_components(absolute)) {
    if (comp == ".") continue;
    if (comp == "..") {
      if (!stack.empty()) stack.pop_back();  // ".." at the root stays at the root
      continue;
    }
    stack.push_back(comp);
  }
  if (stack.empty()) return "/";
  std::string out;
  for (std::string_view comp : stack) {
    out += '/';
    out += comp;
  }
  return out;
}

std::string absolute_path(std::string_view raw, const std::string& cwd, const std::string& home) {
  validate_path_syntax(raw);
  std::string combined;
  if (raw[0] == '~') {
    if (home.empty() || home[0] != '/') {
      throw std::invalid_argument("cannot expand " + in_quotes(raw) +
                                  ": home directory is not an absolute path");
    }
    combined = home + std::string(raw.substr(1));
  } else if (raw[0] == '/') {
    combined = std::string(raw);
  } else {
    if (cwd.empty() || cwd[0] != '/') {
      throw std::invalid_argument("cannot resolve relative path " + in_quotes(raw) +
                                  ": working directory is not an absolute path");
    }
    combined = cwd + "/" + std::string(raw);
  }
  return lexically_normalize(combined);
}

ResolvedPath resolve_path(std::string_view raw, const std::string& cwd, const std::string& home) {
  const std::string absolute = absolute_path(raw, cwd, home);
  std::deque<std::string> pending;
  for (std::string_view comp : split_components(absolute)) pending.emplace_back(comp);

  ResolvedPath out;
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

bool has_glob(std::string_view text) {
  return text.find_first_of("*?") != std::string_view::npos;
}

bool glob_match(std::string_view pattern, std::string_view path) {
  const bool pattern_absolute = !pattern.empty() && pattern[0] == '/';
  const bool path_absolute = !path.empty() && path[0] == '/';
  if (pattern_absolute != path_absolute) return false;
  const std::vector<std::string_view> p = split_components(pattern);
  const std::vector<std::string_view> s = split_components(path);
  const std::size_t m = p.size();
  const std::size_t n = s.size();
  // dp[i * (n + 1) + j]: pattern components p[i..] match path components s[j..].
  std::vector<char> dp((m + 1) * (n + 1), 0);
  auto at = [n](std::size_t i, std::size_t j) { return i * (n + 1) + j; };
  dp[at(m, n)] = 1;
  for (std::size_t i = m; i-- > 0;) {
    for (std::size_t j = n + 1; j-- > 0;) {
      if (p[i] == "**") {
        dp[at(i, j)] = dp[at(i + 1, j)] || (j < n && dp[at(i, j + 1)]);
      } else {
        dp[at(i, j)] = j < n && dp[at(i + 1, j + 1)] && component_match(p[i], s[j]);
      }
    }
  }
  return dp[at(0, 0)] != 0;
}

std::string glob_literal_prefix(std::string_view absolute_pattern) {
  std::string out;
  for (std::string_view comp : split_components(absolute_pattern)) {
    if (has_glob(comp)) break;
    out += '/';
    out += comp;
  }
  return out.empty() ? "/" : out;
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

}  // namespace fence::supervisor
