#include "supervisor/config/git_layout.hpp"

#include <sys/stat.h>

#include <fstream>
#include <stdexcept>

#include "supervisor/config/paths.hpp"

namespace fence::supervisor {
namespace {

constexpr std::size_t kMaxGitFileSize = 1024 * 1024;

bool is_regular_file(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string trim(std::string_view s) {
  const std::size_t begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return {};
  const std::size_t end = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(begin, end - begin + 1));
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// A git config value: quotes removed, escapes decoded, stops at an unquoted comment, unquoted
// leading and trailing whitespace dropped.
std::string parse_git_value(std::string_view raw) {
  const std::size_t start = raw.find_first_not_of(" \t");
  if (start == std::string_view::npos) return {};
  raw.remove_prefix(start);
  std::string out;
  std::size_t keep = 0;  // length without trailing unquoted whitespace
  bool quoted = false;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c == '"') {
      quoted = !quoted;
      keep = out.size();
    } else if (!quoted && (c == '#' || c == ';')) {
      break;
    } else if (c == '\\' && i + 1 < raw.size()) {
      const char e = raw[++i];
      out += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'b' ? '\b' : e;
      keep = out.size();
    } else {
      out += c;
      if (quoted || (c != ' ' && c != '\t')) keep = out.size();
    }
  }
  out.resize(keep);
  return out;
}

}  // namespace

std::optional<std::string> read_small_file(const std::string& path) {
  if (!is_regular_file(path)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string text(kMaxGitFileSize + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxGitFileSize) return std::nullopt;
  return text;
}

GitLayout git_layout(const std::string& worktree, const std::string& home) {
  GitLayout layout;
  const std::string dot_git = worktree + "/.git";
  if (!is_regular_file(dot_git)) {
    layout.git_dirs.push_back(dot_git);  // directory, symlink, or not created yet
    return layout;
  }
  layout.git_file = dot_git;
  const std::optional<std::string> text = read_small_file(dot_git);
  if (!text || !text->starts_with("gitdir:")) return layout;
  const std::string gitdir = trim(std::string_view(*text).substr(7));
  if (gitdir.empty()) return layout;
  try {
    const std::string resolved = normalize_path(gitdir, worktree, home);
    layout.git_dirs.push_back(resolved);
    if (const std::optional<std::string> common = read_small_file(resolved + "/commondir")) {
      const std::string common_dir = trim(*common);
      if (!common_dir.empty())
        layout.git_dirs.push_back(normalize_path(common_dir, resolved, home));
    }
  } catch (const std::invalid_argument&) {
    // Not a location git could use either (NUL byte, "~user", symlink loop): nothing to add.
  }
  return layout;
}

std::vector<std::string> parse_git_hooks_paths(std::string_view text) {
  std::vector<std::string> out;
  bool in_core = false;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string line = trim(text.substr(pos, end - pos));
    pos = end + 1;
    if (!line.empty() && line[0] == '[') {
      const std::size_t close = line.find(']');
      if (close == std::string::npos) {
        in_core = false;
        continue;
      }
      // `[core]` only; `[core "x"]` would be a subsection, which core does not have.
      in_core = ascii_lower(trim(std::string_view(line).substr(1, close - 1))) == "core";
      line = trim(std::string_view(line).substr(close + 1));  // `[core] hooksPath = x` is valid
    }
    if (!in_core || line.empty() || line[0] == '#' || line[0] == ';') continue;
    const std::size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    if (ascii_lower(trim(std::string_view(line).substr(0, eq))) != "hookspath") continue;
    std::string value = parse_git_value(std::string_view(line).substr(eq + 1));
    if (!value.empty()) out.push_back(std::move(value));
  }
  return out;
}

}  // namespace fence::supervisor
