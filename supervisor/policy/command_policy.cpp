#include "supervisor/policy/command_policy.hpp"
#include "supervisor/policy/safe_text.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <utility>

#include "supervisor/policy/command_wrappers.hpp"

namespace fence::supervisor {
namespace {

using Kind = ShellWord::Kind;
using Verdict = CommandPolicy::Verdict;
using Words = std::vector<ShellWord>;
using WordSpan = std::span<const ShellWord>;
using command_wrappers::base_name;
using command_wrappers::Inner;
using command_wrappers::joined;
using command_wrappers::literal_word;
using command_wrappers::unwrap;

// Verdicts quote the command; keep log lines bounded.
constexpr std::size_t kMaxShownCommand = 512;
// Run-time words with more '*' than this are assumed to fit any rule word (see could_match).
constexpr std::size_t kMaxPatternStars = 4;

// ---- Matching ---------------------------------------------------------------------------------

bool names_program(std::string_view program, std::string_view rule_program) {
  const std::string_view name = base_name(program);
  const std::string_view want = base_name(rule_program);
  // mkfs.ext4, mkfs.vfat ... are separate binaries doing what mkfs does.
  return name == want || (want == "mkfs" && name.starts_with("mkfs."));
}

// What a rule word accepts besides itself, as a prefix ("" = only itself).
std::string prefix_of(std::string_view rule_word) {
  if (rule_word.size() > 1 && (rule_word.back() == '=' || rule_word.back() == '/')) {
    return std::string(rule_word);
  }
  if (rule_word.size() > 2 && rule_word.starts_with("--") &&
      rule_word.find('=') == std::string_view::npos) {
    return std::string(rule_word) + "=";
  }
  return {};
}

bool word_matches(std::string_view rule_word, std::string_view arg) {
  if (arg == rule_word) return true;
  const std::string prefix = prefix_of(rule_word);
  return !prefix.empty() && arg.starts_with(prefix);
}

bool is_option_set(std::string_view word) {  // -[a-zA-Z]+
  return word.size() >= 2 && word[0] == '-' &&
         std::all_of(word.begin() + 1, word.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); });
}

bool is_short_cluster(std::string_view arg) {
  return arg.size() >= 2 && arg[0] == '-' && arg[1] != '-';
}

// The literal start of an fnmatch pattern, unescaped.
std::string pattern_head(std::string_view pattern) {
  std::string head;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\' && i + 1 < pattern.size()) {
      head += pattern[++i];
    } else if (pattern[i] == '*' || pattern[i] == '?' || pattern[i] == '[') {
      break;
    } else {
      head += pattern[i];
    }
  }
  return head;
}

// fnmatch backtracks exponentially on "*a*a*a..."; a pattern with that many stars could be
// nearly anything anyway, so it is not tried.
bool too_many_stars(std::string_view pattern) {
  std::size_t stars = 0;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '*') ++stars;
    if (pattern[i] == '\\') ++i;  // an escaped character
  }
  return stars > kMaxPatternStars;
}

// Could a Single or Glob word become a word that the rule word matches?
bool could_match(const std::string& rule_word, const ShellWord& w) {
  if (too_many_stars(w.pattern)) return true;
  const int flags = w.kind == Kind::Glob ? FNM_PATHNAME : 0;  // a glob never yields "/" alone
  if (::fnmatch(w.pattern.c_str(), rule_word.c_str(), flags) == 0) return true;
  const std::string prefix = prefix_of(rule_word);
  if (prefix.empty()) return false;
  const std::string head = pattern_head(w.pattern);
  return head.starts_with(prefix) || prefix.starts_with(head);
}

// Could a Glob program (a path pattern; '*' never crosses '/') name the rule's program?
bool could_name(const ShellWord& program, std::string_view rule_program) {
  const std::string pattern(base_name(program.pattern));
  const std::string want(base_name(rule_program));
  if (too_many_stars(pattern)) return true;
  if (::fnmatch(pattern.c_str(), want.c_str(), 0) == 0) return true;
  const std::string head = pattern_head(pattern);
  return want == "mkfs" &&
         (head.starts_with("mkfs.") || std::string_view("mkfs.").starts_with(head));
}

bool could_be_short_cluster(const ShellWord& w) {
  if (w.kind == Kind::Any) return true;
  const std::string head = pattern_head(w.pattern);
  return head.empty() || (head[0] == '-' && (head.size() == 1 || head[1] != '-'));
}

enum class Match : std::uint8_t { None, Certain, Possible };

