// Shell text -> every simple command it could run, for the command policy (command_policy.hpp).
//
// HOSTILE INPUT: parse_shell() reads the shell text (sh -c TEXT, eval ARGS, su -c, trap, ...)
// found in the argv of an execve inside the sandbox, i.e. text the sandboxed program wrote
// (via CommandPolicy::check_exec), besides fence's own -c text; split_shell_words() reads the
// settings file's command rules and `env -S` strings from such an argv. Fuzzed by
// fuzz/fuzz_shell_words.cpp.
//
// Not a shell: a conservative reader of POSIX sh / bash syntax. It never runs or expands
// anything; it finds each simple command a shell could execute from the text, including those
// hidden in
//   - lists and pipelines: newline ; && || | |& &
//   - command substitutions $( ... ) and ` ... `, also inside "double quotes" and ${...}
//   - process substitutions <( ... ) >( ... ), subshells ( ... ), groups { ...; }
//   - if/while/until/for/case bodies, function bodies, and unquoted here-document bodies
// Dropped from a command's words: leading assignments (VAR=x cmd), reserved words in command
// position (if then else elif fi do done while until for select case esac in ! time {  }
// function coproc), redirections with their targets, comments.
// Arithmetic is read as bash reads it (as if double-quoted: $( ) inside '...' runs), and a
// (( ... )) command is ALSO read as the two subshells POSIX sh (dash, /bin/sh on Debian) sees.
//
// A word whose value is known only at run time is kept as written ("$x", "$(date)") and
// labelled with what it could become (ShellWord::Kind), so the policy can decide
// conservatively instead of guessing.
//
// SECURITY: text this reader cannot follow (unterminated quote, unbalanced parenthesis,
// nesting deeper than kMaxShellNesting, re-reading beyond kShellRereadFactor) is an error, never a
// best-effort partial result; the caller must treat it as a command it cannot vouch for.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fence::supervisor {

// Parentheses, substitutions and ${...} nested deeper than this are an error (bounds the
// recursion on hostile input).
inline constexpr int kMaxShellNesting = 32;
// Parts of the text are read again by a nested reader: a (( ... )) command's content (once as
// arithmetic, once as sh's two subshells), backquoted text, unquoted here-document bodies.
// Nested in each other, the re-reading would double per level; all of it together may total
// kShellRereadFactor times the text plus kShellRereadSlack bytes, and more is an error like
// nesting too deep (bounds the work and the output on hostile input).
inline constexpr std::size_t kShellRereadFactor = 4;
inline constexpr std::size_t kShellRereadSlack = 4096;

struct ShellWord {
  enum class Kind : std::uint8_t {
    Literal,  // known exactly: text ('quoted', \escaped and plain characters only)
    Single,   // exactly one word matching `pattern`: a quoted expansion ("$x", "v$(date)")
    Glob,     // zero or more words, each matching `pattern`: an unquoted * ? [...] pattern
    Any,      // any number of arbitrary words: unquoted $x or $(cmd), {a,b}, "$@"
  };
  std::string text;  // quotes removed; expansions kept as written
  Kind kind = Kind::Literal;
  std::string pattern;  // fnmatch(3) pattern for Single and Glob (literal parts escaped)

  bool literal() const { return kind == Kind::Literal; }
};

using SimpleCommand = std::vector<ShellWord>;

struct ShellParse {
  std::vector<SimpleCommand> commands;  // in source order; nested ones before their container
  std::string error;                    // set (and commands empty) when the text is unparsable
  bool ok() const { return error.empty(); }
};

// Every simple command `sh -c TEXT` could run, as words.
ShellParse parse_shell(std::string_view text);

struct ShellSplit {
  std::vector<ShellWord> words;
  std::string error;  // set for unbalanced quotes and for any operator (; | & < > ( ) newline)
  bool ok() const { return error.empty(); }
};

// Splits one command line into words with the same quoting rules, allowing no operators.
// Used for command rules ("docker run --privileged") and env -S strings.
ShellSplit split_shell_words(std::string_view text);

}  // namespace fence::supervisor
