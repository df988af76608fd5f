// Commands that run other commands or shell text (env, sudo, timeout, xargs, sh -c, eval,
// find -exec, ...): what each such layer runs, for the command policy (command_policy.hpp).
// Internal to the policy; the list of wrappers covered is documented there.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/policy/shell_words.hpp"

namespace fence::supervisor::command_wrappers {

using Kind = ShellWord::Kind;
using Words = std::vector<ShellWord>;
using WordSpan = std::span<const ShellWord>;

// What one layer runs: a command (argv) or shell text.
struct Inner {
  Words argv;
  std::optional<ShellWord> shell_text;
};

// Commands that run other commands or shell text: what this layer runs. An unknown program
// is never unwrapped (the policy matches it as it stands).
std::vector<Inner> unwrap(WordSpan cmd);

// Words shared with the policy's matching and verdicts.
std::string_view base_name(std::string_view path);
std::string joined(WordSpan cmd);
ShellWord literal_word(std::string text);

}  // namespace fence::supervisor::command_wrappers