// A deny rule against one layer; Possible when only run-time words make it match.
Match match_deny(const CommandRule& rule, WordSpan cmd) {
  const ShellWord& program = cmd.front();
  WordSpan args = cmd.subspan(1);
  bool possible = false;
  // An unknown program ("$CC", "$(which git)") could be any program. It is taken to be the
  // rule's program when the rest of the rule can still be found in its arguments; a one-word
  // rule ("shutdown") is left to the runtime check, which sees the program that really runs
  // (otherwise every `"$EDITOR" file` would be refused under the default list).
  const bool one_word = rule.options.empty() && rule.ordered.empty();
  switch (program.kind) {
    case Kind::Any:
    case Kind::Single:
      if (one_word) return Match::None;
      possible = true;
      break;
    case Kind::Glob:  // file names: the first is the program, the others its first arguments
      if (!could_name(program, rule.program)) return Match::None;
      possible = true;
      args = cmd;
      break;
    case Kind::Literal:
      if (!names_program(program.text, rule.program)) return Match::None;
      break;
  }
  if (!rule.options.empty()) {
    std::string letters;
    bool unknown = false;
    for (const ShellWord& a : args) {
      if (!a.literal()) unknown = unknown || could_be_short_cluster(a);
      if (a.literal() && is_short_cluster(a.text)) letters += a.text.substr(1);
    }
    for (const std::string& set : rule.options) {
      const bool all = std::all_of(set.begin() + 1, set.end(),
                                   [&](char c) { return letters.find(c) != std::string::npos; });
      if (all) continue;
      if (!unknown) return Match::None;
      possible = true;
    }
  }
  std::size_t k = 0;  // next rule word to find; greedy is optimal for an in-order subsequence
  const std::size_t n = rule.ordered.size();
  for (const ShellWord& a : args) {
    if (k == n) break;
    switch (a.kind) {
      case Kind::Literal:
        if (word_matches(rule.ordered[k], a.text)) ++k;
        break;
      case Kind::Single:  // one word
        if (could_match(rule.ordered[k], a)) {
          ++k;
          possible = true;
        }
        break;
      case Kind::Glob:  // several words, each fitting the pattern
        for (; k < n && could_match(rule.ordered[k], a); ++k) possible = true;
        break;
      case Kind::Any:
        return Match::Possible;  // may become all the missing words
    }
  }
  if (k < n) return Match::None;
  return possible ? Match::Possible : Match::Certain;
}

bool match_allow(const CommandRule& rule, WordSpan cmd) {
  const ShellWord& program = cmd.front();
  if (!program.literal()) return false;
  const bool by_path = rule.program.find('/') != std::string::npos;
  if (by_path ? program.text != rule.program : !names_program(program.text, rule.program)) {
    return false;
  }
  if (cmd.size() - 1 < rule.words.size()) return false;
  for (std::size_t i = 0; i < rule.words.size(); ++i) {
    const ShellWord& a = cmd[i + 1];
    if (!a.literal() || !word_matches(rule.words[i], a.text)) return false;
  }
  return true;
}

CommandRule compile_rule(const std::string& text, const char* list) {
  const ShellSplit split = split_shell_words(text);
  const std::string where = std::string("command.") + list + " rule " + in_quotes(text) + ": ";
  if (!split.ok()) throw std::invalid_argument(where + split.error);
  if (split.words.empty()) throw std::invalid_argument(where + "no command");
  CommandRule rule;
  rule.text = text;
  rule.program = split.words.front().text;
  for (std::size_t i = 1; i < split.words.size(); ++i) {
    const std::string& w = split.words[i].text;
    rule.words.push_back(w);
    (is_option_set(w) ? rule.options : rule.ordered).push_back(w);
  }
  return rule;
}

// ---- Verdicts ---------------------------------------------------------------------------------

std::string shown(std::string text) {
  if (text.size() <= kMaxShownCommand) return text;
  std::size_t cut = kMaxShownCommand;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // UTF-8
  text.resize(cut);
  return text + "...";
}

Verdict refused(std::string_view rule, std::string command, std::string reason) {
  return Verdict{true, std::string(rule), shown(std::move(command)), std::move(reason), false};
}

