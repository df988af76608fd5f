#include "supervisor/cli.hpp"

#include <cxxopts.hpp>

#include <algorithm>
#include <array>
#include <string_view>

namespace fence::supervisor {
namespace {

cxxopts::Options make_options() {
  cxxopts::Options options("fence", "Run a command in a sandbox with restricted network and filesystem access.");
  options.custom_help("[flags]");
  options.positional_help("[--] command [args...]");
  options.add_options()
      ("c", "Run STRING with /bin/sh -c", cxxopts::value<std::string>(), "STRING")
      ("s,settings", "Settings file (default: ~/.fence.json, else the built-in policy)",
       cxxopts::value<std::string>(), "FILE")
      ("audit-log", "Append a JSON Lines audit record of every decision to FILE",
       cxxopts::value<std::string>(), "FILE")
      ("d,debug", "Print the sandbox plan and every decision to stderr")
      ("m,monitor", "Print blocked requests and violations to stderr")
      ("linux-features", "Report what this kernel supports and what fence enforces here")
      ("v,version", "Print the version")
      ("h,help", "Print this help");
  return options;
}

// Options that consume the next word as their value when it is not attached.
bool takes_value(std::string_view arg) {
  constexpr std::array<std::string_view, 4> kWithValue = {"-c", "-s", "--settings", "--audit-log"};
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

std::string usage_text() { return make_options().help(); }

CliOptions parse_cli(int argc, const char* const* argv) {
  bool dashdash = false;
  const int start = command_start(argc, argv, dashdash);
  if (start > argc) throw UsageError("option " + std::string(argv[argc - 1]) + " requires a value");
  std::vector<const char*> own(argv, argv + start);
  CliOptions cli;
  try {
    auto options = make_options();
    auto result = options.parse(static_cast<int>(own.size()), own.data());
    if (!result.unmatched().empty())
      throw UsageError("unexpected argument: " + result.unmatched().front());
    cli.debug = result.count("debug") > 0;
    cli.monitor = result.count("monitor") > 0;
    cli.version = result.count("version") > 0;
    cli.help = result.count("help") > 0;
    cli.linux_features = result.count("linux-features") > 0;
    if (result.count("settings")) cli.settings = result["settings"].as<std::string>();
    if (result.count("c")) cli.shell_command = result["c"].as<std::string>();
    if (result.count("audit-log")) cli.audit_log = result["audit-log"].as<std::string>();
  } catch (const cxxopts::exceptions::exception& e) {
    throw UsageError(e.what());
  }
  for (int i = start + (dashdash ? 1 : 0); i < argc; ++i) cli.command.emplace_back(argv[i]);
  if (cli.shell_command && !cli.command.empty())
    throw UsageError("-c STRING and a command cannot be combined");
  if (cli.settings && cli.settings->empty()) throw UsageError("--settings needs a file name");
  if (cli.audit_log && cli.audit_log->empty()) throw UsageError("--audit-log needs a file name");
  return cli;
}

}  // namespace fence::supervisor
