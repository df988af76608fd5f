// libFuzzer harness for the shell reader under the command policy (supervisor/policy/
// shell_words.hpp): parse_shell() reads `sh -c TEXT` as the sandboxed program wrote it (an
// execve's argv), split_shell_words() reads command rules and `env -S` strings. The input is
// the text. Checks the header's promises and a few consequences of them; any violation aborts.
#include <fnmatch.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/policy/shell_words.hpp"

namespace {

using fence::supervisor::kMaxShellNesting;
using fence::supervisor::kShellRereadFactor;
using fence::supervisor::kShellRereadSlack;
using fence::supervisor::parse_shell;
using fence::supervisor::ShellParse;
using fence::supervisor::ShellSplit;
using fence::supervisor::ShellWord;
using fence::supervisor::split_shell_words;
using Kind = ShellWord::Kind;

void require_at(bool condition, const char* what, int line) {
  if (condition) return;
  std::fprintf(stderr, "invariant violated at line %d: %s\n", line, what);
  std::abort();
}
#define require(condition) require_at((condition), #condition, __LINE__)

bool same_word(const ShellWord& a, const ShellWord& b) {
  return a.text == b.text && a.kind == b.kind && a.pattern == b.pattern;
}

bool same_words(const std::vector<ShellWord>& a, const std::vector<ShellWord>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!same_word(a[i], b[i])) return false;
  }
  return true;
}

bool same_parse(const ShellParse& a, const ShellParse& b) {
  if (a.error != b.error || a.commands.size() != b.commands.size()) return false;
  for (std::size_t i = 0; i < a.commands.size(); ++i) {
    if (!same_words(a.commands[i], b.commands[i])) return false;
  }
  return true;
}

// Errors are built from fixed phrases and an offset: printable ASCII on one line.
bool printable_ascii(std::string_view s) {
  for (const char c : s) {
    if (c < 0x20 || c > 0x7E) return false;
  }
  return true;
}

std::size_t stars(std::string_view pattern) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\')
      ++i;
    else if (pattern[i] == '*')
      ++n;
  }
  return n;
}

// What ShellWord promises about a word's kind, text and pattern.
void check_word(const ShellWord& w) {
  switch (w.kind) {
    case Kind::Literal:
      // Known exactly; may be empty only when it was quoted ('' ""), which is not visible
      // here. No pattern.
      require(w.pattern.empty());
      break;
    case Kind::Single:
      // Expansions are kept as written, so the text is never empty; the pattern is the
      // literal parts escaped with '*' for each expansion, so it matches the text itself
      // (a '*' matches the expansion as written). Few stars only: fnmatch backtracks.
      require(!w.text.empty());
      require(!w.pattern.empty());
      require(w.pattern.find('*') != std::string::npos);
      if (stars(w.pattern) <= 4 && w.text.find('\0') == std::string::npos &&
          w.pattern.find('\0') == std::string::npos) {
        require(::fnmatch(w.pattern.c_str(), w.text.c_str(), 0) == 0);
      }
      break;
    case Kind::Glob:
      require(!w.text.empty());
      require(!w.pattern.empty());
      break;
    case Kind::Any:
      require(!w.text.empty());
      require(w.pattern.empty());
      break;
    default:
      require(false && "unknown word kind");
  }
}

ShellParse parse(std::string_view text) {
  try {
    return parse_shell(text);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parse_shell threw: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "parse_shell threw a non-std exception\n");
  }
  std::abort();  // the header reports unparsable text in ShellParse::error, never by throwing
}

ShellSplit split(std::string_view text) {
  try {
    return split_shell_words(text);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "split_shell_words threw: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "split_shell_words threw a non-std exception\n");
  }
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  // ---- parse_shell ----
  const ShellParse p = parse(text);
  require(same_parse(p, parse(text)));  // deterministic
  require(p.ok() == p.error.empty());
  if (!p.ok()) {
    require(p.commands.empty());  // an error, never a partial result
    require(printable_ascii(p.error));
  }
  std::size_t words = 0, text_bytes = 0;
  for (const auto& cmd : p.commands) {
    require(!cmd.empty());  // only non-empty simple commands are reported
    for (const ShellWord& w : cmd) {
      check_word(w);
      ++words;
      text_bytes += w.text.size();
    }
  }
  // Bounded output. Every word takes at least one byte of its own in some reading of the text,
  // and a byte shows up at most once per nesting level (in its word and in the text of each
  // enclosing expansion). The text is read once, and nested readers re-read at most
  // kShellRereadFactor times it plus kShellRereadSlack bytes (shell_words.hpp; the finding
  // fuzz/findings/shell_words_arith_amplification doubled it per level of (( $( ... ) ))).
  const std::size_t read = (kShellRereadFactor + 1) * (size + 1) + kShellRereadSlack;
  require(words <= read);
  require(text_bytes <= (kMaxShellNesting + 2) * read);

  // ---- split_shell_words ----
  const ShellSplit s = split(text);
  const ShellSplit again = split(text);
  require(s.error == again.error && same_words(s.words, again.words));
  require(s.ok() == s.error.empty());
  if (!s.ok()) {
    require(s.words.empty());
    require(printable_ascii(s.error));
  }
  require(s.words.size() <= size + 1);
  for (const ShellWord& w : s.words) check_word(w);

  // The two entry points read words alike: text that splits without operators is, after a
  // command word, that command's arguments (nested substitutions come first). A bare "{" in
  // argument position would start a group in parse_shell, so such text is left out; and
  // parse_shell's list is one nesting level deeper than split's, so it may hit the limit.
  if (s.ok()) {
    bool has_brace = false;
    for (const ShellWord& w : s.words) has_brace = has_brace || (w.literal() && w.text == "{");
    if (!has_brace) {
      const ShellParse q = parse("x " + std::string(text));
      if (!q.ok()) {
        require(q.error.find("nested too deeply") != std::string::npos);
      } else {
        require(!q.commands.empty());
        const auto& last = q.commands.back();
        require(last.size() == s.words.size() + 1);
        require(last[0].literal() && last[0].text == "x");
        for (std::size_t i = 0; i < s.words.size(); ++i)
          require(same_word(last[i + 1], s.words[i]));
      }
    }
  }
  return 0;
}