// One layer: refused when a deny rule matches and no allow rule does.
std::optional<Verdict> check_layer(const std::vector<CommandRule>& deny,
                                   const std::vector<CommandRule>& allow, WordSpan cmd) {
  for (const CommandRule& rule : allow) {
    if (match_allow(rule, cmd)) return std::nullopt;
  }
  const CommandRule* possible = nullptr;
  for (const CommandRule& rule : deny) {
    const Match m = match_deny(rule, cmd);
    if (m == Match::Certain) {
      Verdict v = refused(rule.text, joined(cmd), "denied command");
      v.certain = true;
      return v;
    }
    if (m == Match::Possible && possible == nullptr) possible = &rule;
  }
  if (possible == nullptr) return std::nullopt;
  return refused(possible->text, joined(cmd),
                 "may run a denied command (words known only at run time)");
}

}  // namespace

const std::vector<std::string>& default_denied_commands() {
  static const std::vector<std::string> kDefaults = {
      // Power state.
      "shutdown", "reboot", "halt", "poweroff", "init 0", "init 6", "systemctl poweroff",
      "systemctl reboot", "systemctl halt",
      // Kernel and disks.
      "insmod", "rmmod", "modprobe", "kexec", "mkfs", "fdisk", "parted", "dd if=",
      // Ways out of the sandbox's view of the system.
      "docker run -v /:/", "docker run --privileged", "chroot", "unshare", "nsenter"};
  return kDefaults;
}

// ---- ssh ----------------------------------------------------------------------------------------

