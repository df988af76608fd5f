#include "supervisor/run.hpp"

#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "platform/host_path.hpp"
#include "platform/landlock.hpp"
#include "supervisor/audit/audit_events.hpp"
#include "supervisor/audit/audit_log.hpp"
#include "supervisor/audit/audit_syslog.hpp"
#include "supervisor/audit/diagnostics.hpp"
#include "supervisor/audit/reporter.hpp"
#include "supervisor/audit/sha256.hpp"
#include "supervisor/config/config.hpp"
#include "supervisor/config/environment.hpp"
#include "supervisor/config/paths.hpp"
#include "supervisor/exit_codes.hpp"
#include "supervisor/features_report.hpp"
#include "supervisor/launch_spec.hpp"
#include "supervisor/launcher_host.hpp"
#include "supervisor/nested_run.hpp"
#include "supervisor/network/inbound_forwarder.hpp"
#include "supervisor/network/worker_host.hpp"
#include "supervisor/policy/command_policy.hpp"
#include "supervisor/policy/safe_text.hpp"
#include "supervisor/spawn.hpp"
#include "supervisor/trust_store.hpp"

namespace fence::supervisor {
namespace {

using Clock = std::chrono::steady_clock;

// A step that ends the run before the command: fence exits with `code`.
class RunError : public std::runtime_error {
 public:
  RunError(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

void print_line(bool enabled, const std::string& line) {
  if (enabled) write_diagnostic_line(line);
}

// --- the steps --------------------------------------------------------------------------------

Config load_policy(const CliOptions& cli, const RunPlaces& at) {
  try {
    return load_config(config_request(cli, at.home));
  } catch (const std::invalid_argument& e) {
    throw ConfigError(e.what());
  }
}

struct AuditSinks {
  std::optional<AuditLog> log;
  std::optional<AuditSyslog> syslog;
  OutputFiles files;  // the files reached ("" for none)
};

// --fence-log-file, else FENCE_LOG_FILE: the -m/-d lines go there from now on. The flag must
// work (exit 122 otherwise); the variable, inherited by fence runs inside a sandbox, falls back
// to stderr with a warning when the file cannot be opened.
void open_log_file(const CliOptions& cli, const RunPlaces& at, AuditSinks& sinks) {
  std::optional<std::string> asked = cli.log_file;
  const bool from_flag = asked.has_value();
  if (const char* env = std::getenv("FENCE_LOG_FILE"); !asked && env && *env) asked = env;
  if (!asked) return;
  std::string why;
  try {
    platform::HostFile file =
        platform::open_host_file_for_append(absolute_path(*asked, at.cwd, at.home), 0600);
    sinks.files.log_file = file.path;
    send_diagnostics_to(std::move(file.fd));
    return;
  } catch (const platform::HostPathError& e) {
    why = e.reason();
  } catch (const std::invalid_argument& e) {
    why = e.what();
  }
  const std::string message = "cannot open log file " + in_quotes(*asked) + ": " + why;
  if (from_flag) throw RunError(kExitConfigError, message);
  fail(0, "FENCE_LOG_FILE: " + message + "; lines go to stderr");
}

// The audit sinks are opened before anything runs: a run that was asked to be audited and
// cannot be does not happen.
AuditSinks open_audit(const CliOptions& cli, const Config& config, const RunPlaces& at) {
  AuditSinks sinks;
  open_log_file(cli, at, sinks);
  std::optional<std::string> path = cli.audit_log;
  try {
    if (!path && config.audit.file) path = absolute_path(*config.audit.file, at.cwd, at.home);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(e.what());
  }
  std::string error;
  if (path && !(sinks.log = AuditLog::open(*path, &error, &sinks.files.audit_file)))
    throw RunError(kExitConfigError, error);
  if (cli.audit_syslog || config.audit.syslog) {
    sinks.syslog = AuditSyslog::open(cli.audit_syslog.value_or("/dev/log"), &error);
    if (!sinks.syslog) throw RunError(kExitConfigError, error);
  }
  return sinks;
}

// What session_start records about the sandbox that was asked for.
nlohmann::json features(const ipc::LaunchSpec& spec) {
  nlohmann::json namespaces = nlohmann::json::array();
  if (!spec.nested) namespaces = {"user", "mount", "pid", "net", "ipc", "uts", "cgroup"};
  nlohmann::json out = {{"landlock_abi", platform::landlock_abi()},
                        {"namespaces", namespaces},
                        {"seccomp", true},
                        {"violation_reports", spec.report_violations},
                        {"exec_checks", spec.check_exec},
                        {"transparent", spec.transparent}};
  if (spec.nested) out["nested"] = true;
  return out;
}

// The command policy: fence's own argv (or -c text) is checked before anything starts; every
// execve inside is checked again at runtime (spec.check_exec) unless no rule can refuse one.
CommandPolicy preflight_command(const CliOptions& cli, const Config& config, ipc::LaunchSpec& spec,
                                Reporter& reporter) {
  std::optional<CommandPolicy> commands;
  try {
    CommandRules rules = command_rules_from(config);
    rules.ssh.trusted_proxy_commands.push_back(ssh_proxy_command(spec.socks_proxy_port));
    commands.emplace(rules);
  } catch (const std::invalid_argument& e) {
    throw RunError(kExitConfigError, std::string("command: ") + e.what());
  }
  spec.check_exec = !commands->empty();
  // For fence runs inside this sandbox (nested_run.hpp): the rules it checks at every exec.
  spec.exec_rules = exec_rules_document(command_rules_from(config), spec.check_exec);
  const CommandPolicy::Verdict v = cli.shell_command ? commands->check_shell(*cli.shell_command)
                                                     : commands->check_argv(cli.command);
  if (v.blocked) {
    // The run is recorded like any other, with the refusal as its only event.
    reporter.record(session_start(spec.argv, spec.cwd, ::getuid(), canonical_config_json(config),
                                  features(spec)));
    reporter.command({"preflight", spec.argv, "", true, v.rule, v.command, 0, ""});
    reporter.record(session_end(kExitCommandBlocked, std::nullopt, 0, reporter.counts()));
    throw RunError(kExitCommandBlocked, "command blocked by rule " + in_quotes(v.rule) + ": " +
                                            shortened(v.command, Reporter::kMaxShownArgv) +
                                            (v.reason.empty() ? "" : " (" + v.reason + ")"));
  }
  reporter.debug_line("[fence:cmd] preflight: allowed by the command policy");
  return std::move(*commands);
}

void print_command(const CliOptions& cli, const LaunchPlan& plan) {
  if (!cli.debug) return;
  std::string argv_line = "[fence:cmd] argv:";
  for (const auto& a : plan.spec.argv) argv_line += " [" + a + "]";
  print_line(true, argv_line);
  print_line(true, "[fence:cmd] cwd: " + plan.spec.cwd);
  for (const auto& name : plan.removed_env) print_line(true, "[fence:env] removed " + name);
  for (const auto& change : plan.env_changes) print_line(true, "[fence:env] " + change);
  print_line(true, "[fence:env] set FENCE_SANDBOX=1");
}

std::string find_launcher() {
  try {
    return find_helper("fence-launcher");
  } catch (const std::exception& e) {
    throw RunError(kExitSetupFailed, e.what());
  }
}

// The network policy with fence's own listeners in it: the sandbox's proxies and the -p
// ports on every loopback address, and the -p listeners' exact endpoints (a connection from
// the sandbox to its own inbound port on the host would loop back into it).
NetworkPolicy network_policy_for(const Config& config, const ipc::LaunchSpec& spec,
                                 const CliOptions& cli) {
  NetworkPolicy policy = network_policy_from(config.network);
  OwnListeners& own = policy.own_listeners;
  own.loopback_ports = {spec.http_proxy_port, spec.socks_proxy_port};
  for (std::uint16_t port : spec.inbound_ports) own.loopback_ports.push_back(port);
  for (const ExposedPort& p : cli.ports)
    if (auto a = parse_ip_literal(p.address)) own.endpoints.emplace_back(*a, p.port);
  return policy;
}

struct Network {
  std::unique_ptr<InboundForwarder> inbound;
  std::unique_ptr<WorkerHost> worker;
};

// -p listeners are bound before anything starts (a port in use is an error, not a surprise);
// the proxy worker starts before the sandbox, which waits for its Hello before the command
// starts: if it cannot, the command does not run.
Network start_network(const CliOptions& cli, const Config& config, const ipc::LaunchSpec& spec,
                      Reporter& reporter) {
  Network network;
  if (!cli.ports.empty()) {
    try {
      network.inbound = std::make_unique<InboundForwarder>(cli.ports, reporter);
    } catch (const std::exception& e) {
      throw RunError(kExitSetupFailed, std::string(e.what()) + " (for -p)");
    }
    for (const ExposedPort& p : cli.ports)
      print_line(cli.debug, "[fence:inbound] listening on " + p.address + ":" +
                                std::to_string(p.port) +
                                " -> sandbox 127.0.0.1:" + std::to_string(p.port));
  }
  WorkerHostOptions options;
  options.debug = cli.debug;
  options.verify_names = spec.transparent && config.network.verify_tls.value_or(false);
  if (config.network.default_action == "proxy" && config.network.upstream_proxy) {
    const UpstreamProxyUrl url = parse_upstream_proxy(*config.network.upstream_proxy);
    options.upstream_proxy_host = url.host;
    options.upstream_proxy_port = url.port;
  }
  network.worker =
      std::make_unique<WorkerHost>(network_policy_for(config, spec, cli), options, reporter);
  try {
    network.worker->start(find_helper("fence-proxy-worker"));
  } catch (const std::exception& e) {
    throw RunError(kExitSetupFailed, std::string("proxy worker: ") + e.what());
  }
  return network;
}

RunOutcome run_session(const std::string& launcher, const ipc::LaunchSpec& spec, Network& network,
                       const CommandPolicy& commands, Reporter& reporter, bool debug) {
  LauncherHost host(spec, {network.worker.get(), network.inbound.get(), &commands}, reporter,
                    [debug](const std::string& line) { print_line(debug, line); });
  RunOutcome outcome = host.run(launcher);
  // Connections still open died with the sandbox; their close reports are on the way.
  if (network.worker) {
    network.worker->drain(std::chrono::milliseconds(250));
    network.worker->stop();
  }
  return outcome;
}

int record_end(const RunOutcome& outcome, Reporter& reporter, Clock::time_point started) {
  if (reporter.recording()) {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
    std::optional<int> code, signal;
    if (outcome.signal != 0)
      signal = outcome.signal;
    else
      code = outcome.exit_code;
    reporter.record(session_end(code, signal, static_cast<std::uint64_t>(ms), reporter.counts()));
  }
  if (outcome.error.empty()) return outcome.exit_code;
  std::string message = outcome.error;
  if (outcome.failed_stage == ipc::SetupStage::UserNamespace) {
    const std::string hint = user_namespace_fix_hint();
    if (!hint.empty()) message += "; to fix: " + hint;
  }
  return fail(outcome.exit_code, message);
}

}  // namespace

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

ConfigRequest config_request(const CliOptions& cli, const std::string& home) {
  ConfigRequest request = user_config_request(home);
  request.settings = cli.settings;
  request.template_name = cli.template_name;
  // A project config found by discovery is used only when trusted (trust_store.hpp).
  request.cwd = current_directory();
  request.check_trust = [store = std::optional<TrustStore>(), home](const std::string& path,
                                                                    std::string_view text) mutable {
    if (!store) store = TrustStore::load(trust_store_path(home));
    store->check(path, text);
  };
  return request;
}

int run(const CliOptions& cli) {
  const RunPlaces at{current_directory(), home_directory()};
  try {
    const Config config = load_policy(cli, at);
    AuditSinks sinks = open_audit(cli, config, at);
    // First -d line: where the policy came from (after the log file is open: it goes there).
    for (const std::string& line : config.chain) print_line(cli.debug, "[fence:config] " + line);
    for (const std::string& note : config_notes(config))
      print_line(cli.debug, "[fence:config] " + note);
    // Inside another fence sandbox: a further restriction of it (nested_run.hpp).
    const bool nested = inside_outer_sandbox();
    LaunchPlan plan = build_launch_spec(cli, config, at, sinks.files, nested);
    Reporter reporter(cli.debug, cli.monitor, std::move(sinks.log), std::move(sinks.syslog));
    for (const auto& warning : plan.fs_warnings)
      print_line(cli.debug || cli.monitor, "[fence:fs] " + warning);
    for (const auto& warning : plan.net_warnings)
      print_line(cli.debug || cli.monitor, "[fence:net] " + warning);
    ipc::LaunchSpec& spec = plan.spec;
    // Violations are reported only to someone: with -m, -d or an audit sink. Otherwise none of
    // that machinery is installed.
    spec.report_violations = cli.monitor || cli.debug || reporter.recording();
    const CommandPolicy commands = preflight_command(cli, config, spec, reporter);
    if (nested) {
      for (const std::string& line : adapt_to_outer_sandbox(plan, cli, command_rules_from(config)))
        print_line(cli.debug || cli.monitor, line);
      print_line(true, nested_run_summary());
    }
    print_command(cli, plan);
    const std::string launcher = find_launcher();
    const auto started = Clock::now();
    Network network;
    if (!nested) network = start_network(cli, config, spec, reporter);
    if (reporter.recording())
      reporter.record(session_start(spec.argv, at.cwd, ::getuid(), canonical_config_json(config),
                                    features(spec)));
    const RunOutcome outcome = run_session(launcher, spec, network, commands, reporter, cli.debug);
    return record_end(outcome, reporter, started);
  } catch (const ConfigError& e) {
    return fail(kExitConfigError, e.what());
  } catch (const UsageError& e) {
    return fail(kExitConfigError, e.what());
  } catch (const RunError& e) {
    return fail(e.code(), e.what());
  }
}

int fail(int code, const std::string& message) {
  std::fprintf(stderr, "fence: %s\n", one_line(message).c_str());
  return code;
}

}  // namespace fence::supervisor
