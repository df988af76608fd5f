// The wrappers the command policy sees through: a table of commands that run their operands
// (env, sudo, timeout, xargs, ...) with the options that take an argument, so the wrapped
// command can be found after them; shells with -c, eval, alias, trap and find -exec.
#include "supervisor/policy/command_wrappers.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <utility>

namespace fence::supervisor::command_wrappers {

std::string_view base_name(std::string_view path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string joined(WordSpan cmd) {
  std::string out;
  for (std::size_t i = 0; i < cmd.size(); ++i) out += (i ? " " : "") + cmd[i].text;
  return out;
}

ShellWord literal_word(std::string text) {
  ShellWord w;
  w.text = std::move(text);
  return w;
}

namespace {

ShellWord unknown_word(std::string text, Kind kind) {
  ShellWord w;
  w.text = std::move(text);
  w.kind = kind;
  // (Constructed, not assigned from a literal: g++ 12's -Wrestrict misfires on the
  // assignment when inlined here at -O2.)
  if (kind != Kind::Any) w.pattern = std::string(1, '*');
  return w;
}

// Words joined as a shell would re-read them (eval, watch); known only if every word is.
ShellWord joined_text(WordSpan words) {
  const bool known = std::all_of(words.begin(), words.end(), [](auto& w) { return w.literal(); });
  return known ? literal_word(joined(words)) : unknown_word(joined(words), Kind::Any);
}

void add_argv(std::vector<Inner>& out, Words argv, bool uncertain) {
  if (argv.empty()) return;
  if (uncertain) {  // a skipped operand was a run-time word: the program may be any of these
    Words shifted = argv;
    shifted.insert(shifted.begin(), unknown_word("<unknown>", Kind::Single));
    out.push_back({std::move(shifted), std::nullopt});
  }
  out.push_back({std::move(argv), std::nullopt});
}

// getopt-style options of a wrapper, up to its first operand.
struct Options {
  std::size_t operand = 0;
  std::vector<std::pair<std::string, ShellWord>> values;  // options given an argument
  std::vector<std::string> flags;

  bool has(std::string_view a, std::string_view b) const {
    return std::any_of(flags.begin(), flags.end(), [&](auto& f) { return f == a || f == b; });
  }
  const ShellWord* value(std::string_view a, std::string_view b) const {
    const ShellWord* found = nullptr;
    for (const auto& [name, word] : values) found = name == a || name == b ? &word : found;
    return found;
  }
};

bool listed(std::string_view space_separated, std::string_view name) {
  std::size_t p = 0;
  while (p < space_separated.size()) {
    std::size_t e = space_separated.find(' ', p);
    if (e == std::string_view::npos) e = space_separated.size();
    if (space_separated.substr(p, e - p) == name) return true;
    p = e + 1;
  }
  return false;
}

// Stops at "--", at a word not starting with '-', and at a run-time word (which then stands
// for the program: unknown, so it matches conservatively). With `permute` (GNU getopt's
// default, su's), operands are stepped over and options after them still count.
Options parse_options(WordSpan cmd, std::string_view short_args, std::string_view long_args,
                      bool permute = false) {
  Options opts;
  std::size_t i = 1;
  while (i < cmd.size()) {
    const ShellWord& w = cmd[i];
    const std::string& t = w.text;
    const bool option = w.literal() && t.size() >= 2 && t[0] == '-';
    if (!option && !permute) break;
    ++i;
    if (!option) continue;
    if (t == "--") break;
    if (t.starts_with("--")) {
      const std::size_t eq = t.find('=');
      const std::string name = t.substr(0, eq);
      if (eq != std::string::npos) {
        opts.values.emplace_back(name, literal_word(t.substr(eq + 1)));
      } else if (listed(long_args, name) && i < cmd.size()) {
        opts.values.emplace_back(name, cmd[i++]);
      } else {
        opts.flags.push_back(name);
      }
      continue;
    }
    for (std::size_t j = 1; j < t.size(); ++j) {
      const std::string name = {'-', t[j]};
      if (short_args.find(t[j]) == std::string_view::npos) {
        opts.flags.push_back(name);
      } else {
        if (j + 1 < t.size()) opts.values.emplace_back(name, literal_word(t.substr(j + 1)));
        if (j + 1 >= t.size() && i < cmd.size()) opts.values.emplace_back(name, cmd[i++]);
        break;
      }
    }
  }
  opts.operand = i;
  return opts;
}

struct Wrapper {
  std::string_view name;
  std::string_view short_args;  // short options that take an argument
  std::string_view long_args;   // long options that take an argument (space separated)
  int operands;                 // operands before the command: timeout's DURATION
};

constexpr std::array<Wrapper, 21> kWrappers = {{
    {"env", "uCSa", "--unset --chdir --split-string --argv0", 0},
    {"sudo", "ugCDhprtUT",
     "--user --group --close-from --chdir --host --prompt --role --type --other-user "
     "--command-timeout",
     0},
    {"doas", "uC", "", 0},
    {"command", "", "", 0},
    {"exec", "a", "", 0},
    {"builtin", "", "", 0},
    {"nice", "n", "--adjustment", 0},
    {"nohup", "", "", 0},
    {"setsid", "", "", 0},
    {"timeout", "sk", "--signal --kill-after", 1},
    {"time", "fo", "--format --output", 0},
    {"stdbuf", "ioe", "--input --output --error", 0},
    {"ionice", "cnpPu", "--class --classdata --pid --pgid --uid", 0},
    {"chrt", "TPD", "--sched-runtime --sched-period --sched-deadline", 1},
    {"taskset", "", "", 1},
    {"busybox", "", "", 0},
    {"xargs", "adEILnPs",
     "--arg-file --delimiter --max-args --max-procs --max-chars --process-slot-var", 0},
    {"flock", "wE", "--wait --timeout --conflict-exit-code", 1},
    {"watch", "nq", "--interval --equexit", 0},
    {"su", "csgGwu",
     "--command --session-command --shell --group --supp-group --whitelist-environment", 0},
    {"runuser", "csgGwu",
     "--command --session-command --shell --group --supp-group --whitelist-environment --user", 0},
}};

bool is_shell(std::string_view name) {
  if (name.starts_with('-')) name.remove_prefix(1);  // login shell: argv[0] "-bash"
  static constexpr std::array<std::string_view, 11> kShells = {
      "sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "rbash", "yash", "fish", "lksh"};
  return std::find(kShells.begin(), kShells.end(), name) != kShells.end();
}

// sh [options] -c TEXT [$0 args]: the -c may be anywhere among the options (-lc, -o x -c).
void unwrap_shell(WordSpan cmd, std::vector<Inner>& out) {
  bool command_mode = false, maybe = false;
  std::size_t i = 1;
  for (; i < cmd.size(); ++i) {
    const ShellWord& w = cmd[i];
    const std::string& t = w.text;
    if (!w.literal()) {
      if (command_mode) break;    // the text itself
      if (w.kind == Kind::Any) {  // may be options and text: what runs is unknown
        out.push_back({{}, w});
        return;
      }
      maybe = true;  // may be "-c"
      continue;
    }
    if (t == "-" || t == "--") {
      ++i;
      break;
    }
    if (t.size() < 2 || (t[0] != '-' && t[0] != '+')) break;
    if (t.starts_with("--")) {
      if (t == "--rcfile" || t == "--init-file") ++i;
      continue;
    }
    for (std::size_t j = 1; j < t.size(); ++j) {
      if (t[j] == 'c' && t[0] == '-') command_mode = true;
      if (t[j] == 'o' || t[j] == 'O') {  // -o pipefail, +O extglob: a name follows
        ++i;
        break;
      }
    }
  }
  if ((command_mode || maybe) && i < cmd.size()) out.push_back({{}, cmd[i]});
}

// eval ARGS: the words joined and read again as shell text.
void unwrap_eval(WordSpan args, std::vector<Inner>& out) {
  const std::size_t skip = !args.empty() && args[0].literal() && args[0].text == "--";
  if (args.size() > skip) out.push_back({{}, joined_text(args.subspan(skip))});
}

// alias NAME=VALUE... and trap ACTION SIGNAL...: VALUE and ACTION are shell text run later.
void unwrap_alias_or_trap(bool alias, WordSpan args, std::vector<Inner>& out) {
  for (const ShellWord& arg : args) {
    if (arg.literal() && arg.text.starts_with('-')) continue;
    const std::size_t eq = alias ? arg.text.find('=') : std::string::npos;
    if (alias && eq == std::string::npos) continue;
    ShellWord text = arg;
    if (alias) text.text = arg.text.substr(eq + 1);
    out.push_back({{}, std::move(text)});
    if (!alias) return;
  }
}

// find ... -exec CMD ARGS ; (or +, -execdir, -ok, -okdir): {} is a path found at run time.
void unwrap_find(WordSpan cmd, std::vector<Inner>& out) {
  auto is_end = [](const ShellWord& w) { return w.literal() && (w.text == ";" || w.text == "+"); };
  for (std::size_t i = 1; i < cmd.size(); ++i) {
    const std::string& t = cmd[i].text;
    if (!cmd[i].literal() || (t != "-exec" && t != "-execdir" && t != "-ok" && t != "-okdir")) {
      continue;
    }
    Words argv;
    for (++i; i < cmd.size() && !is_end(cmd[i]); ++i) {
      const bool path = cmd[i].text.find("{}") != std::string::npos;
      argv.push_back(path ? unknown_word(cmd[i].text, Kind::Any) : cmd[i]);
    }
    add_argv(out, std::move(argv), false);
  }
}

// env -S "cmd args": the string split into words, ahead of the command.
Words env_split_strings(const Options& opts) {
  Words words;
  for (const auto& [option, value] : opts.values) {
    if (option != "-S" && option != "--split-string") continue;
    ShellSplit split = split_shell_words(value.text);
    if (!value.literal() || !split.ok()) split.words = {unknown_word(value.text, Kind::Any)};
    words.insert(words.end(), split.words.begin(), split.words.end());
  }
  return words;
}

// xargs appends words read from its input, or puts them where -I STR (-i: {}) appears.
void add_xargs_input(const Options& opts, Words& argv) {
  std::vector<std::string> marks;
  if (const ShellWord* r = opts.value("-I", "--replace")) marks.push_back(r->text);
  if (opts.has("-i", "--replace")) marks.emplace_back("{}");
  for (ShellWord& w : argv) {
    const bool replaced = std::any_of(marks.begin(), marks.end(), [&](const std::string& m) {
      return w.text.find(m) != std::string::npos;
    });
    if (replaced) w = unknown_word(w.text, Kind::Any);
  }
  argv.push_back(unknown_word("<input>", Kind::Any));
}

// su/runuser: -c TEXT anywhere (su permutes its options); runuser -u USER CMD runs CMD.
void unwrap_su(const Wrapper& wrapper, const Options& opts, WordSpan cmd, std::vector<Inner>& out) {
  const Options all = parse_options(cmd, wrapper.short_args, wrapper.long_args, true);
  const ShellWord* text = all.value("-c", "--command");
  if (text == nullptr) text = all.value("--session-command", "--session-command");
  if (text != nullptr) {
    out.push_back({{}, *text});
  } else if (wrapper.name == "runuser" && opts.value("-u", "--user") != nullptr) {
    add_argv(out, Words(cmd.begin() + static_cast<std::ptrdiff_t>(opts.operand), cmd.end()), false);
  }
}

// A wrapper from kWrappers: skip its options and operands; what follows is the command.
void unwrap_wrapper(const Wrapper& wrapper, WordSpan cmd, std::vector<Inner>& out) {
  const std::string_view name = wrapper.name;
  const Options opts = parse_options(cmd, wrapper.short_args, wrapper.long_args);
  if (name == "su" || name == "runuser") {
    unwrap_su(wrapper, opts, cmd, out);
    return;
  }
  if (name == "command" && opts.has("-v", "-V")) return;  // only looks the name up
  std::size_t i = opts.operand;
  bool uncertain = false;  // a skipped word is known only at run time
  for (int k = 0; k < wrapper.operands && i < cmd.size(); ++k, ++i) {
    uncertain = uncertain || !cmd[i].literal();
  }
  if (name == "flock" && i + 1 < cmd.size() && cmd[i].literal() &&
      (cmd[i].text == "-c" || cmd[i].text == "--command")) {
    out.push_back({{}, cmd[i + 1]});
    return;
  }
  if (name == "watch" && !opts.has("-x", "--exec")) {  // watch runs its words with sh -c
    if (i < cmd.size()) out.push_back({{}, joined_text(cmd.subspan(i))});
    return;
  }
  Words argv = name == "env" ? env_split_strings(opts) : Words{};
  if (name == "env" && i < cmd.size() && cmd[i].literal() && cmd[i].text == "-") ++i;  // -i
  if (name == "env" || name == "sudo") {  // NAME=VALUE before the command
    for (; i < cmd.size() && cmd[i].text.find('=') != std::string::npos; ++i) {
      uncertain = uncertain || !cmd[i].literal();
    }
  }
  argv.insert(argv.end(), cmd.begin() + static_cast<std::ptrdiff_t>(i), cmd.end());
  if (name == "xargs" && !argv.empty()) add_xargs_input(opts, argv);
  add_argv(out, std::move(argv), uncertain);
}

}  // namespace

// Commands that run other commands or shell text: what this layer runs.
std::vector<Inner> unwrap(WordSpan cmd) {
  std::vector<Inner> out;
  if (!cmd.front().literal()) return out;  // unknown program: matched, never unwrapped
  const std::string_view name = base_name(cmd.front().text);
  const auto wrapper = std::find_if(kWrappers.begin(), kWrappers.end(),
                                    [&](const Wrapper& w) { return w.name == name; });
  if (is_shell(name)) {
    unwrap_shell(cmd, out);
  } else if (name == "eval") {
    unwrap_eval(cmd.subspan(1), out);
  } else if (name == "alias" || name == "trap") {
    unwrap_alias_or_trap(name == "alias", cmd.subspan(1), out);
  } else if (name == "find") {
    unwrap_find(cmd, out);
  } else if (wrapper != kWrappers.end()) {
    unwrap_wrapper(*wrapper, cmd, out);
  }
  return out;
}

}  // namespace fence::supervisor::command_wrappers
