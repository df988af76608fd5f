// Command-line parsing. Options end at `--` or at the first word that is not an option, so the
// command's own arguments are never interpreted by fence.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/network/exposed_port.hpp"

namespace fence::supervisor {

// --shell: which shell runs -c STRING (command_shell.hpp).
enum class ShellChoice { Default, User };

// What a flag takes after it.
enum class FlagValue {
  None,      // a switch
  String,    // a word: -c STRING
  File,      // a file name
  Choice,    // one of `choices`
  Repeated,  // a word, the flag repeatable (-p)
  Optional,  // an attached value only (--audit-syslog[=SOCKET]), else `implicit`
};

// One row per flag: the parser, the help text and the shell completions come from this list.
struct FlagSpec {
  std::string_view short_name;  // "" when there is none
  std::string_view long_name;   // "" for -c, which has no long form
  FlagValue value;
  std::string_view value_name;
  std::string_view help;
  std::string_view choices = "";   // FlagValue::Choice: space-separated
  std::string_view implicit = "";  // FlagValue::Optional
  // True when the next word is this flag's value (unless attached with = or directly).
  constexpr bool takes_next_word() const {
    return value != FlagValue::None && value != FlagValue::Optional;
  }
};

inline constexpr FlagSpec kFlags[] = {
    {"c", "", FlagValue::String, "STRING",
     "Run STRING with bash -c (/bin/sh -c where there is no /bin/bash)"},
    {"", "shell", FlagValue::Choice, "default|user",
     "The shell for -c: default (bash, else sh) or user ($SHELL)", "default user"},
    {"", "shell-login", FlagValue::None, "",
     "Run the -c shell as a login shell (-l: it reads its login files)"},
    {"s", "settings", FlagValue::File, "FILE",
     "Settings file (default: ~/.config/fence/fence.json(c), ~/.fence.json(c), else the "
     "built-in policy)"},
    {"t", "template", FlagValue::Choice, "NAME",
     "Use a built-in template as the policy (see --list-templates)",
     "code code-relaxed code-strict local-dev-server git-readonly disable-telemetry hermes "
     "npm-install pip-install"},
    {"", "list-templates", FlagValue::None, "", "List the built-in templates and exit"},
    {"", "audit-log", FlagValue::File, "FILE",
     "Append a JSON Lines audit record of every decision to FILE"},
    {"", "audit-syslog", FlagValue::Optional, "SOCKET",
     "Also send the audit records to the syslog socket (RFC 5424; default /dev/log)", "",
     "/dev/log"},
    {"p", "port", FlagValue::Repeated, "[ADDR:]PORT",
     "Expose PORT of the sandbox on the host at ADDR:PORT (default 127.0.0.1; repeatable)"},
    {"d", "debug", FlagValue::None, "", "Print the sandbox plan and every decision to stderr"},
    {"m", "monitor", FlagValue::None, "", "Print blocked requests and violations to stderr"},
    {"", "fence-log-file", FlagValue::File, "FILE",
     "Write the -m and -d lines to FILE instead of stderr (also: FENCE_LOG_FILE); fence runs "
     "inside the sandbox append to the same file"},
    {"", "linux-features", FlagValue::None, "",
     "Report what this kernel supports and what fence enforces here"},
    {"v", "version", FlagValue::None, "", "Print the version, commit and build date"},
    {"h", "help", FlagValue::None, "", "Print this help"},
};

struct CliOptions {
  std::vector<std::string> command;          // exact argv of the command
  std::optional<std::string> shell_command;  // -c STRING
  ShellChoice shell = ShellChoice::Default;  // --shell default|user
  bool shell_login = false;                  // --shell-login
  std::optional<std::string> settings;       // -s FILE
  std::optional<std::string> template_name;  // -t NAME
  bool list_templates = false;               // --list-templates
  std::optional<std::string> audit_log;      // --audit-log FILE
  std::optional<std::string> log_file;       // --fence-log-file FILE
  std::optional<std::string> audit_syslog;   // --audit-syslog[=SOCKET] (default /dev/log)
  std::vector<ExposedPort> ports;            // -p/--port, in order
  bool debug = false;
  bool monitor = false;
  bool version = false;
  bool help = false;
  bool linux_features = false;
};

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

CliOptions parse_cli(int argc, const char* const* argv);
// "8000", "0.0.0.0:8000", "[::1]:8000". Throws UsageError naming what is wrong.
ExposedPort parse_exposed_port(std::string_view text);
std::string usage_text();

}  // namespace fence::supervisor
