// libFuzzer harness for the core.hooksPath reader (supervisor/config/git_layout.hpp):
// parse_git_hooks_paths() reads .git/config and ~/.gitconfig, which an earlier sandboxed run
// may have written. The input is the file's text. Any violation of the invariants aborts.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/config/git_layout.hpp"

namespace {

using fence::supervisor::parse_git_hooks_paths;

void require_at(bool condition, const char* what, int line) {
  if (condition) return;
  std::fprintf(stderr, "invariant violated at line %d: %s\n", line, what);
  std::abort();
}
#define require(condition) require_at((condition), #condition, __LINE__)

std::vector<std::string> hooks_paths(std::string_view text) {
  try {
    return parse_git_hooks_paths(text);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parse_git_hooks_paths threw: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "parse_git_hooks_paths threw a non-std exception\n");
  }
  std::abort();
}

// A value written the way git writes it: double-quoted, with \\ \" \n \t \b escaped.
std::string quoted_value(std::string_view value) {
  std::string out = "\"";
  for (const char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      default:
        out += c;
    }
  }
  return out + "\"";
}

bool mentions_hooks_path(std::string_view text) {
  static constexpr std::string_view kKey = "hookspath";
  if (text.size() < kKey.size()) return false;
  for (std::size_t i = 0; i + kKey.size() <= text.size(); ++i) {
    bool match = true;
    for (std::size_t k = 0; k < kKey.size() && match; ++k) {
      char c = text[i + k];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      match = c == kKey[k];
    }
    if (match) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::vector<std::string> values = hooks_paths(text);
  require(values == hooks_paths(text));  // deterministic

  // One value per line at most, each non-empty (the caller reads value[0]) and no longer than
  // the text; none without a hooksPath key.
  const std::size_t lines =
      static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
  require(values.size() <= lines);
  for (const std::string& v : values) {
    require(!v.empty());
    require(v.size() <= size);
  }
  if (!mentions_hooks_path(text)) require(values.empty());

  // The reader works line by line: a [core] section appended on lines of its own adds exactly
  // its value, last (git uses the last), and leaves the earlier ones as they were; unless the
  // text ends in a backslash, which continues its last line onto the appended ones.
  std::string appended(text);
  appended += "\n\n[core]\n\thooksPath = /appended\n";
  const bool continued = text.ends_with('\\') || text.ends_with("\\\r");
  std::vector<std::string> expected = values;
  expected.push_back("/appended");
  const std::vector<std::string> got = hooks_paths(appended);
  if (continued) {
    require(!got.empty() && got.back() == "/appended");
  } else {
    require(got == expected);
  }

  // Every value read back from the quoted form git would write for it is the same value.
  for (const std::string& v : values) {
    const std::vector<std::string> back =
        hooks_paths("[core]\n\thooksPath = " + quoted_value(v) + "\n");
    require(back.size() == 1 && back[0] == v);
  }
  return 0;
}
