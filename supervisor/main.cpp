// fence: run a command in a sandbox. This is the supervisor: it owns the policy, starts the
// launcher and the proxy worker, and turns what they report into an exit status (run.hpp).
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fence_build_info.hpp"
#include "platform/capabilities.hpp"
#include "platform/process.hpp"
#include "supervisor/cli.hpp"
#include "supervisor/completion.hpp"
#include "supervisor/config/config.hpp"
#include "supervisor/config/templates.hpp"
#include "supervisor/config_command.hpp"
#include "supervisor/exit_codes.hpp"
#include "supervisor/features_report.hpp"
#include "supervisor/network/dns_resolver.hpp"
#include "supervisor/policy/safe_text.hpp"
#include "supervisor/run.hpp"

namespace {

using namespace fence;
using namespace fence::supervisor;

// `fence completion SHELL`: the first word names a subcommand, not a command to run.
int run_subcommand(int argc, char** argv) {
  const std::string_view shell = argc == 3 ? std::string_view(argv[2]) : std::string_view();
  const std::optional<std::string> script = completion_script(shell);
  if (!script)
    return fail(kExitConfigError,
                "usage: fence completion bash|zsh|fish (to run a program "
                "named completion: fence -- completion)");
  std::cout << *script;
  return 0;
}

void list_templates() {
  std::cout << "Built-in templates (fence -t NAME, or \"extends\": \"NAME\" in a settings file):\n";
  for (const PolicyTemplate& t : builtin_templates())
    std::cout << "  " << t.name << std::string(20 - std::min<std::size_t>(t.name.size(), 19), ' ')
              << t.description << "\n";
}

int run_command_line(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "completion") return run_subcommand(argc, argv);
  if (argc >= 2 && std::string_view(argv[1]) == "config") return config_command(argc, argv);
  if (argc >= 2 && (std::string_view(argv[1]) == "trust" || std::string_view(argv[1]) == "untrust"))
    return trust_command(argc, argv);
  // SECURITY: the supervisor's own resolver must not be steered by the caller's environment
  // (HOSTALIASES, RES_OPTIONS, LOCALDOMAIN; SECURITY-RULES 16). The command gets its own
  // sanitized copy of the environment.
  scrub_resolver_environment();
  CliOptions cli;
  try {
    cli = parse_cli(argc, argv);
  } catch (const UsageError& e) {
    return fail(kExitConfigError, std::string(e.what()) + " (see fence --help)");
  }
  if (cli.help) {
    std::cout
        << usage_text() << "\nExit status: the command's own; 128+N if it died of signal N;\n"
        << "  120 command blocked, 121 sandbox setup failed, 122 configuration or usage error,\n"
        << "  126 command not executable, 127 command not found.\n";
    return 0;
  }
  if (cli.version) {
    std::cout << "fence " << FENCE_VERSION << " (commit " << FENCE_COMMIT << ", built "
              << FENCE_BUILD_DATE << ")\n";
    return 0;
  }
  if (cli.list_templates) {
    list_templates();
    return 0;
  }
  if (cli.linux_features) {
    std::cout << linux_features_report();
    return 0;
  }
  if (cli.command.empty() && !cli.shell_command)
    return fail(kExitConfigError, "no command given (usage: fence [flags] [--] command [args...])");
  try {
    return run(cli);
  } catch (const std::exception& e) {
    return fail(kExitSetupFailed, e.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  // SECURITY: the supervisor holds the policy; nothing may attach to it or read its memory.
  fence::platform::set_non_dumpable();
  // fence exits only after every process it started has been reaped: the sandbox's init,
  // orphaned when the outer launcher ends first, comes back to fence rather than to a pid 1
  // that may not reap (SECURITY-RULES 15). Children fence inherited are not its to wait for.
  const std::vector<pid_t> inherited = fence::platform::child_processes();
  try {
    fence::platform::become_child_subreaper();
  } catch (const std::exception& e) {
    return fail(kExitSetupFailed, e.what());
  }
  const int status = run_command_line(argc, argv);
  fence::platform::reap_children_except(inherited);
  return status;
}