namespace {

// ssh's options that take a value (ssh(1)); every other letter is a flag.
constexpr std::string_view kSshValueOptions = "BbcDEeFIiJLlmOoPpQRSWw";

// -o keywords that cannot change where the session goes nor run anything locally (lower case).
constexpr std::string_view kSafeSshKeywords[] = {"addkeystoagent",
                                                 "addressfamily",
                                                 "batchmode",
                                                 "bindaddress",
                                                 "bindinterface",
                                                 "casignaturealgorithms",
                                                 "certificatefile",
                                                 "checkhostip",
                                                 "ciphers",
                                                 "clearallforwardings",
                                                 "compression",
                                                 "connectionattempts",
                                                 "connecttimeout",
                                                 "escapechar",
                                                 "exitonforwardfailure",
                                                 "fingerprinthash",
                                                 "forkafterauthentication",
                                                 "forwardagent",
                                                 "forwardx11",
                                                 "forwardx11timeout",
                                                 "forwardx11trusted",
                                                 "gatewayports",
                                                 "globalknownhostsfile",
                                                 "gssapiauthentication",
                                                 "gssapidelegatecredentials",
                                                 "hashknownhosts",
                                                 "hostbasedauthentication",
                                                 "hostkeyalgorithms",
                                                 "identitiesonly",
                                                 "identityagent",
                                                 "identityfile",
                                                 "ipqos",
                                                 "kbdinteractiveauthentication",
                                                 "kexalgorithms",
                                                 "loglevel",
                                                 "logverbose",
                                                 "macs",
                                                 "nohostauthenticationforlocalhost",
                                                 "numberofpasswordprompts",
                                                 "obscurekeystroketiming",
                                                 "passwordauthentication",
                                                 "port",
                                                 "preferredauthentications",
                                                 "pubkeyacceptedalgorithms",
                                                 "pubkeyacceptedkeytypes",
                                                 "pubkeyauthentication",
                                                 "rekeylimit",
                                                 "requesttty",
                                                 "sendenv",
                                                 "serveralivecountmax",
                                                 "serveraliveinterval",
                                                 "sessiontype",
                                                 "setenv",
                                                 "stdinnull",
                                                 "streamlocalbindmask",
                                                 "streamlocalbindunlink",
                                                 "stricthostkeychecking",
                                                 "tcpkeepalive",
                                                 "updatehostkeys",
                                                 "user",
                                                 "userknownhostsfile",
                                                 "verifyhostkeydns",
                                                 "visualhostkey",
                                                 "xauthlocation"};

// Keywords allowed with one value only (they would otherwise redirect or run something).
constexpr std::pair<std::string_view, std::string_view> kSshKeywordValues[] = {
    {"controlmaster", "no"}, {"permitlocalcommand", "no"}, {"remotecommand", "none"},
    {"proxyjump", "none"},   {"proxycommand", "none"},     {"controlpath", "none"}};

std::string ascii_lower(std::string_view text) {
  std::string out;
  for (char c : text) out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return out;
}

// Whether `-o VALUE` is harmless: its keyword (ssh also reads leading blanks, '=' and quotes)
// is in the safe list, or has its one safe value, or is a ProxyCommand fence itself set.
bool safe_ssh_option(std::string_view value, const SshRules& rules) {
  for (const std::string& trusted : rules.trusted_proxy_commands)
    if (value == "ProxyCommand=" + trusted || value == "ProxyCommand " + trusted) return true;
  std::size_t i = 0;
  while (i < value.size() &&
         (value[i] == ' ' || value[i] == '\t' || value[i] == '=' || value[i] == '"'))
    ++i;
  std::size_t end = i;
  while (end < value.size() &&
         ((value[end] >= 'a' && value[end] <= 'z') || (value[end] >= 'A' && value[end] <= 'Z') ||
          (value[end] >= '0' && value[end] <= '9')))
    ++end;
  if (i != 0 || end == i) return false;  // anything unusual before the keyword: refused
  const std::string keyword = ascii_lower(value.substr(i, end - i));
  for (std::string_view safe : kSafeSshKeywords)
    if (keyword == safe) return true;
  std::string_view rest = value.substr(end);
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t' || rest.front() == '='))
    rest.remove_prefix(1);
  for (const auto& [name, only] : kSshKeywordValues)
    if (keyword == name) return ascii_lower(rest) == only;
  return false;
}

struct SshInvocation {
  std::optional<std::string> host;  // unset: not known before run time
  std::size_t remote_from = 0;      // index of the first remote-command word
  std::string refused_option;       // an option that could change the destination, as written
  bool unknown = false;             // a word known only at run time among the options
};

// ssh's own reading of its arguments (OpenSSH): options, the destination, then options again
// until the first other word, which starts the remote command.
SshInvocation read_ssh(WordSpan cmd, const SshRules& rules) {
  SshInvocation out;
  std::optional<std::string> destination;
  std::size_t i = 1;
  bool dashdash = false;
  for (; i < cmd.size(); ++i) {
    const ShellWord& w = cmd[i];
    if (!w.literal()) {
      // An option or the destination known only at run time: nothing can be vouched for.
      out.unknown = true;
      out.remote_from = cmd.size();
      return out;
    }
    const std::string& t = w.text;
    if (!dashdash && t == "--") {
      dashdash = true;
      continue;
    }
    if (!dashdash && t.size() >= 2 && t[0] == '-') {
      for (std::size_t k = 1; k < t.size(); ++k) {
        const char opt = t[k];
        if (kSshValueOptions.find(opt) == std::string_view::npos) continue;
        const bool attached = k + 1 < t.size();
        if (!attached && i + 1 < cmd.size() && !cmd[i + 1].literal()) {
          out.unknown = true;
          out.remote_from = cmd.size();
          return out;
        }
        const std::string value =
            attached ? t.substr(k + 1) : (i + 1 < cmd.size() ? cmd[i + 1].text : "");
        if (!attached) ++i;
        // -J jump host, -W forward stdio to a host, -L/-R/-D port forwarding (other hosts
        // reached through the one checked), -F another config file, -P tag (Match blocks),
        // -S a control socket (an existing session elsewhere), -O control commands.
        const bool refused = (opt == 'o' && !safe_ssh_option(value, rules)) ||
                             std::string_view("JWLRDFPO").find(opt) != std::string_view::npos ||
                             (opt == 'S' && ascii_lower(value) != "none");
        if (refused && out.refused_option.empty())
          out.refused_option = "-" + std::string(1, opt) + " " + value;
        break;
      }
      continue;
    }
    if (!destination) {
      destination = t;
      if (dashdash) {
        ++i;
        break;
      }
      continue;
    }
    break;  // the remote command
  }
  out.remote_from = i;
  if (!destination) return out;
  std::string host = *destination;
  const bool url = host.starts_with("ssh://");
  if (url) host = host.substr(6);
  if (const std::size_t at = host.rfind('@'); at != std::string::npos) host = host.substr(at + 1);
  if (!host.empty() && host.front() == '[') {
    const std::size_t close = host.find(']');
    host = host.substr(1, close == std::string::npos ? std::string::npos : close - 1);
  } else if (url) {
    if (const std::size_t colon = host.find(':'); colon != std::string::npos) host.resize(colon);
  }
  if (url && !host.empty() && host.back() == '/') host.pop_back();
  // A fully qualified name's final dot names the same host.
  if (host.size() > 1 && host.back() == '.') host.pop_back();
  // No host name has a '/' (fnmatch's '*' would match across it).
  if (host.empty() || host.find('/') != std::string::npos) {
    out.refused_option = "destination " + *destination;
    return out;
  }
  out.host = host;
  return out;
}

bool host_matches(const std::vector<std::string>& patterns, const std::string& host,
                  std::string* which) {
  for (const std::string& p : patterns) {
    if (::fnmatch(p.c_str(), host.c_str(), FNM_CASEFOLD) == 0) {
      if (which) *which = p;
      return true;
    }
  }
  return false;
}

Verdict ssh_refused(const std::string& rule, WordSpan cmd, const std::string& reason,
                    bool certain) {
  Verdict v = refused(rule, joined(cmd), reason);
  v.certain = certain;
  return v;
}

}  // namespace

