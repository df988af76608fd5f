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
// `rest` starts right after a key's '=' and runs to the end of the text. The value ends at the
// first newline that is not escaped: a backslash at the end of a line continues the value on
// the next one, as git reads it (also inside quotes, and before "\r\n").
struct GitValue {
  std::string text;
  std::size_t end = 0;  // offset in `rest` of the newline that ended it (or rest.size())
};

GitValue parse_git_value(std::string_view rest) {
  GitValue v;
  std::size_t keep = 0;  // length without trailing unquoted whitespace
  bool quoted = false, comment = false, started = false;
  std::size_t i = 0;
  for (; i < rest.size() && rest[i] != '\n'; ++i) {
    const char c = rest[i];
    if (comment) continue;  // to the end of the line, whatever it holds
    if (!started && (c == ' ' || c == '\t' || c == '\r')) continue;
    started = true;
    if (c == '"') {
      quoted = !quoted;
      keep = v.text.size();
    } else if (!quoted && (c == '#' || c == ';')) {
      comment = true;
    } else if (c == '\\' && i + 1 < rest.size()) {
      const char e = rest[++i];
      if (e == '\n') continue;                                        // continued line
      if (e == '\r' && i + 1 < rest.size() && rest[i + 1] == '\n') {  // continued, CRLF
        ++i;
        continue;
      }
      v.text += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'b' ? '\b' : e;
      keep = v.text.size();
    } else if (!(c == '\r' && (i + 1 == rest.size() || rest[i + 1] == '\n'))) {  // not CRLF's CR
      v.text += c;
      if (quoted || (c != ' ' && c != '\t')) keep = v.text.size();
    }
  }
  v.text.resize(keep);
  v.end = i;
  return v;
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
    std::string_view line = text.substr(pos, end - pos);
    const std::size_t line_start = pos;
    pos = end + 1;
    std::size_t from = 0;  // where the key may start in `line`
    const std::string head = trim(line);
    if (!head.empty() && head[0] == '[') {
      const std::size_t open = line.find('[');
      const std::size_t close = line.find(']', open);
      if (close == std::string_view::npos) {
        in_core = false;
        continue;
      }
      // `[core]` only; `[core "x"]` would be a subsection, which core does not have.
      in_core = ascii_lower(trim(line.substr(open + 1, close - open - 1))) == "core";
      from = close + 1;  // `[core] hooksPath = x` is valid
    }
    const std::string rest = trim(line.substr(from));
    if (!in_core || rest.empty() || rest[0] == '#' || rest[0] == ';') continue;
    const std::size_t eq = line.find('=', from);
    if (eq == std::string_view::npos) continue;
    if (ascii_lower(trim(line.substr(from, eq - from))) != "hookspath") continue;
    // The value may continue over the next lines.
    GitValue value = parse_git_value(text.substr(line_start + eq + 1));
    pos = line_start + eq + 1 + value.end + 1;
    if (!value.text.empty()) out.push_back(std::move(value.text));
  }
  return out;
}

}  // namespace fence::supervisor
