// One sandboxed run, from the policy to fence's exit status.
#pragma once

#include <string>

#include "supervisor/cli.hpp"

namespace fence::supervisor {

// Runs cli's command in a sandbox and returns fence's exit status: the command's own, or one
// of exit_codes.hpp with a one-line "fence: ..." message on stderr. Throws only what it cannot
// attribute to a step (the caller reports it as a setup failure).
int run(const CliOptions& cli);

// Prints "fence: MESSAGE" on stderr as one line (control characters escaped: MESSAGE may carry
// text from a settings file, the command line or the sandbox) and returns `code`.
int fail(int code, const std::string& message);

}  // namespace fence::supervisor
