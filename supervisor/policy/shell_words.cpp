// Lists, commands and words of the shell reader (shell_parser.hpp); its quoting and expansion
// readers are in shell_expansions.cpp.
#include "supervisor/policy/shell_words.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "supervisor/policy/shell_parser.hpp"

namespace fence::supervisor::shell_parser {
namespace {

// Skipped in command position. case/for/select/function/time get their own handling.
constexpr std::array<std::string_view, 15> kReservedWords = {
    "if",    "then", "else", "elif", "fi", "do",   "done",  "while",
    "until", "!",    "{",    "}",    "in", "esac", "coproc"};

// NAME=..., NAME+=..., NAME[sub]=... as written (unquoted): a variable assignment.
bool is_assignment(std::string_view raw) {
  if (raw.empty() || !is_name_start(raw[0])) return false;
  std::size_t i = 1;
  while (i < raw.size() && is_name_char(raw[i])) ++i;
  if (i < raw.size() && raw[i] == '[') {
    i = raw.find(']', i);
    if (i == std::string_view::npos) return false;
    ++i;
  }
  if (i < raw.size() && raw[i] == '+') ++i;
  return i < raw.size() && raw[i] == '=';
}

}  // namespace

bool Parser::parse_list(Until until, bool* saw_esac) {
  Nested nested(*this);
  if (nested.too_deep()) return fail_too_deep();
  SimpleCommand cmd;
  bool header = false;     // rest of a for/select header: names and values, not a command
  bool skip_name = false;  // the name after `function`
  bool after_time = false;
  bool want_target = false;  // a redirection operator was read; its target comes next
  auto flush = [&] {
    if (!cmd.empty()) out_.push_back(std::move(cmd));
    cmd.clear();
    header = skip_name = after_time = false;
  };
  for (;;) {
    Token t;
    if (!next_token(t)) return false;
    if (want_target && t.type != Type::Word) return fail("redirection without a target");
    switch (t.type) {
      case Type::Word: {
        const bool bare = t.word.literal() && t.raw == t.word.text;  // no quotes, no escapes
        if (header && !want_target && bare && t.raw == "do") header = false;  // `for x do`
        if (want_target || header || skip_name) {
          want_target = skip_name = false;
          break;
        }
        if (cmd.empty()) {
          if (bare && after_time && (t.raw == "-p" || t.raw == "--")) break;
          after_time = false;
          if (bare && t.raw == "case") {
            if (!parse_case()) return false;
            break;
          }
          if (bare && (t.raw == "for" || t.raw == "select")) header = true;
          if (bare && t.raw == "function") skip_name = true;
          if (bare && t.raw == "time") after_time = true;
          if (bare && t.raw == "esac" && until == Until::CaseItem) {
            *saw_esac = true;
            return true;
          }
          const bool reserved = std::find(kReservedWords.begin(), kReservedWords.end(), t.raw) !=
                                kReservedWords.end();
          if (header || skip_name || after_time || (bare && reserved)) break;
          if (is_assignment(t.raw)) {
            if (t.raw.back() == '=' && at(pos_) == '(' && !read_array()) return false;
            break;
          }
        } else if (bare && t.raw == "{") {
          flush();  // `coproc NAME { ...; }`, `f() { ...; }`: a group starts a new command
          break;
        }
        cmd.push_back(std::move(t.word));
        break;
      }
      case Type::Separator:
        flush();
        break;
      case Type::CaseEnd:
        flush();
        if (until == Until::CaseItem) return true;
        break;
      case Type::Open:
        flush();
        if (!parse_list(Until::Paren, nullptr)) return false;
        break;
      case Type::Close:
        flush();
        if (until == Until::Paren) return true;
        return fail("unbalanced ')'");
      case Type::Redirect:
        want_target = t.op != "<<" && t.op != "<<-";  // a here-document read its delimiter
        break;
      case Type::Math:
        break;
      case Type::End:
        flush();
        if (until == Until::Paren) return fail("unbalanced '('");
        if (until == Until::CaseItem) return fail("case without esac");
        return true;
    }
  }
}

// After `case`: WORD in [(] PATTERN [| PATTERN]... ) LIST ;; ... esac
bool Parser::parse_case() {
  Token t;
  if (!next_token(t)) return false;
  if (t.type != Type::Word) return fail("case without a word");
  do {
    if (!next_token(t)) return false;
  } while (t.type == Type::Separator && t.op == "\n");
  if (t.type != Type::Word || t.raw != "in") return fail("case without in");
  for (;;) {
    do {
      if (!next_token(t)) return false;
    } while (t.type == Type::Separator && t.op == "\n");
    if (t.type == Type::Word && t.raw == "esac") return true;
    if (t.type == Type::Open && !next_token(t)) return false;
    while (t.type == Type::Word || (t.type == Type::Separator && t.op == "|")) {
      if (!next_token(t)) return false;
    }
    if (t.type != Type::Close) return fail("case pattern without ')'");
    bool esac = false;
    if (!parse_list(Until::CaseItem, &esac)) return false;
    if (esac) return true;
  }
}

// NAME=( a b c ): the elements are words, not a subshell (their substitutions still count).
bool Parser::read_array() {
  ++pos_;
  for (;;) {
    Token t;
    if (!next_token(t)) return false;
    if (t.type == Type::Close) return true;
    if (t.type != Type::Word && !(t.type == Type::Separator && t.op == "\n")) {
      return fail("malformed array assignment");
    }
  }
}

bool Parser::split(std::vector<ShellWord>& words) {
  for (;;) {
    Token t;
    if (!next_token(t)) return false;
    if (t.type == Type::End) return true;
    if (t.type != Type::Word) return fail("unexpected shell operator");
    words.push_back(std::move(t.word));
  }
}

bool Parser::next_token(Token& t) {
  t = Token{};
  for (;;) {
    while (pos_ < s_.size() && (is_blank(s_[pos_]) || (s_[pos_] == '\\' && at(pos_ + 1) == '\n'))) {
      pos_ += is_blank(s_[pos_]) ? 1 : 2;
    }
    if (pos_ >= s_.size()) return true;
    if (s_[pos_] != '#') break;
    while (pos_ < s_.size() && s_[pos_] != '\n') ++pos_;
  }
  const char c = s_[pos_];
  const char d = at(pos_ + 1);
  auto op = [&](Type type, std::size_t len) {
    t.type = type;
    t.op = s_.substr(pos_, len);
    pos_ += len;
    return true;
  };
  switch (c) {
    case '\n':
      op(Type::Separator, 1);
      return read_heredoc_bodies();
    case ';':
      if (d == ';') return op(Type::CaseEnd, at(pos_ + 2) == '&' ? 3 : 2);
      return d == '&' ? op(Type::CaseEnd, 2) : op(Type::Separator, 1);
    case '&':
      if (d == '&') return op(Type::Separator, 2);
      if (d == '>') return op(Type::Redirect, at(pos_ + 2) == '>' ? 3 : 2);
      return op(Type::Separator, 1);
    case '|':
      return op(Type::Separator, d == '|' || d == '&' ? 2 : 1);
    case '(':
      if (d == '(' && arithmetic_ahead(pos_ + 2)) {
        t.type = Type::Math;
        pos_ += 2;
        return read_arithmetic_command();
      }
      return op(Type::Open, 1);
    case ')':
      return op(Type::Close, 1);
    default:
      break;
  }
  std::size_t p = pos_;
  while (is_digit(at(p))) ++p;  // an fd number: 2>&1
  if ((at(p) == '<' || at(p) == '>') && at(p + 1) != '(') {
    pos_ = p;
    return read_redirect(t);
  }
  return read_word(t);
}

bool Parser::read_redirect(Token& t) {
  static constexpr std::array<std::string_view, 10> kOps = {"<<<", "<<-", "<<", "<>", "<&",
                                                            "<",   ">>",  ">&", ">|", ">"};
  for (std::string_view o : kOps) {
    if (s_.substr(pos_, o.size()) != o) continue;
    t.type = Type::Redirect;
    t.op = s_.substr(pos_, o.size());
    pos_ += o.size();
    if (o != "<<" && o != "<<-") return true;
    while (is_blank(at(pos_))) ++pos_;
    if (pos_ >= s_.size() || ends_word(s_[pos_])) return fail("here-document without delimiter");
    Token delimiter;
    if (!read_word(delimiter)) return false;
    const bool quoted = delimiter.raw.find_first_of("'\"\\") != std::string_view::npos;
    heredocs_.push_back({std::move(delimiter.word.text), o == "<<-", !quoted});
    return true;
  }
  return fail("unknown redirection");
}

bool Parser::read_word(Token& t) {
  const std::size_t start = pos_;
  WordBuilder w;
  bool brace_open = false, brace_list = false;
  while (pos_ < s_.size()) {
    const char c = s_[pos_];
    if ((c == '<' || c == '>') && at(pos_ + 1) == '(') {  // process substitution: one path
      const std::size_t from = pos_;
      pos_ += 2;
      if (!parse_list(Until::Paren, nullptr)) return false;
      w.expansion(s_.substr(from, pos_ - from), true, false);
      continue;
    }
    if (ends_word(c)) break;
    bool ok = true;
    if (c == '\\') {
      if (at(pos_ + 1) != '\n' && pos_ + 1 < s_.size()) w.literal(s_[pos_ + 1]);
      if (pos_ + 1 >= s_.size()) w.literal('\\');
      pos_ = std::min(pos_ + 2, s_.size());
    } else if (c == '\'') {
      ok = read_single_quoted(w);
    } else if (c == '"') {
      ++pos_;
      ok = read_double_quoted(w, false);
    } else if (c == '$') {
      ok = read_dollar(w, false);
    } else if (c == '`') {
      ok = read_backtick(w, false);
    } else if (c == '*' || c == '?') {
      w.glob(s_.substr(pos_++, 1));
    } else if (const std::size_t close = c == '[' ? bracket_end(pos_) : 0; close != 0) {
      w.glob(s_.substr(pos_, close + 1 - pos_));
      pos_ = close + 1;
    } else {
      if (c == '{') brace_open = true;
      if (brace_open && (c == ',' || (c == '.' && at(pos_ + 1) == '.'))) brace_list = true;
      if (c == '}' && brace_list) w.any_words();  // {a,b} and {1..9}: brace expansion
      w.literal(c);
      ++pos_;
    }
    if (!ok) return false;
  }
  t.type = Type::Word;
  t.raw = s_.substr(start, pos_ - start);
  t.word = std::move(w).finish();
  return true;
}

// The ']' closing a bracket expression that starts at p, or 0 when '[' is a plain character.
// A failed search is remembered, so a word of many '[' stays linear.
std::size_t Parser::bracket_end(std::size_t p) {
  if (p < no_bracket_before_) return 0;
  std::size_t q = p + 1;
  if (at(q) == '!' || at(q) == '^') ++q;
  if (at(q) == ']') ++q;
  for (; q < s_.size(); ++q) {
    const char c = s_[q];
    if (c == ']') return q;
    if (ends_word(c) || c == '\'' || c == '"' || c == '\\' || c == '$' || c == '`') break;
  }
  no_bracket_before_ = q;
  return 0;
}

}  // namespace fence::supervisor::shell_parser

namespace fence::supervisor {

ShellParse parse_shell(std::string_view text) {
  ShellParse result;
  shell_parser::RereadBudget budget(text.size());
  shell_parser::Parser parser(text, 0, result.commands, budget);
  if (!parser.parse_all()) {
    result.error = parser.error().empty() ? "syntax error" : parser.error();
    result.commands.clear();
  }
  return result;
}

ShellSplit split_shell_words(std::string_view text) {
  ShellSplit result;
  std::vector<SimpleCommand> nested;  // commands inside $( ) of a rule are not rules
  shell_parser::RereadBudget budget(text.size());
  shell_parser::Parser parser(text, 0, nested, budget);
  if (!parser.split(result.words)) {
    result.error = parser.error().empty() ? "syntax error" : parser.error();
    result.words.clear();
  }
  return result;
}

}  // namespace fence::supervisor
