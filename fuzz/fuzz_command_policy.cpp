// libFuzzer harness for the command policy (supervisor/policy/command_policy.hpp) with fence's
// default rules: check_exec() is what the supervisor runs on every execve inside the sandbox,
// with the path and argv the sandboxed program chose. The input is split at NUL bytes into
// the path and then the argv (at most kMaxArgs strings); check_argv() and check_shell() get the
// same material. Any violation of the invariants below aborts.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/policy/command_policy.hpp"

namespace {

using fence::supervisor::CommandPolicy;
using fence::supervisor::CommandRules;
using fence::supervisor::default_denied_commands;
using fence::supervisor::kUnparsableRule;
using Verdict = CommandPolicy::Verdict;

constexpr std::size_t kMaxArgs = 64;
// Verdicts quote the command shortened to 512 bytes and "...".
constexpr std::size_t kMaxShownCommand = 512 + 3;

void require_at(bool condition, const char* what, int line) {
  if (condition) return;
  std::fprintf(stderr, "invariant violated at line %d: %s\n", line, what);
  std::abort();
}
#define require(condition) require_at((condition), #condition, __LINE__)

const CommandPolicy& defaults() {
  static const CommandPolicy policy{CommandRules{}};  // use_defaults = true, nothing else
  return policy;
}

bool is_default_rule(std::string_view rule) {
  const auto& d = default_denied_commands();
  return std::find(d.begin(), d.end(), rule) != d.end();
}

bool same(const Verdict& a, const Verdict& b) {
  return a.blocked == b.blocked && a.rule == b.rule && a.command == b.command &&
         a.reason == b.reason && a.certain == b.certain;
}

// What every verdict promises: a refusal names a rule that exists and says why; a certain one
// rests on a deny rule as written; no refusal carries nothing.
void check_verdict(const Verdict& v) {
  if (!v.blocked) {
    require(!v.certain);
    require(v.rule.empty() && v.command.empty() && v.reason.empty());
    return;
  }
  require(!v.rule.empty());
  require(!v.reason.empty());
  require(is_default_rule(v.rule) || v.rule == kUnparsableRule);
  require(v.command.size() <= kMaxShownCommand);
  if (v.certain) {
    require(is_default_rule(v.rule));
    require(v.reason == "denied command");
  }
}

template <typename F>
Verdict call(const char* what, F f) {
  try {
    return f();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s threw: %s\n", what, e.what());
  } catch (...) {
    std::fprintf(stderr, "%s threw a non-std exception\n", what);
  }
  std::abort();  // none of the checks is documented to throw
}

Verdict exec(const std::string& path, const std::vector<std::string>& argv) {
  return call("check_exec", [&] { return defaults().check_exec(path, argv); });
}
Verdict argv_verdict(const std::vector<std::string>& argv) {
  return call("check_argv", [&] { return defaults().check_argv(argv); });
}
Verdict shell(std::string_view text) {
  return call("check_shell", [&] { return defaults().check_shell(text); });
}

// argv as shell text that runs exactly that argv: every word single-quoted.
std::string quoted(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) {
    if (!out.empty()) out += ' ';
    out += '\'';
    for (const char c : a) {
      if (c == '\'') out += "'\\''";
      else out += c;
    }
    out += '\'';
  }
  return out;
}

std::vector<std::string> concat(std::vector<std::string> base, const std::vector<std::string>& more) {
  base.insert(base.end(), more.begin(), more.end());
  return base;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> pieces;
  for (std::size_t pos = 0; pieces.size() <= kMaxArgs;) {
    const std::size_t nul = input.find('\0', pos);
    pieces.emplace_back(input.substr(pos, nul == std::string_view::npos ? nul : nul - pos));
    if (nul == std::string_view::npos) break;
    pos = nul + 1;
  }
  const std::string path = pieces.front();
  const std::vector<std::string> argv(pieces.begin() + 1, pieces.end());

  // ---- check_exec: the runtime check ----
  const Verdict v = exec(path, argv);
  check_verdict(v);
  require(same(v, exec(path, argv)));  // deterministic
  // "Refuses only on certain matches, of argv or of argv with argv[0] replaced by path".
  require(!v.blocked || v.certain);
  require(v.rule != kUnparsableRule);
  const Verdict by_argv = argv_verdict(argv);
  check_verdict(by_argv);
  require(same(by_argv, argv_verdict(argv)));
  bool by_path_certain = false;
  if (!path.empty() && (argv.empty() || argv.front() != path)) {
    std::vector<std::string> by_path = argv;
    if (by_path.empty()) by_path.push_back(path);
    else by_path.front() = path;
    const Verdict w = argv_verdict(by_path);
    check_verdict(w);
    by_path_certain = w.certain;
  }
  require(v.blocked == (by_argv.certain || by_path_certain));
  if (by_argv.certain) require(same(v, by_argv));

  // ---- check_shell on the same material ----
  // The argv written as shell text (each word single-quoted) is exactly that argv, so the
  // shell check must reach the same verdict as the argv check.
  const Verdict q = shell(quoted(argv));
  check_verdict(q);
  require(same(q, by_argv));
  // The input itself as shell text.
  const Verdict t = shell(input);
  check_verdict(t);
  require(same(t, shell(input)));

  // ---- known denials stay denied ----
  // Deny rules match a program and words found in order among its arguments; arguments
  // appended after a denied command cannot unmatch it. Only bases where the appended words
  // stay arguments of the denied command (not options of a wrapper: `su -c X -c Y` runs Y).
  static const std::vector<std::vector<std::string>> kDenied = {
      {"shutdown"},
      {"/sbin/reboot", "-f"},
      {"sh", "-c", "reboot"},
      {"bash", "-lc", "ls; halt"},
      {"sudo", "-u", "root", "poweroff"},
      {"env", "A=1", "nice", "-n", "5", "mkfs.ext4"},
      {"dd", "if=/dev/zero"},
      {"docker", "run", "--privileged"},
      {"systemctl", "reboot"},
      {"timeout", "5", "init", "0"},
  };
  const std::vector<std::string> extra(argv.begin(), argv.begin() + std::min<std::size_t>(
                                                                         argv.size(), 8));
  for (const auto& base : kDenied) {
    const Verdict d = exec(base.front(), concat(base, extra));
    require(d.blocked && d.certain);
    require(is_default_rule(d.rule));
  }
  // The program is the path given to execve, whatever argv[0] says (`exec -a ls reboot`).
  require(exec("/sbin/reboot", argv).blocked);
  require(exec("/usr/sbin/mkfs.vfat", argv).blocked);
  return 0;
}
