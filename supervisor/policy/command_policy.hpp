// The command policy: a PURE function deciding whether a command line is refused before it
// runs (fence's command.deny / command.allow / command.useDefaults, made harder to evade).
// No I/O; the shell text is read by shell_words.hpp, never run or expanded.
//
// HOSTILE INPUT: check_exec() judges every execve inside the sandbox, with the path and argv
// the sandboxed program chose (read from its memory by the launcher's init and sent in an
// ExecCheck message, as large as the kernel's argv limits allow); check_argv() and
// check_shell() judge fence's own command line or -c text. The rules come from the settings
// file (config.hpp). Fuzzed by fuzz/fuzz_command_policy.cpp.
//
// Rules. A rule is a command prefix as shell words ("git push", "dd if=", "rm -rf /"; quotes
// honoured). A simple command matches a DENY rule when
//   - its program word has the rule's first word as basename (/usr/bin/git and ./git are git);
//     the rule word "mkfs" also covers mkfs.ext4, mkfs.vfat, ...;
//   - the rule's other words appear among its arguments in order, not necessarily adjacent,
//     so options in between do not evade it: "git push" matches `git -C repo push`, and
//     "docker run --privileged" matches `docker run -it --rm --privileged img`;
//   - words compare whole ("git push" does not match `git pushd`, "rm -rf /" not `rm -rf /tmp`),
//     except: a rule word ending in '=' or '/' (longer than "/") matches any word it starts
//     ("dd if=" matches `if=/dev/sda`, "docker run -v /:/" matches `/:/host`), and "--opt"
//     also matches "--opt=value";
//   - a rule word of the form -[a-zA-Z]+ is a set of short options, matched anywhere in the
//     command: every letter must appear in some argument that starts with a single '-'
//     (case-sensitive). "rm -rf /" matches `rm -r -f /`, `rm -fr /`, `rm / -Rrf`...
// An ALLOW rule is stricter, because it widens what may run: the command must START with its
// words exactly (program by basename, or by exact path when the rule names a path; the '=' '/'
// and "--opt=" prefix forms apply, option sets and gaps do not) and those words must be known
// before run time. Allow is per simple command: `git push origin docs && git push origin main`
// is refused for its second command.
//
// What is checked: every simple command the text could run (shell_words.hpp), and inside each,
// every layer of wrappers, each layer on its own (allow on one layer does not exempt another):
//   env sudo doas command exec nice nohup timeout time stdbuf ionice setsid chrt taskset
//   xargs busybox builtin flock watch, find -exec/-execdir/-ok/-okdir,
//   sh bash dash zsh ksh mksh ash rbash yash fish with -c TEXT anywhere in their options
//   (-lc, -ec, --norc -c, -o pipefail -c), su/runuser -c TEXT, flock FILE -c TEXT,
//   env -S STRING, eval ARGS, watch ARGS (run by sh -c), trap ACTION, alias NAME=VALUE.
// Shell text inside is read recursively up to kMaxShellDepth levels.
//
// SECURITY: conservative choices (a refusal rather than a guess):
//   - text that cannot be parsed is refused, rule kUnparsableRule; so are shell texts nested
//     deeper than kMaxShellDepth and commands wrapped more than kMaxWrapperLayers times;
//   - a word known only at run time ($x, "$x", $(cmd), `cmd`, {a,b}, globs) may be any word(s)
//     that could fit it: `git $x` and `git pu*` are refused by "git push" ("x=push; git $x"
//     is what fence misses). A quoted expansion is one word, so `git commit -m "fix: $x"`
//     passes, but `git commit -m "$msg"` does not (it could be `git commit -m push`);
//   - a program that is an expansion is UNKNOWN: it is taken to be the first word of every
//     rule whose other words can still be found in its arguments, so `$cmd push` is refused
//     by "git push"; one-word rules ("shutdown") and a lone `$cmd` are left to the runtime
//     check, which sees the program that really runs (otherwise every `"$EDITOR" file` would
//     be refused under the default list); a glob program
//     matches the rules whose program its last path component could name (`/usr/bin/g?t`,
//     `*`), and its other file names may be the first arguments;
//   - shell text only known at run time (sh -c "$x", eval "$(...)") is refused;
//   - xargs appends unknown words from its input; find's {} is unknown.
// Not covered (the sandbox's runtime enforcement is the boundary): scripts run from files or
// stdin (`sh script.sh`, `curl ... | sh`), other interpreters (python -c), program-specific
// aliases (git -c alias.x=push x), commands built from data at run time other than by direct
// expansion (arithmetic evaluation of variables, source of generated files), long-option
// spellings of a rule's short options (rm --recursive --force).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/policy/shell_words.hpp"

