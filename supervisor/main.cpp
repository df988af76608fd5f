// fence: run a command in a sandbox. This is the supervisor: it owns the policy, starts the
// launcher (and later the proxy worker), and turns what they report into an exit status.
#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "platform/capabilities.hpp"
#include "platform/landlock.hpp"
#include "platform/process.hpp"
#include "supervisor/cli.hpp"
#include "supervisor/config.hpp"
#include "supervisor/environment.hpp"
#include "supervisor/exit_codes.hpp"
#include "supervisor/filesystem_policy.hpp"
#include "supervisor/audit_log.hpp"
#include "supervisor/connector.hpp"
#include "supervisor/linux_features.hpp"
#include "supervisor/network_broker.hpp"
#include "supervisor/network_policy.hpp"
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

// One stderr line per network decision: -d shows all, -m only what was blocked.
std::string describe(const NetworkEvent& e) {
  const bool socks = e.protocol == ipc::ProxyProtocol::Socks5;
  std::string line = socks ? "[fence:socks] " : "[fence:http] ";
  const std::string method = e.protocol == ipc::ProxyProtocol::HttpForward ? "HTTP" : "CONNECT";
  const std::string target = e.host + ":" + std::to_string(e.port);
  if (e.closed) {
    return line + "✓ closed " + target + " (" + std::to_string(e.bytes_up) + " bytes up, " +
           std::to_string(e.bytes_down) + " down, " + std::to_string(e.duration_ms) + " ms)";
  }
  if (e.allowed)
    return line + "✓ " + method + " " + target + " -> " + e.connected + " (" + e.rule + ")";
  const bool policy = e.rule == "default deny" || e.reason.find("allowlist") != std::string::npos ||
                      e.rule.rfind("deny", 0) == 0;
  std::string status = socks ? "" : (policy ? "403 " : "502 ");
  return line + "✗ " + method + " " + status + target + " (" + (e.reason.empty() ? e.rule : e.reason) + ")";
}

int run(const CliOptions& cli) {
  const std::string cwd = current_directory();
  const std::string home = home_directory();

  // The audit log is opened before anything runs: a run that was asked to be audited and
  // cannot be does not happen.
  std::optional<AuditLog> audit;
  if (cli.audit_log) {
    std::string error;
    audit = AuditLog::open(*cli.audit_log, &error);
    if (!audit) return fail(kExitConfigError, error);
  }
  Config config;
  FilesystemPlan fs;
  try {
    config = load_config(cli.settings, home);
    // SECURITY: fence's own configuration and executables are never writable from inside
    // (SECURITY-RULES 7, 14), even when they sit in an allowWrite directory.
    std::vector<std::string> own_files = own_executables();
    if (config.source_path) own_files.push_back(*config.source_path);
    // SECURITY: the audit log is written only by the supervisor; the sandbox can neither
    // append to, truncate, rename nor replace it, even inside an allowWrite directory.
    if (cli.audit_log) own_files.push_back(std::filesystem::absolute(*cli.audit_log).lexically_normal().string());
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
  spec.http_proxy_port = config.network.http_proxy_port.value_or(3128);
  spec.socks_proxy_port = config.network.socks_proxy_port.value_or(1080);
  if (spec.http_proxy_port == spec.socks_proxy_port)
    return fail(kExitConfigError, "network.httpProxyPort and network.socksProxyPort are equal");
  add_proxy_environment(spec.env, spec.http_proxy_port, spec.socks_proxy_port);

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
  const auto started = std::chrono::steady_clock::now();
  std::uint64_t allowed_count = 0, denied_count = 0, faults = 0;
  auto protocol_name = [](ipc::ProxyProtocol p) {
    return p == ipc::ProxyProtocol::HttpConnect   ? "http-connect"
           : p == ipc::ProxyProtocol::HttpForward ? "http-forward"
                                                  : "socks5";
  };

  // The proxy worker starts before the sandbox: if it cannot, the command does not run.
  BrokerOptions broker_options;
  broker_options.http_port = spec.http_proxy_port;
  broker_options.socks_port = spec.socks_proxy_port;
  broker_options.debug = cli.debug;
  NetworkBroker broker(
      network_policy_from(config.network), broker_options,
      [&](const NetworkEvent& event) {
        if (cli.debug || (cli.monitor && !event.allowed)) debug_line(true, describe(event));
        if (!event.closed) (event.allowed ? allowed_count : denied_count)++;
        // One record per decision: refusals when they happen, allowed connections when they
        // end (with their byte counts and duration).
        if (audit && (event.closed || !event.allowed))
          audit->write(network_decision(protocol_name(event.protocol), event.host, event.port,
                                        event.resolved, event.connected, event.rule,
                                        event.allowed, event.reason, event.bytes_up,
                                        event.bytes_down, event.duration_ms));
      },
      [&](const WorkerFault& fault) {
        ++faults;
        std::fprintf(stderr, "[fence:proxy] worker fault: %s; the sandbox has no network now\n",
                     fault.what.c_str());
        if (audit) audit->write({{"event", "worker_fault"}, {"what", fault.what}});
      });
  try {
    broker.start(find_helper("fence-proxy-worker"));
  } catch (const std::exception& e) {
    return fail(kExitSetupFailed, std::string("proxy worker: ") + e.what());
  }
  if (audit) {
    nlohmann::json features = {{"landlock_abi", platform::landlock_abi()},
                               {"namespaces", {"user", "mount", "pid", "net", "ipc", "uts", "cgroup"}},
                               {"seccomp", true}};
    audit->write(session_start(spec.argv, cwd, ::getuid(), canonical_config_json(config), features));
  }
  RunOutcome outcome = run_sandboxed(
      launcher, spec, [&](const std::string& line) { debug_line(cli.debug, line); }, &broker);
  broker.stop();
  if (audit) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started).count();
    std::optional<int> code, signal;
    if (outcome.signal != 0)
      signal = outcome.signal;
    else
      code = outcome.exit_code;
    audit->write(session_end(code, signal, static_cast<std::uint64_t>(ms),
                             {{"network_allowed", allowed_count},
                              {"network_denied", denied_count},
                              {"worker_faults", faults}}));
  }
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
