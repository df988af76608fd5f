#include "supervisor/cli.hpp"
#include "supervisor/policy/safe_text.hpp"

#include <arpa/inet.h>

#include <cxxopts.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <string_view>

namespace fence::supervisor {
namespace {

cxxopts::Options make_options() {
  cxxopts::Options options(
      "fence", "Run a command in a sandbox with restricted network and filesystem access.");
  options.custom_help("[flags]");
  options.positional_help("[--] command [args...]");
  for (const FlagSpec& flag : kFlags) {
    const std::string short_name(flag.short_name);
    const std::string long_name(flag.long_name);
    std::shared_ptr<const cxxopts::Value> value;
    switch (flag.value) {
      case FlagValue::None:
        value = cxxopts::value<bool>();
        break;
      case FlagValue::Repeated:
        value = cxxopts::value<std::vector<std::string>>();
        break;
      case FlagValue::Optional:
        value = cxxopts::value<std::string>()->implicit_value(std::string(flag.implicit));
        break;
      default:
        value = cxxopts::value<std::string>();
        break;
    }
    options.add_option("", short_name, long_name, std::string(flag.help), value,
                       std::string(flag.value_name));
  }
  return options;
}

// Options that consume the next word as their value when it is not attached.
bool takes_value(std::string_view arg) {
  for (const FlagSpec& flag : kFlags) {
    if (!flag.takes_next_word()) continue;
    if ((!flag.short_name.empty() && arg.size() == 2 && arg[0] == '-' &&
         arg.substr(1) == flag.short_name) ||
        (arg.size() > 2 && arg.starts_with("--") && arg.substr(2) == flag.long_name))
      return true;
  }
  return false;
}

// Index of the first word that belongs to the command (argc when there is none); `dashdash` is
// set when that boundary was an explicit `--`.
int command_start(int argc, const char* const* argv, bool& dashdash) {
  dashdash = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") {
      dashdash = true;
      return i;
    }
    if (arg.size() < 2 || arg[0] != '-') return i;
    if (takes_value(arg)) ++i;
  }
  return argc;
}

}  // namespace

std::string usage_text() {
  return make_options().help();
}

CliOptions parse_cli(int argc, const char* const* argv) {
  bool dashdash = false;
  const int start = command_start(argc, argv, dashdash);
  if (start > argc) throw UsageError("option " + in_quotes(argv[argc - 1]) + " requires a value");
  std::vector<const char*> own(argv, argv + start);
  CliOptions cli;
  try {
    auto options = make_options();
    auto result = options.parse(static_cast<int>(own.size()), own.data());
    if (!result.unmatched().empty())
      throw UsageError("unexpected argument: " + in_quotes(result.unmatched().front()));
    cli.debug = result.count("debug") > 0;
    cli.monitor = result.count("monitor") > 0;
    cli.version = result.count("version") > 0;
    cli.help = result.count("help") > 0;
    cli.linux_features = result.count("linux-features") > 0;
    if (result.count("settings")) cli.settings = result["settings"].as<std::string>();
    if (result.count("template")) cli.template_name = result["template"].as<std::string>();
    cli.list_templates = result.count("list-templates") > 0;
    if (result.count("c")) cli.shell_command = result["c"].as<std::string>();
    if (result.count("shell")) {
      const std::string shell = result["shell"].as<std::string>();
      if (shell == "user")
        cli.shell = ShellChoice::User;
      else if (shell != "default")
        throw UsageError("--shell " + in_quotes(shell) + ": expected default or user");
    }
    cli.shell_login = result.count("shell-login") > 0;
    if (result.count("audit-log")) cli.audit_log = result["audit-log"].as<std::string>();
    if (result.count("fence-log-file")) cli.log_file = result["fence-log-file"].as<std::string>();
    if (result.count("audit-syslog")) cli.audit_syslog = result["audit-syslog"].as<std::string>();
    if (result.count("port"))
      for (const auto& text : result["port"].as<std::vector<std::string>>())
        cli.ports.push_back(parse_exposed_port(text));
  } catch (const cxxopts::exceptions::exception& e) {
    throw UsageError(e.what());
  }
  for (int i = start + (dashdash ? 1 : 0); i < argc; ++i) cli.command.emplace_back(argv[i]);
  if (cli.shell_command && !cli.command.empty())
    throw UsageError("-c STRING and a command cannot be combined");
  if (!cli.shell_command && (cli.shell != ShellChoice::Default || cli.shell_login))
    throw UsageError("--shell and --shell-login apply to -c STRING only");
  if (cli.settings && cli.settings->empty()) throw UsageError("--settings needs a file name");
  if (cli.template_name && cli.template_name->empty())
    throw UsageError("--template needs a template name (see fence --list-templates)");
  if (cli.audit_log && cli.audit_log->empty()) throw UsageError("--audit-log needs a file name");
  if (cli.log_file && cli.log_file->empty()) throw UsageError("--fence-log-file needs a file name");
  if (cli.audit_syslog && cli.audit_syslog->empty())
    throw UsageError("--audit-syslog=SOCKET needs a socket path");
  for (std::size_t i = 0; i < cli.ports.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (cli.ports[i].port == cli.ports[j].port)
        throw UsageError("-p: port " + std::to_string(cli.ports[i].port) + " is given twice");
  return cli;
}

ExposedPort parse_exposed_port(std::string_view text) {
  const std::string what = "-p " + in_quotes(text) + ": ";
  ExposedPort out;
  std::string_view port_text = text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find("]:");
    if (close == std::string_view::npos) throw UsageError(what + "expected [IPv6]:PORT");
    out.address = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
    in6_addr a6{};
    if (::inet_pton(AF_INET6, out.address.c_str(), &a6) != 1)
      throw UsageError(what + "not an IPv6 address: " + in_quotes(out.address));
  } else if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
    out.address = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    in_addr a4{};
    if (::inet_pton(AF_INET, out.address.c_str(), &a4) != 1)
      throw UsageError(what + "not an IPv4 address: " + in_quotes(out.address) +
                       " (write IPv6 addresses as [ADDR]:PORT)");
  }
  unsigned value = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
  if (port_text.empty() || ec != std::errc{} || end != port_text.data() + port_text.size() ||
      value < 1 || value > 65535)
    throw UsageError(what + "port must be a number from 1 to 65535");
  out.port = static_cast<std::uint16_t>(value);
  return out;
}

}  // namespace fence::supervisor
