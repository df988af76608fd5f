// fence: run a command in a sandbox. This is the supervisor: it owns the policy, starts the
// launcher (and later the proxy worker), and turns what they report into an exit status.
#include <pwd.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "platform/capabilities.hpp"
#include "platform/process.hpp"
#include "supervisor/cli.hpp"
#include "supervisor/config.hpp"
#include "supervisor/environment.hpp"
#include "supervisor/exit_codes.hpp"
#include "supervisor/filesystem_policy.hpp"
#include "supervisor/linux_features.hpp"
#include "supervisor/sandbox_run.hpp"

extern char** environ;

namespace {

using namespace fence;
using namespace fence::supervisor;

int fail(int code, const std::string& message) {
  std::fprintf(stderr, "fence: %s\n", message.c_str());
  return code;
}

std::string current_directory() {
  std::vector<char> buf(4096);
  while (::getcwd(buf.data(), buf.size()) == nullptr) {
    if (errno != ERANGE) throw std::runtime_error("cannot determine the working directory");
    buf.resize(buf.size() * 2);
  }
  return buf.data();
}

// HOME if it is an absolute path, else the password database entry of the invoking user.
std::string home_directory() {
  const char* env = std::getenv("HOME");
  if (env && env[0] == '/') return env;
  if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir) return pw->pw_dir;
  throw std::runtime_error("cannot determine the home directory (set HOME)");
}

std::vector<std::string> current_environment() {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) env.emplace_back(*e);
  return env;
}

// The executables of this installation: fence itself and its helpers.
std::vector<std::string> own_executables() {
  std::vector<std::string> files;
  std::error_code ec;
  const auto self = std::filesystem::canonical("/proc/self/exe", ec);
  if (!ec) files.push_back(self.string());
  for (const char* helper : {"fence-launcher", "fence-proxy-worker"}) {
    try {
      files.push_back(std::filesystem::canonical(find_helper(helper)).string());
    } catch (const std::exception&) {
      // Not installed (yet): nothing to protect.
    }
  }
  return files;
}

void debug_line(bool enabled, const std::string& line) {
  if (enabled) std::fprintf(stderr, "%s\n", line.c_str());
}

int run(const CliOptions& cli) {
  const std::string cwd = current_directory();
  const std::string home = home_directory();

  Config config;
  FilesystemPlan fs;
  try {
    config = load_config(cli.settings, home);
    // SECURITY: fence's own configuration and executables are never writable from inside
    // (SECURITY-RULES 7, 14), even when they sit in an allowWrite directory.
    std::vector<std::string> own_files = own_executables();
    if (config.source_path) own_files.push_back(*config.source_path);
    own_files.push_back(home + "/.fence.json");
    fs = build_filesystem_plan(config, cwd, home, own_files);
  } catch (const ConfigError& e) {
    return fail(kExitConfigError, e.what());
  } catch (const std::invalid_argument& e) {
    return fail(kExitConfigError, e.what());
  }
  for (const auto& warning : fs.warnings) debug_line(cli.debug || cli.monitor, "[fence:fs] " + warning);

  ipc::LaunchSpec spec;
  spec.argv = cli.shell_command ? std::vector<std::string>{"/bin/sh", "-c", *cli.shell_command}
                                : cli.command;
  std::vector<std::string> removed;
  spec.env = sandbox_environment(current_environment(), &removed);
  spec.cwd = cwd;
  spec.readable = fs.readable;
  spec.executable = fs.executable;
  spec.writable = fs.writable;
  spec.read_only = fs.read_only;
  spec.hidden = fs.hidden;
  spec.host_tmp = fs.host_tmp;
  spec.allow_git_config = fs.allow_git_config;
  spec.allow_unix_sockets = config.network.allow_all_unix_sockets;
  spec.debug = cli.debug;

  if (cli.debug) {
    std::string argv_line = "[fence:cmd] argv:";
    for (const auto& a : spec.argv) argv_line += " [" + a + "]";
    debug_line(true, argv_line);
    debug_line(true, "[fence:cmd] cwd: " + cwd);
    for (const auto& name : removed) debug_line(true, "[fence:env] removed " + name);
    debug_line(true, "[fence:env] set FENCE_SANDBOX=1");
  }

  std::string launcher;
  try {
    launcher = find_helper("fence-launcher");
  } catch (const std::exception& e) {
    return fail(kExitSetupFailed, e.what());
  }
  RunOutcome outcome = run_sandboxed(launcher, spec, [&](const std::string& line) {
    debug_line(cli.debug, line);
  });
  if (!outcome.error.empty()) {
    std::string message = outcome.error;
    if (message.find("namespaces: user namespace") != std::string::npos) {
      const std::string hint = user_namespace_fix_hint();
      if (!hint.empty()) message += "; to fix: " + hint;
    }
    return fail(outcome.exit_code, message);
  }
  return outcome.exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  // SECURITY: the supervisor holds the policy; nothing may attach to it or read its memory.
  fence::platform::set_non_dumpable();
  CliOptions cli;
  try {
    cli = parse_cli(argc, argv);
  } catch (const UsageError& e) {
    return fail(kExitConfigError, std::string(e.what()) + " (see fence --help)");
  }
  if (cli.help) {
    std::cout << usage_text() << "\nExit status: the command's own; 128+N if it died of signal N;\n"
              << "  120 command blocked, 121 sandbox setup failed, 122 configuration or usage error,\n"
              << "  126 command not executable, 127 command not found.\n";
    return 0;
  }
  if (cli.version) {
    std::cout << "fence " << FENCE_VERSION << "\n";
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
