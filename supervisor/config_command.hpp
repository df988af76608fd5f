// The subcommands about configuration, which run nothing in a sandbox:
//   fence config show [-s FILE | -t NAME]   the chain on stderr, the merged policy on stdout
//   fence config schema                     the JSON Schema of settings files
//   fence config init [--template T | --minimal] [-o PATH] [--print] [--scaffold] [-y]
//   fence trust [FILE] | fence trust --list | fence untrust FILE
// `fence -- config ...` still runs a program named config.
#pragma once

namespace fence::supervisor {

// argv[1] is "config"; returns fence's exit status.
int config_command(int argc, const char* const* argv);

// argv[1] is "trust" or "untrust"; returns fence's exit status.
int trust_command(int argc, const char* const* argv);

}  // namespace fence::supervisor
