#include "supervisor/command_shell.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "supervisor/policy/safe_text.hpp"

namespace fence::supervisor {
namespace {

bool is_executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

std::string user_shell_path(const std::optional<std::string>& shell) {
  const std::string what = "--shell user: ";
  if (!shell || shell->empty()) throw UsageError(what + "$SHELL is not set");
  const std::string& path = *shell;
  if (path.front() != '/')
    throw UsageError(what + "$SHELL " + in_quotes(path) + " is not absolute");
  const std::string_view name = std::string_view(path).substr(path.rfind('/') + 1);
  if (std::find(std::begin(kUserShellNames), std::end(kUserShellNames), name) ==
      std::end(kUserShellNames))
    throw UsageError(what + "$SHELL " + in_quotes(path) +
                     " is not one of sh, bash, zsh, ksh, dash, fish");
  if (!is_executable_file(path))
    throw UsageError(what + "$SHELL " + in_quotes(path) + " is not an executable file");
  return path;
}

}  // namespace

std::vector<std::string> shell_command_argv(const CliOptions& cli, const std::string& text,
                                            const std::optional<std::string>& user_shell) {
  std::string shell;
  if (cli.shell == ShellChoice::User) {
    shell = user_shell_path(user_shell);
  } else {
    shell = is_executable_file("/bin/bash") ? "/bin/bash" : "/bin/sh";
  }
  std::vector<std::string> argv{shell};
  if (cli.shell_login) argv.emplace_back("-l");
  argv.emplace_back("-c");
  argv.push_back(text);
  return argv;
}

}  // namespace fence::supervisor