namespace fence::supervisor {

// The rule name reported when text cannot be vouched for (unparsable, too deep, dynamic).
inline constexpr std::string_view kUnparsableRule = "unparsable shell command";
// sh -c inside sh -c ... deeper than this is refused.
inline constexpr int kMaxShellDepth = 16;
// env sudo nice ... cmd: more wrapper layers than this in one simple command are refused.
inline constexpr int kMaxWrapperLayers = 32;

// Upstream's ssh section: checks of `ssh [options] [user@]host [command]` (as a simple command
// anywhere the command policy looks, before the run and at every exec inside). Active only
// when a host list is set. In upstream's order:
//   1. the host matches deniedHosts                  -> refused
//   2. allowedHosts is set and the host matches none -> refused
//   3. no remote command (an interactive session)    -> allowed
//   4. a remote simple command matches deniedCommands (as a deny rule) -> refused
//   5. inheritDeny: the remote command is checked against command.deny and the defaults too
//   6. allowAllCommands                              -> allowed
//   7. every remote simple command starts with an allowedCommands entry (as an allow rule)
//                                                    -> allowed, else refused
// Hosts are fnmatch(3) patterns, compared without case; the host is the destination without
// ssh://, user@ and :port. A host or remote command known only at run time is refused
// uncertainly (the runtime check sees the real argv); an option that ssh would read as a
// destination-changing configuration (-o Hostname=..., -F, -J, -W) is refused, since it could
// send the session elsewhere than the host checked.
struct SshRules {
  std::vector<std::string> allowed_hosts, denied_hosts, allowed_commands, denied_commands;
  bool allow_all_commands = false;
  bool inherit_deny = false;
  // ProxyCommand values fence itself set (GIT_SSH_COMMAND through its own SOCKS proxy).
  std::vector<std::string> trusted_proxy_commands;
  bool active() const { return !allowed_hosts.empty() || !denied_hosts.empty(); }
};

struct CommandRules {
  std::vector<std::string> deny, allow;
  bool use_defaults = true;
  SshRules ssh;
};

// fence's built-in deny list, applied when use_defaults is set:
//   shutdown reboot halt poweroff "init 0" "init 6" "systemctl poweroff" "systemctl reboot"
//   "systemctl halt" insmod rmmod modprobe kexec mkfs (and mkfs.*) fdisk parted "dd if="
//   "docker run -v /:/" "docker run --privileged" chroot unshare nsenter
const std::vector<std::string>& default_denied_commands();

// A rule compiled from its text.
struct CommandRule {
  std::string text;                  // as written, for verdicts and logs
  std::string program;               // first word
  std::vector<std::string> words;    // the other words, in order (allow: an exact prefix)
  std::vector<std::string> options;  // deny: the -[a-zA-Z]+ words, matched as option sets
  std::vector<std::string> ordered;  // deny: the other words, matched in order
};

class CommandPolicy {
 public:
  // Compiles the rules (and the defaults). Throws std::invalid_argument for a rule that is
  // empty or does not split into words (unbalanced quotes, shell operators).
  explicit CommandPolicy(const CommandRules& rules);

  // No deny rules at all (no defaults, no deny, no ssh rules): nothing can be blocked, not even
  // unparsable text.
  bool empty() const { return deny_.empty() && !ssh_.active(); }

  struct Verdict {
    bool blocked = false;
    std::string rule;     // the deny rule as written, or kUnparsableRule
    std::string command;  // the simple command (or text) refused, words joined with spaces
    std::string reason;   // short human text
    // The refusal rests on known words only (a deny rule matched as written). False when it
    // rests on words known only at run time, on unparsable text or on the nesting limits:
    // the runtime check (every execve inside) lets those through, since whatever they turn
    // into is exec'd, and checked, with its real argv.
    bool certain = false;
  };

  // An exec'd argv (argv[0] may be a path): wrappers and sh -c are unwrapped.
  Verdict check_argv(const std::vector<std::string>& argv) const;
  // An execve inside the sandbox (the runtime check): `path` is execve's path argument, argv
  // as read from the process. Refuses only on certain matches, of argv or of argv with
  // argv[0] replaced by `path` (argv[0] is the caller's choice).
  Verdict check_exec(const std::string& path, const std::vector<std::string>& argv) const;
  // Shell text, as `sh -c TEXT` would run it (fence -c TEXT).
  Verdict check_shell(std::string_view text) const;

 private:
  // What one check may read: the shell texts nested in a command (sh -c, eval, su -c, ...)
  // are read one inside the other, and the same text may come up more than once (a (( ... ))
  // command is read two ways); all of them together may total kShellRereadFactor times the
  // checked text plus kShellRereadSlack bytes, past which the rest is unparsable.
  struct Budget {
    std::size_t left;
  };
  static Budget budget_for(std::size_t bytes);
  Verdict check_words(std::span<const ShellWord> words) const;
  Verdict check_text(std::string_view text, int depth, Budget& budget) const;
  Verdict check_command(std::span<const ShellWord> cmd, int depth, int layers,
                        Budget& budget) const;

  // ssh rules for one layer whose program is ssh (nullopt: nothing to refuse).
  std::optional<Verdict> check_ssh(std::span<const ShellWord> cmd, int depth, Budget& budget) const;

  std::vector<CommandRule> deny_;
  std::vector<CommandRule> allow_;
  SshRules ssh_;
  std::vector<CommandRule> ssh_denied_;
  std::vector<CommandRule> ssh_allowed_;
};

}  // namespace fence::supervisor
