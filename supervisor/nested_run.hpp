// fence inside fence: what a run inside another fence sandbox adds, and what it refuses.
//
// Inside a fence sandbox no namespace can be made (user.max_user_namespaces is 0 there, and the
// seccomp profile refuses them). A fence run there is a further restriction of the outer
// sandbox: the launcher runs the command under this policy's Landlock ruleset and a seccomp
// profile, both stacked on the outer ones by the kernel, with this policy's environment rules
// and its command line checked before start (launcher/nested.hpp). Nothing it does can loosen
// the outer sandbox. What it cannot add:
//   - network: no namespace or proxies of its own; the outer policy's network applies;
//   - mounts: /tmp, /run and /dev are the outer sandbox's; allowWrite entries that do not exist
//     cannot be made creatable; devices.allow and allowUnixSockets add nothing;
//   - exec-time checks: the outer sandbox holds the one seccomp listener a process may have.
// Command rules are honoured when the outer sandbox checks each of them at every exec already:
// its init leaves the rules it checks at ipc::kExecRulesFile (read-only), and each deny rule of
// this policy must be one of them, with no exception (command.allow) of the outer's that this
// policy lacks, and the same ssh rules. Policies that need more than the outer sandbox and
// Landlock can give are refused (exit 122, one line saying what and why): other command rules,
// denyWrite by name at any depth ("**/NAME"), denyRead of a path the outer sandbox shows,
// denyWrite of a path it leaves writable, and -p.
#pragma once

#include <string>
#include <vector>

#include <optional>

#include "supervisor/cli.hpp"
#include "supervisor/launch_spec.hpp"
#include "supervisor/policy/command_policy.hpp"

namespace fence::supervisor {

// True when this process is provably inside a sandbox in which a nested run is sound
// (platform::nested_sandbox_evidence); `why_not` gets the first missing proof otherwise.
bool inside_outer_sandbox(std::string* why_not = nullptr);

// Checks that `plan` (built with nested = true) can be enforced as written inside the outer
// sandbox and drops what the outer sandbox decides instead. Returns the -d/-m lines for what
// was dropped; throws ConfigError with a one-line reason for a policy it cannot honour.
// `rules`: the policy's command rules.
std::vector<std::string> adapt_to_outer_sandbox(LaunchPlan& plan, const CliOptions& cli,
                                                const CommandRules& rules);

// The document a sandbox's init leaves at ipc::kExecRulesFile: the rules it checks at every exec
// (`checked`), the built-in list expanded: {"checked", "deny", "allow", "ssh"}.
std::string exec_rules_document(const CommandRules& rules, bool checked);

// Why `rules` are not all enforced by a sandbox whose document is `outer` (nullopt: they are).
// Throws std::invalid_argument for a document that is not one.
std::optional<std::string> uncovered_command_rules(const CommandRules& rules,
                                                   const std::string& outer);

// The line every nested run prints (not only with -d): what it adds and what stays the outer
// sandbox's.
std::string nested_run_summary();

}  // namespace fence::supervisor
