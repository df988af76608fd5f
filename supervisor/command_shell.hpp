// The shell that runs `-c STRING`: bash when the host has /bin/bash (what scripts written for
// fence's users expect: [[ ]], arrays, pipefail), else /bin/sh; `--shell user` takes $SHELL,
// `--shell-login` adds -l so the shell reads its login files.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/cli.hpp"

namespace fence::supervisor {

// The shells `--shell user` accepts as $SHELL, by file name.
inline constexpr std::string_view kUserShellNames[] = {"sh", "bash", "zsh", "ksh", "dash", "fish"};

// The argv that runs `text` under the shell `cli` asks for. `user_shell` is $SHELL (nullopt when
// unset). Throws UsageError when `--shell user` is asked for and $SHELL is unset, relative, not
// one of kUserShellNames, or not an executable regular file.
std::vector<std::string> shell_command_argv(const CliOptions& cli, const std::string& text,
                                            const std::optional<std::string>& user_shell);

}  // namespace fence::supervisor
