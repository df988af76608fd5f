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

struct CliOptions {
  std::vector<std::string> command;          // exact argv of the command
  std::optional<std::string> shell_command;  // -c STRING
  ShellChoice shell = ShellChoice::Default;  // --shell default|user
  bool shell_login = false;                  // --shell-login
  std::optional<std::string> settings;       // -s FILE
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
