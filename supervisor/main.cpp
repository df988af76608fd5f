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
#include "supervisor/audit/audit_events.hpp"
#include "supervisor/audit/audit_log.hpp"
#include "supervisor/audit/audit_syslog.hpp"
#include "supervisor/audit/reporter.hpp"
#include "supervisor/cli.hpp"
#include "supervisor/config/config.hpp"
#include "supervisor/config/environment.hpp"
#include "supervisor/config/filesystem_plan.hpp"
#include "supervisor/config/paths.hpp"
#include "supervisor/exit_codes.hpp"
#include "supervisor/linux_features.hpp"
#include "supervisor/network/connector.hpp"
#include "supervisor/network/inbound_forwarder.hpp"
#include "supervisor/network/network_broker.hpp"
#include "supervisor/policy/command_policy.hpp"
#include "supervisor/policy/network_policy.hpp"
#include "supervisor/policy/safe_text.hpp"
#include "supervisor/sandbox_run.hpp"

extern char** environ;

namespace {

using namespace fence;
using namespace fence::supervisor;

// SECURITY: every message may carry text from a settings file, the command line or the
// sandbox; one_line() keeps it one line without terminal controls (safe_text.hpp).
int fail(int code, const std::string& message) {
  std::fprintf(stderr, "fence: %s\n", one_line(message).c_str());
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
  if (enabled) std::fprintf(stderr, "%s\n", one_line(line).c_str());
}

// The -p listeners are fence's own: the proxies never connect to them (a connection from the
// sandbox to its own inbound port on the host would loop back into it). Their ports are
// refused on every loopback address besides (BrokerOptions::inbound_ports).
std::vector<std::pair<IpAddress, std::uint16_t>> inbound_endpoints(const CliOptions& cli) {
  std::vector<std::pair<IpAddress, std::uint16_t>> out;
  for (const ExposedPort& p : cli.ports)
    if (auto a = parse_ip_literal(p.address)) out.emplace_back(*a, p.port);
  return out;
}

// Localhost and inbound fields of the LaunchSpec (docs/configuration.md, "network").
std::optional<std::string> add_local_network(ipc::LaunchSpec& spec, const Config& config,
                                             const CliOptions& cli, const std::string& cwd,
                                             const std::string& home) {
  const auto& net = config.network;
  spec.allow_local_binding = net.allow_local_binding;
  for (const ExposedPort& p : cli.ports) {
    if (p.port == spec.http_proxy_port || p.port == spec.socks_proxy_port)
      return "-p " + std::to_string(p.port) + ": that port is the sandbox's proxy listener";
    spec.inbound_ports.push_back(p.port);
    // -p implies binding for that port only.
    if (!spec.allow_local_binding) spec.bind_ports.push_back(p.port);
  }
  for (std::uint16_t port : net.allow_local_outbound_ports) {
    if (port == spec.http_proxy_port || port == spec.socks_proxy_port)
      return "network.allowLocalOutboundPorts: " + std::to_string(port) + " is a proxy port";
    if (std::find(spec.inbound_ports.begin(), spec.inbound_ports.end(), port) !=
        spec.inbound_ports.end())
      return "network.allowLocalOutboundPorts: " + std::to_string(port) +
             " is also exposed with -p (one port cannot be served inside and forwarded out)";
    spec.local_outbound_ports.push_back(port);
  }
  for (const std::string& raw : net.allow_unix_sockets) {
    const std::string path = normalize_path(raw, cwd, home);
    if (std::find(spec.unix_sockets.begin(), spec.unix_sockets.end(), path) ==
        spec.unix_sockets.end())
      spec.unix_sockets.push_back(path);
  }
  spec.allow_all_unix_sockets = net.allow_all_unix_sockets;
  spec.allow_pty = config.allow_pty;
  return std::nullopt;
}

int run(const CliOptions& cli) {
  const std::string cwd = current_directory();
  const std::string home = home_directory();

  Config config;
  FilesystemPlan fs;
  std::optional<std::string> audit_path = cli.audit_log;
  std::optional<AuditLog> audit;
  std::optional<AuditSyslog> syslog;
  try {
    config = load_config(cli.settings, home);
    if (!audit_path && config.audit.file) audit_path = absolute_path(*config.audit.file, cwd, home);
    // The audit sinks are opened before anything runs: a run that was asked to be audited and
    // cannot be does not happen.
    std::string audit_file;  // the file reached, to protect from the sandbox
    if (audit_path) {
      std::string error;
      audit = AuditLog::open(*audit_path, &error, &audit_file);
      if (!audit) return fail(kExitConfigError, error);
    }
    if (cli.audit_syslog || config.audit.syslog) {
      std::string error;
      syslog = AuditSyslog::open(cli.audit_syslog.value_or("/dev/log"), &error);
      if (!syslog) return fail(kExitConfigError, error);
    }
    // SECURITY: fence's own configuration and executables are never writable from inside
    // (SECURITY-RULES 7, 14), even when they sit in an allowWrite directory.
    std::vector<std::string> own_files = own_executables();
    if (config.source_path) own_files.push_back(*config.source_path);
    // SECURITY: the audit log is written only by the supervisor; the sandbox can neither
    // append to, truncate, rename nor replace it, even inside an allowWrite directory.
    if (!audit_file.empty()) own_files.push_back(audit_file);
    own_files.push_back(home + "/.fence.json");
    fs = build_filesystem_plan(config, cwd, home, own_files);
  } catch (const ConfigError& e) {
    return fail(kExitConfigError, e.what());
  } catch (const std::invalid_argument& e) {
    return fail(kExitConfigError, e.what());
  }
  Reporter reporter(cli.debug, cli.monitor, std::move(audit), std::move(syslog));
  for (const auto& warning : fs.warnings)
    debug_line(cli.debug || cli.monitor, "[fence:fs] " + warning);

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
  spec.protected_names = fs.protected_names;
  spec.protected_files = fs.protected_files;
  spec.creatable_protected = fs.creatable_protected;
  spec.protect_bare_repositories = fs.protect_bare_repositories;
  spec.debug = cli.debug;
  spec.http_proxy_port = config.network.http_proxy_port.value_or(ipc::kDefaultHttpProxyPort);
  spec.socks_proxy_port = config.network.socks_proxy_port.value_or(ipc::kDefaultSocksProxyPort);
  if (spec.http_proxy_port == spec.socks_proxy_port)
    return fail(kExitConfigError, "network.httpProxyPort and network.socksProxyPort are equal");
  if (auto error = add_local_network(spec, config, cli, cwd, home))
    return fail(kExitConfigError, *error);
  add_proxy_environment(spec.env, spec.http_proxy_port, spec.socks_proxy_port);
  // Violations are reported only to someone: with -m, -d or an audit sink. Otherwise none of
  // that machinery is installed.
  spec.report_violations = cli.monitor || cli.debug || reporter.recording();

  // The command policy: fence's own argv (or -c text) is checked before anything starts, and
  // every execve inside is checked again at runtime.
  std::optional<CommandPolicy> commands;
  try {
    commands.emplace(command_rules_from(config.command));
  } catch (const std::invalid_argument& e) {
    return fail(kExitConfigError, std::string("command: ") + e.what());
  }
  auto features = [&] {
    return nlohmann::json{{"landlock_abi", platform::landlock_abi()},
                          {"namespaces", {"user", "mount", "pid", "net", "ipc", "uts", "cgroup"}},
                          {"seccomp", true},
                          {"violation_reports", spec.report_violations},
                          {"exec_checks", !commands->empty()}};
  };
  {
    const CommandPolicy::Verdict v = cli.shell_command ? commands->check_shell(*cli.shell_command)
                                                       : commands->check_argv(cli.command);
    if (v.blocked) {
      // The run is recorded like any other, with the refusal as its only event.
      reporter.record(
          session_start(spec.argv, cwd, ::getuid(), canonical_config_json(config), features()));
      reporter.command({"preflight", spec.argv, "", true, v.rule, v.command, 0, ""});
      reporter.record(session_end(kExitCommandBlocked, std::nullopt, 0, reporter.counts()));
      return fail(kExitCommandBlocked, "command blocked by rule " + in_quotes(v.rule) + ": " +
                                           shortened(v.command, Reporter::kMaxShownArgv) +
                                           (v.reason.empty() ? "" : " (" + v.reason + ")"));
    }
    reporter.debug_line("[fence:cmd] preflight: allowed by the command policy");
  }
  spec.check_exec = !commands->empty();

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

  // -p listeners are bound before anything starts: a port in use is an error, not a surprise.
  std::optional<InboundForwarder> inbound;
  if (!cli.ports.empty()) {
    try {
      inbound.emplace(cli.ports, [&](const NetworkEvent& event) { reporter.network(event); });
    } catch (const std::exception& e) {
      return fail(kExitSetupFailed, std::string(e.what()) + " (for -p)");
    }
    for (const ExposedPort& p : cli.ports)
      debug_line(cli.debug, "[fence:inbound] listening on " + p.address + ":" +
                                std::to_string(p.port) +
                                " -> sandbox 127.0.0.1:" + std::to_string(p.port));
  }

  // The proxy worker starts before the sandbox (run_sandboxed waits for its Hello before it asks
  // the launcher for anything): if it cannot, the command does not run.
  BrokerOptions broker_options;
  broker_options.http_port = spec.http_proxy_port;
  broker_options.socks_port = spec.socks_proxy_port;
  broker_options.debug = cli.debug;
  broker_options.forbidden_endpoints = inbound_endpoints(cli);
  broker_options.inbound_ports = spec.inbound_ports;
  NetworkBroker broker(
      network_policy_from(config.network), broker_options,
      [&](const NetworkEvent& event) { reporter.network(event); },
      [&](const WorkerFault& fault) { reporter.worker_fault(fault); });
  broker.on_worker_log([&](const std::string& text) { reporter.worker_log(text); });
  try {
    broker.start(find_helper("fence-proxy-worker"));
  } catch (const std::exception& e) {
    return fail(kExitSetupFailed, std::string("proxy worker: ") + e.what());
  }
  if (reporter.recording())
    reporter.record(
        session_start(spec.argv, cwd, ::getuid(), canonical_config_json(config), features()));
  SandboxServices services;
  services.broker = &broker;
  services.inbound = inbound ? &*inbound : nullptr;
  services.on_ready = [&](const ipc::SandboxReady& ready) { reporter.sandbox_ready(ready); };
  services.on_violation = [&](const ipc::Violation& v) { reporter.violation(v); };
  services.on_unix_connect = [&](const ipc::UnixConnect& c) { reporter.unix_connect(c); };
  services.on_exec_check = [&](const ipc::ExecCheck& check) {
    // SECURITY: the argv is whole (init never sends part of one) and hostile text.
    const CommandPolicy::Verdict v = commands->check_exec(check.path, check.argv);
    reporter.command(
        {"exec", check.argv, check.path, v.blocked, v.rule, v.command, check.pid, check.comm});
    return !v.blocked;
  };
  RunOutcome outcome = run_sandboxed(
      launcher, spec, [&](const std::string& line) { debug_line(cli.debug, line); }, services);
  // Connections still open died with the sandbox; their close reports are on the way.
  broker.drain(std::chrono::milliseconds(250));
  broker.stop();
  if (reporter.recording()) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
    std::optional<int> code, signal;
    if (outcome.signal != 0)
      signal = outcome.signal;
    else
      code = outcome.exit_code;
    reporter.record(session_end(code, signal, static_cast<std::uint64_t>(ms), reporter.counts()));
  }
  if (!outcome.error.empty()) {
    std::string message = outcome.error;
    if (outcome.failed_stage == ipc::SetupStage::UserNamespace) {
      const std::string hint = user_namespace_fix_hint();
      if (!hint.empty()) message += "; to fix: " + hint;
    }
    return fail(outcome.exit_code, message);
  }
  return outcome.exit_code;
}

int run_command_line(int argc, char** argv);

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

namespace {

int run_command_line(int argc, char** argv) {
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

}  // namespace
