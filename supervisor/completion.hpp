// `fence completion bash|zsh|fish`: a completion script for the shell, generated from the flag
// table (cli.hpp), so the completions cannot drift from the parser.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace fence::supervisor {

// The subcommands: words that, as fence's first argument, are not a command to run
// (`fence -- completion` runs a program named completion).
inline constexpr std::string_view kSubcommands[] = {"completion", "config", "trust", "untrust"};

// The script for `shell` ("bash", "zsh" or "fish"); nullopt for any other shell.
std::optional<std::string> completion_script(std::string_view shell);

}  // namespace fence::supervisor
