// The shell reader behind shell_words.hpp, shared by its two source files: shell_words.cpp
// (lists, commands, tokens, words) and shell_expansions.cpp (quotes, $ expansions, backquotes,
// arithmetic, here-document bodies). Private to them; the public API is shell_words.hpp.
// Its input is hostile: text a sandboxed program put in an execve's argv (see shell_words.hpp).
//
// A recursive-descent reader over one text: a lexer (next_token) shared by the nested lists
// of $( ... ) and ( ... ), so here-documents and positions stay consistent across them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "supervisor/policy/shell_words.hpp"

namespace fence::supervisor::shell_parser {

using Kind = ShellWord::Kind;

inline bool is_blank(char c) {
  return c == ' ' || c == '\t';
}
inline bool ends_word(char c) {
  return is_blank(c) || c == '\n' || c == ';' || c == '&' || c == '|' || c == '(' || c == ')' ||
         c == '<' || c == '>';
}
inline bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
inline bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
inline bool is_name_char(char c) {
  return is_name_start(c) || is_digit(c);
}

// Accumulates one word: its text, its fnmatch pattern, and what it can expand to.
class WordBuilder {
 public:
  void literal(char c) {
    text_ += c;
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') pattern_ += '\\';
    pattern_ += c;
    star_ = false;
  }
  void glob(std::string_view raw) {
    text_ += raw;
    pattern_ += raw;
    glob_ = true;
    star_ = false;
  }
  // quoted: inside "..." (one word); multi: "$@"-like, several words even when quoted.
  void expansion(std::string_view raw, bool quoted, bool multi) {
    text_ += raw;
    if (!star_) pattern_ += '*';  // "$a$b" is one '*': fewer stars, cheaper matching
    star_ = true;
    (quoted && !multi ? single_ : any_) = true;
  }
  void any_words() { any_ = true; }
  ShellWord finish() && {
    ShellWord w;
    w.text = std::move(text_);
    w.kind = any_ ? Kind::Any : glob_ ? Kind::Glob : single_ ? Kind::Single : Kind::Literal;
    if (w.kind == Kind::Single || w.kind == Kind::Glob) w.pattern = std::move(pattern_);
    return w;
  }

 private:
  std::string text_, pattern_;
  bool single_ = false, glob_ = false, any_ = false, star_ = false;
};

struct Token {
  enum class Type : std::uint8_t { End, Word, Separator, CaseEnd, Open, Close, Redirect, Math };
  Type type = Type::End;
  std::string_view op;   // spelling of an operator
  std::string_view raw;  // a Word as written
  ShellWord word;
};
using Type = Token::Type;

// What nested readers may still re-read, shared by every reader of one text.
struct RereadBudget {
  std::size_t left;
  explicit RereadBudget(std::size_t text_size)
      : left(kShellRereadFactor * text_size + kShellRereadSlack) {}
};

class Parser {
 public:
  Parser(std::string_view text, int nesting, std::vector<SimpleCommand>& out, RereadBudget& budget)
      : s_(text), nesting_(nesting), out_(out), budget_(budget) {}

  bool parse_all() { return parse_list(Until::End, nullptr); }
  bool split(std::vector<ShellWord>& words);
  bool scan_heredoc_body() {
    WordBuilder ignored;
    return read_double_quoted(ignored, true);
  }
  const std::string& error() const { return error_; }

 private:
  enum class Until : std::uint8_t { End, Paren, CaseItem };
  struct Heredoc {
    std::string delimiter;
    bool strip_tabs;
    bool expands;  // unquoted delimiter: $( ) and ` ` in the body run
  };
  // One level of nesting for the guard's lifetime.
  class Nested {
   public:
    explicit Nested(Parser& p) : p_(p) { ++p_.nesting_; }
    ~Nested() { --p_.nesting_; }
    Nested(const Nested&) = delete;
    Nested& operator=(const Nested&) = delete;
    bool too_deep() const { return p_.nesting_ > kMaxShellNesting; }

   private:
    Parser& p_;
  };

  // shell_words.cpp: lists and commands, the lexer, words.
  bool parse_list(Until until, bool* saw_esac);
  bool parse_case();
  bool read_array();
  bool next_token(Token& t);
  bool read_redirect(Token& t);
  bool read_word(Token& t);
  std::size_t bracket_end(std::size_t p);

  // shell_expansions.cpp: here-document bodies, quotes, expansions, arithmetic.
  bool read_heredoc_bodies();
  bool read_single_quoted(WordBuilder& w);
  bool read_double_quoted(WordBuilder& w, bool heredoc);
  bool read_dollar(WordBuilder& w, bool quoted);
  bool read_parameter(bool quoted, bool& multi);
  bool skip_unit(WordBuilder& ignored);
  bool read_ansi_c(WordBuilder& w);
  std::string ansi_c_escape();
  bool read_backtick(WordBuilder& w, bool quoted);
  bool read_arithmetic();
  bool read_arithmetic_command();
  bool arithmetic_ahead(std::size_t p) const;

  char at(std::size_t i) const { return i < s_.size() ? s_[i] : '\0'; }
  bool fail(std::string_view what) {
    if (error_.empty()) error_ = std::string(what) + " at offset " + std::to_string(pos_);
    return false;
  }
  bool fail_from(const Parser& sub) {
    if (error_.empty()) error_ = sub.error_.empty() ? "syntax error" : sub.error_;
    too_deep_ = too_deep_ || sub.too_deep_;
    return false;
  }
  bool fail_too_deep() {
    too_deep_ = true;
    return fail("shell text nested too deeply");
  }
  // Charges the budget for a nested reader of `text`; false (an error like too deep nesting)
  // when it is spent.
  bool charge_reread(std::string_view text) {
    if (text.size() <= budget_.left) {
      budget_.left -= text.size();
      return true;
    }
    too_deep_ = true;
    return fail("shell text re-read too often (nested (( )), backquotes or here-documents)");
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  int nesting_;
  std::vector<SimpleCommand>& out_;
  RereadBudget& budget_;
  std::vector<Heredoc> heredocs_;
  std::size_t no_bracket_before_ = 0;
  std::string error_;
  bool too_deep_ = false;
};

}  // namespace fence::supervisor::shell_parser