std::optional<Verdict> CommandPolicy::check_ssh(WordSpan cmd, int depth, Budget& budget) const {
  // slogin is ssh under its historical name (Debian installs the link).
  if (!ssh_.active() || !cmd.front().literal() ||
      (base_name(cmd.front().text) != "ssh" && base_name(cmd.front().text) != "slogin"))
    return std::nullopt;
  const SshInvocation ssh = read_ssh(cmd, ssh_);
  if (ssh.unknown)
    return ssh_refused("ssh", cmd, "ssh options or destination known only at run time", false);
  if (!ssh.refused_option.empty())
    return ssh_refused("ssh", cmd, "option " + ssh.refused_option + " could change the destination",
                       true);
  if (!ssh.host) return ssh_refused("ssh", cmd, "ssh destination known only at run time", false);
  std::string pattern;
  if (host_matches(ssh_.denied_hosts, *ssh.host, &pattern))
    return ssh_refused("ssh.deniedHosts " + pattern, cmd, "denied ssh host", true);
  if (!ssh_.allowed_hosts.empty() && !host_matches(ssh_.allowed_hosts, *ssh.host, nullptr))
    return ssh_refused("ssh.allowedHosts", cmd, "ssh host " + *ssh.host + " is not allowed", true);
  if (ssh.remote_from >= cmd.size()) return std::nullopt;  // an interactive session
  std::string text;
  for (std::size_t i = ssh.remote_from; i < cmd.size(); ++i) {
    if (!cmd[i].literal())
      return ssh_refused("ssh", cmd, "remote command known only at run time", false);
    text += (text.empty() ? "" : " ") + cmd[i].text;
  }
  // SECURITY: from here on the text is known: it is what the REMOTE shell will run, and no
  // check of fence's will see it again (the runtime check only sees local execs). So every
  // refusal below is certain, also those that rest on the remote shell's own expansions or on
  // text fence cannot parse (bash runs a script's first lines before it finds a later error).
  if (text.size() > budget.left)
    return ssh_refused(std::string(kUnparsableRule), cmd, "shell text re-read too often", true);
  budget.left -= text.size();
  // The remote shell reads the words joined by spaces.
  const ShellParse parse = parse_shell(text);
  if (!parse.ok())
    return ssh_refused(std::string(kUnparsableRule), cmd, "cannot parse the remote command", true);
  for (const SimpleCommand& remote : parse.commands) {
    if (remote.empty()) continue;
    if (std::optional<Verdict> v = check_layer(ssh_denied_, {}, remote)) {
      v->rule = "ssh.deniedCommands " + v->rule;
      v->reason = "denied remote command";
      v->certain = true;
      return v;
    }
    if (ssh_.inherit_deny) {
      Verdict v = check_command(remote, depth + 1, 0, budget);
      if (v.blocked) {
        v.reason = "remote command: " + v.reason;
        v.certain = true;
        return v;
      }
    }
  }
  if (ssh_.allow_all_commands) return std::nullopt;
  for (const SimpleCommand& remote : parse.commands) {
    if (remote.empty()) continue;
    const bool allowed = std::any_of(ssh_allowed_.begin(), ssh_allowed_.end(),
                                     [&](const CommandRule& r) { return match_allow(r, remote); });
    if (!allowed)
      return ssh_refused("ssh.allowedCommands", remote, "remote command not allowed", true);
  }
  return std::nullopt;
}

CommandPolicy::CommandPolicy(const CommandRules& rules) {
  ssh_ = rules.ssh;
  for (const std::string& text : rules.ssh.denied_commands)
    ssh_denied_.push_back(compile_rule(text, "ssh.deniedCommands"));
  for (const std::string& text : rules.ssh.allowed_commands)
    ssh_allowed_.push_back(compile_rule(text, "ssh.allowedCommands"));
  for (const std::string& text : rules.deny) deny_.push_back(compile_rule(text, "deny"));
  if (rules.use_defaults) {
    for (const std::string& text : default_denied_commands()) {
      deny_.push_back(compile_rule(text, "deny"));
    }
  }
  for (const std::string& text : rules.allow) allow_.push_back(compile_rule(text, "allow"));
}

