// One sandboxed run, from the policy to fence's exit status.
#pragma once

#include "supervisor/cli.hpp"

namespace fence::supervisor {

// Runs cli's command in a sandbox and returns fence's exit status: the command's own, or one
// of exit_codes.hpp with a one-line "fence: ..." message on stderr. Throws only what it cannot
// attribute to a step (the caller reports it as a setup failure).
int run(const CliOptions& cli);

}  // namespace fence::supervisor
