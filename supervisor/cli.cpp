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
  options.add_options()("c", "Run STRING with bash -c (/bin/sh -c where there is no /bin/bash)",
                        cxxopts::value<std::string>(), "STRING")(
      "shell", "The shell for -c: default (bash, else sh) or user ($SHELL)",
      cxxopts::value<std::string>(), "default|user")(
      "shell-login", "Run the -c shell as a login shell (-l: it reads its login files)")(
      "s,settings", "Settings file (default: ~/.fence.json, else the built-in policy)",
      cxxopts::value<std::string>(),
      "FILE")("audit-log", "Append a JSON Lines audit record of every decision to FILE",
              cxxopts::value<std::string>(), "FILE")(
      "audit-syslog",
      "Also send the audit records to the syslog socket (RFC 5424; default /dev/log)",
      cxxopts::value<std::string>()->implicit_value("/dev/log"), "SOCKET")(
      "p,port",
      "Expose PORT of the sandbox on the host at ADDR:PORT (default 127.0.0.1; repeatable)",
      cxxopts::value<std::vector<std::string>>(),
      "[ADDR:]PORT")("d,debug", "Print the sandbox plan and every decision to stderr")(
      "fence-log-file",
      "Write the -m and -d lines to FILE instead of stderr (also: FENCE_LOG_FILE); the command and "
      "fence runs inside it append to the same file",
      cxxopts::value<std::string>(),
      "FILE")("m,monitor", "Print blocked requests and violations to stderr")(
      "linux-features", "Report what this kernel supports and what fence enforces here")(
      "v,version", "Print the version")("h,help", "Print this help");
  return options;
}

// Options that consume the next word as their value when it is not attached.
bool takes_value(std::string_view arg) {
  constexpr std::array<std::string_view, 8> kWithValue = {
      "-c", "-s", "--settings", "--audit-log", "-p", "--port", "--shell", "--fence-log-file"};
  return std::find(kWithValue.begin(), kWithValue.end(), arg) != kWithValue.end();
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
