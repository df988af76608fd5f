// One sandboxed run, from the policy to fence's exit status.
#pragma once

#include <string>

#include "supervisor/cli.hpp"
#include "supervisor/config/config.hpp"

namespace fence::supervisor {

// Runs cli's command in a sandbox and returns fence's exit status: the command's own, or one
// of exit_codes.hpp with a one-line "fence: ..." message on stderr. Throws only what it cannot
// attribute to a step (the caller reports it as a setup failure).
int run(const CliOptions& cli);

// The working directory; HOME if absolute, else the password database's entry. Throw
// std::runtime_error when they cannot be told.
std::string current_directory();
std::string home_directory();

// The ConfigRequest for `cli` (XDG_CONFIG_HOME from the environment when absolute).
ConfigRequest config_request(const CliOptions& cli, const std::string& home);

// Prints "fence: MESSAGE" on stderr as one line (control characters escaped: MESSAGE may carry
// text from a settings file, the command line or the sandbox) and returns `code`.
int fail(int code, const std::string& message);

}  // namespace fence::supervisor