CommandPolicy::Budget CommandPolicy::budget_for(std::size_t bytes) {
  return Budget{kShellRereadFactor * bytes + kShellRereadSlack};
}

CommandPolicy::Verdict CommandPolicy::check_argv(const std::vector<std::string>& argv) const {
  if (empty() || argv.empty()) return {};
  Words words;
  for (const std::string& a : argv) words.push_back(literal_word(a));
  return check_words(words);
}

CommandPolicy::Verdict CommandPolicy::check_words(std::span<const ShellWord> words) const {
  std::size_t bytes = 0;
  for (const ShellWord& w : words) bytes += w.text.size();
  Budget budget = budget_for(bytes);
  return check_command(words, 0, 0, budget);
}

CommandPolicy::Verdict CommandPolicy::check_exec(const std::string& path,
                                                 const std::vector<std::string>& argv) const {
  Verdict v = check_argv(argv);
  // SECURITY: argv[0] is the caller's choice (`exec -a ls git push`); the program is the path
  // given to execve. Both are judged, and either refuses.
  if (!v.certain && !path.empty() && (argv.empty() || argv.front() != path)) {
    std::vector<std::string> by_path = argv;
    if (by_path.empty())
      by_path.push_back(path);
    else
      by_path.front() = path;
    Verdict w = check_argv(by_path);
    if (w.certain) v = std::move(w);
  }
  // Only certain matches refuse: what an unknown word or unparsable text turns into is exec'd
  // again, and checked again, with its real argv.
  if (!v.certain) v = {};
  return v;
}

CommandPolicy::Verdict CommandPolicy::check_shell(std::string_view text) const {
  if (empty()) return {};
  Budget budget = budget_for(text.size());
  return check_text(text, 0, budget);
}

namespace {

// Of several refusals, a certain one wins: an uncertain one (a word known only at run time,
// unparsable text) must not hide a certain match later in the same text or command.
struct FirstRefusal {
  CommandPolicy::Verdict verdict;
  // True when `v` settles it (a certain refusal).
  bool add(CommandPolicy::Verdict v) {
    if (!v.blocked) return false;
    if (v.certain) {
      verdict = std::move(v);
      return true;
    }
    if (!verdict.blocked) verdict = std::move(v);
    return false;
  }
};

}  // namespace

CommandPolicy::Verdict CommandPolicy::check_text(std::string_view text, int depth,
                                                 Budget& budget) const {
  if (depth > kMaxShellDepth) {
    return refused(kUnparsableRule, std::string(text), "shell commands nested too deeply");
  }
  if (depth > 0) {
    if (text.size() > budget.left)
      return refused(kUnparsableRule, std::string(text), "shell text re-read too often");
    budget.left -= text.size();
  }
  const ShellParse parse = parse_shell(text);
  if (!parse.ok()) {
    return refused(kUnparsableRule, std::string(text), "cannot parse shell text: " + parse.error);
  }
  FirstRefusal first;
  for (const SimpleCommand& cmd : parse.commands)
    if (first.add(check_command(cmd, depth, 0, budget))) break;
  return first.verdict;
}

CommandPolicy::Verdict CommandPolicy::check_command(std::span<const ShellWord> cmd, int depth,
                                                    int layers, Budget& budget) const {
  if (cmd.empty()) return {};
  if (layers > kMaxWrapperLayers) {
    return refused(kUnparsableRule, joined(cmd), "too many nested wrapper commands");
  }
  FirstRefusal first;
  if (std::optional<Verdict> v = check_layer(deny_, allow_, cmd); v && first.add(std::move(*v)))
    return first.verdict;
  if (std::optional<Verdict> v = check_ssh(cmd, depth, budget); v && first.add(std::move(*v)))
    return first.verdict;
  // SECURITY: every layer is checked on its own, wrapper and wrapped: `sudo git push` is
  // checked as `sudo git push` and as `git push`.
  for (const Inner& inner : unwrap(cmd)) {
    Verdict v;
    if (!inner.shell_text) {
      v = check_command(inner.argv, depth, layers + 1, budget);
    } else if (inner.shell_text->literal()) {
      v = check_text(inner.shell_text->text, depth + 1, budget);
    } else {
      v = refused(kUnparsableRule, inner.shell_text->text,
                  "runs shell text that is only known at run time");
    }
    if (first.add(std::move(v))) break;
  }
  return first.verdict;
}

}  // namespace fence::supervisor
