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

// `fence config show [-s FILE | -t NAME]`: the chain on stderr, the merged policy on stdout as
// a settings file (config_json). Runs nothing. Returns fence's exit status.
int show_config(const CliOptions& cli);

// `fence trust [FILE]`, `fence trust --list`, `fence untrust FILE` (argv[1] is the verb).
int trust_command(int argc, const char* const* argv);

// The ConfigRequest for `cli` (XDG_CONFIG_HOME from the environment when absolute).
ConfigRequest config_request(const CliOptions& cli, const std::string& home);

// Prints "fence: MESSAGE" on stderr as one line (control characters escaped: MESSAGE may carry
// text from a settings file, the command line or the sandbox) and returns `code`.
int fail(int code, const std::string& message);

}  // namespace fence::supervisor
