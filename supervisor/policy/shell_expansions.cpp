// The quoting and expansion readers of the shell reader (shell_parser.hpp): '...', "...",
// $'...', $name, ${...}, $( ... ), backquotes, arithmetic, and unquoted here-document bodies.
// Each finds the commands a substitution inside would run and the word's run-time kind.
#include <algorithm>
#include <cstdint>
#include <iterator>
#include <string>
#include <utility>

#include "supervisor/policy/shell_parser.hpp"

namespace fence::supervisor::shell_parser {
namespace {

int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    cp = std::min<std::uint32_t>(cp, 0x10FFFF);
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

// At a newline: the bodies of the here-documents opened on the line just ended.
bool Parser::read_heredoc_bodies() {
  for (const Heredoc& h : heredocs_) {
    const std::size_t body = pos_;
    std::size_t end = s_.size();  // no delimiter line: the body runs to the end of the text
    while (pos_ < s_.size()) {
      const std::size_t line_start = pos_;
      std::size_t eol = s_.find('\n', pos_);
      if (eol == std::string_view::npos) eol = s_.size();
      std::string_view line = s_.substr(pos_, eol - pos_);
      if (h.strip_tabs) line.remove_prefix(std::min(line.find_first_not_of('\t'), line.size()));
      pos_ = std::min(eol + 1, s_.size());
      if (line == h.delimiter) {
        end = line_start;
        break;
      }
    }
    if (!h.expands) continue;
    const std::string_view text = s_.substr(body, end - body);
    if (!charge_reread(text)) return false;
    Parser sub(text, nesting_ + 1, out_, budget_);
    if (!sub.scan_heredoc_body()) return fail_from(sub);
  }
  heredocs_.clear();
  return true;
}

bool Parser::read_single_quoted(WordBuilder& w) {
  const std::size_t close = s_.find('\'', pos_ + 1);
  if (close == std::string_view::npos) return fail("unterminated single quote");
  for (std::size_t i = pos_ + 1; i < close; ++i) w.literal(s_[i]);
  pos_ = close + 1;
  return true;
}

// After the opening quote; a here-document body is the same without a closing quote.
bool Parser::read_double_quoted(WordBuilder& w, bool heredoc) {
  while (pos_ < s_.size()) {
    const char c = s_[pos_];
    const char d = at(pos_ + 1);
    bool ok = true;
    if (c == '"' && !heredoc) {
      ++pos_;
      return true;
    }
    if (c == '\\' && (d == '\n' || d == '$' || d == '`' || d == '\\' || (d == '"' && !heredoc))) {
      if (d != '\n') w.literal(d);
      pos_ += 2;
    } else if (c == '$') {
      ok = read_dollar(w, true);
    } else if (c == '`') {
      ok = read_backtick(w, true);
    } else {
      w.literal(c);
      ++pos_;
    }
    if (!ok) return false;
  }
  return heredoc || fail("unterminated double quote");
}

bool Parser::read_dollar(WordBuilder& w, bool quoted) {
  Nested nested(*this);
  if (nested.too_deep()) return fail_too_deep();
  const std::size_t start = pos_;
  const char d = at(pos_ + 1);
  auto expanded = [&](bool multi) {
    w.expansion(s_.substr(start, pos_ - start), quoted, multi);
    return true;
  };
  if (d == '(') {
    if (at(pos_ + 2) == '(' && arithmetic_ahead(pos_ + 3)) {
      pos_ += 3;
      return read_arithmetic() && expanded(false);
    }
    pos_ += 2;
    return parse_list(Until::Paren, nullptr) && expanded(false);
  }
  if (d == '{') {
    pos_ += 2;
    bool multi = false;
    return read_parameter(quoted, multi) && expanded(multi);
  }
  if (d == '\'' && !quoted) {
    pos_ += 2;
    return read_ansi_c(w);
  }
  if (d == '"' && !quoted) {  // $"...": a translatable string, otherwise "..."
    pos_ += 2;
    return read_double_quoted(w, false);
  }
  if (is_name_start(d)) {
    pos_ += 2;
    while (is_name_char(at(pos_))) ++pos_;
    return expanded(false);
  }
  if (is_digit(d) || (d != '\0' && std::string_view("@*#?-$!").find(d) != std::string_view::npos)) {
    pos_ += 2;
    return expanded(d == '@');
  }
  w.literal('$');
  ++pos_;
  return true;
}

// One step through the body of ${...} or ((...)): an escape, a double-quoted string, a
// substitution (recorded as a command, since it runs) or one plain character.
bool Parser::skip_unit(WordBuilder& ignored) {
  const char c = s_[pos_];
  if (c == '\\') {
    pos_ = std::min(pos_ + 2, s_.size());
    return true;
  }
  if (c == '"') {
    ++pos_;
    return read_double_quoted(ignored, false);
  }
  if (c == '$') return read_dollar(ignored, true);
  if (c == '`') return read_backtick(ignored, true);
  ++pos_;
  return true;
}

// After "${" up to the matching '}'. Anything with '@' ("${a[@]}", "${@:2}") may be many words.
bool Parser::read_parameter(bool quoted, bool& multi) {
  const std::size_t body = pos_;
  WordBuilder ignored;
  while (pos_ < s_.size()) {
    const char c = s_[pos_];
    bool ok = true;
    if (c == '}') {
      multi = s_.substr(body, pos_ - body).find('@') != std::string_view::npos;
      ++pos_;
      return true;
    }
    if (c == '\'' && !quoted) {
      ok = read_single_quoted(ignored);
    } else {
      ok = skip_unit(ignored);
    }
    if (!ok) return false;
  }
  return fail("unterminated ${");
}

// $'...' decoded like bash, so $'\x67it' is the word git. Bash ends the string at a NUL byte.
bool Parser::read_ansi_c(WordBuilder& w) {
  bool cut = false;
  while (pos_ < s_.size()) {
    const char c = s_[pos_++];
    if (c == '\'') return true;
    const std::string bytes = c == '\\' && pos_ < s_.size() ? ansi_c_escape() : std::string(1, c);
    for (const char b : bytes) {
      cut = cut || b == '\0';
      if (!cut) w.literal(b);
    }
  }
  return fail("unterminated $'");
}

std::string Parser::ansi_c_escape() {
  const char e = s_[pos_++];
  switch (e) {
    case 'a':
      return "\a";
    case 'b':
      return "\b";
    case 'e':
    case 'E':
      return "\x1b";
    case 'f':
      return "\f";
    case 'n':
      return "\n";
    case 'r':
      return "\r";
    case 't':
      return "\t";
    case 'v':
      return "\v";
    case '\\':
    case '\'':
    case '"':
    case '?':
      return std::string(1, e);
    case 'c': {
      const char x = at(pos_);
      if (pos_ < s_.size()) ++pos_;
      return std::string(1, static_cast<char>(x & 0x1f));
    }
    case 'x':
    case 'u':
    case 'U': {
      const int max_digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
      std::uint32_t value = 0;
      int n = 0;
      for (; n < max_digits && hex_value(at(pos_)) >= 0; ++n)
        value = value * 16 + hex_value(s_[pos_++]);
      if (n == 0) return std::string("\\") + e;
      if (e == 'x') return std::string(1, static_cast<char>(value));
      std::string out;
      append_utf8(out, value);
      return out;
    }
    default:
      break;
  }
  if (e < '0' || e > '7') return std::string("\\") + e;
  std::uint32_t value = static_cast<std::uint32_t>(e - '0');
  for (int n = 1; n < 3 && at(pos_) >= '0' && at(pos_) <= '7'; ++n)
    value = value * 8 + (s_[pos_++] - '0');
  return std::string(1, static_cast<char>(value & 0xff));
}

// Backquotes: the inside, with \` \\ \$ (and \" within double quotes) unescaped, is shell text.
bool Parser::read_backtick(WordBuilder& w, bool quoted) {
  const std::size_t start = pos_++;
  std::string inner;
  while (pos_ < s_.size()) {
    const char c = s_[pos_];
    const char d = at(pos_ + 1);
    if (c == '`') {
      ++pos_;
      if (!charge_reread(inner)) return false;
      Parser sub(inner, nesting_ + 1, out_, budget_);
      if (!sub.parse_all()) return fail_from(sub);
      w.expansion(s_.substr(start, pos_ - start), quoted, false);
      return true;
    }
    if (c == '\\' && (d == '`' || d == '\\' || d == '$' || (quoted && d == '"'))) {
      inner += d;
      pos_ += 2;
      continue;
    }
    inner += c;
    ++pos_;
  }
  return fail("unterminated backquote");
}

// Like bash: "((" starts arithmetic only if its matching close is "))"; otherwise it is two
// subshells. Looks ahead without side effects (quotes skipped, parentheses counted).
bool Parser::arithmetic_ahead(std::size_t p) const {
  int depth = 0;
  while (p < s_.size()) {
    const char c = s_[p];
    if (c == '\\') {
      p += 2;
      continue;
    }
    if (c == '\'' || c == '`') {
      p = s_.find(c, p + 1);
      if (p == std::string_view::npos) return false;
    } else if (c == '"') {
      for (++p; p < s_.size() && s_[p] != '"'; ++p) p += s_[p] == '\\' ? 1 : 0;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')') {
      if (depth == 0) return at(p + 1) == ')';
      --depth;
    }
    ++p;
  }
  return false;
}

// (( ... )) as a command is arithmetic for bash, ksh and zsh, but POSIX sh (dash) has no such
// command: there it is two subshells, whose commands run. Both readings count; the second is
// dropped if it does not parse (then sh refuses it too), unless it was too deeply nested.
bool Parser::read_arithmetic_command() {
  const std::size_t content = pos_;
  if (!read_arithmetic()) return false;
  std::vector<SimpleCommand> as_subshells;
  const std::string_view text = s_.substr(content, pos_ - 2 - content);
  if (!charge_reread(text)) return false;
  Parser sub(text, nesting_ + 1, as_subshells, budget_);
  if (sub.parse_all()) {
    std::move(as_subshells.begin(), as_subshells.end(), std::back_inserter(out_));
  } else if (sub.too_deep_) {
    return fail_from(sub);
  }
  return true;
}

// After "((" up to the matching "))": not commands for bash, but substitutions inside run.
bool Parser::read_arithmetic() {
  int depth = 0;
  WordBuilder ignored;
  while (pos_ < s_.size()) {
    const char c = s_[pos_];
    bool ok = true;
    if (c == ')' && depth == 0) {
      if (at(pos_ + 1) != ')') return fail("malformed arithmetic");
      pos_ += 2;
      return true;
    }
    if (c == '(' || c == ')') {
      depth += c == '(' ? 1 : -1;
      ++pos_;
    } else {
      // '\'' is a plain character here: bash reads (( )) as if double-quoted, so '$(cmd)' runs.
      ok = skip_unit(ignored);
    }
    if (!ok) return false;
  }
  return fail("unterminated arithmetic");
}

}  // namespace fence::supervisor::shell_parser
