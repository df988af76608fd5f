#include "supervisor/policy/path_rules.hpp"

#include <stdexcept>

#include "supervisor/policy/safe_text.hpp"

namespace fence::supervisor {
namespace {

// Index just past the UTF-8 character starting at `i`, so '?' consumes a whole character.
std::size_t next_char(std::string_view s, std::size_t i) {
  ++i;
  while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
  return i;
}

}  // namespace

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

}  // namespace fence::supervisor
