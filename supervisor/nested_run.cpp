#include "supervisor/nested_run.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "ipc/grammar.hpp"
#include "platform/kernel_features.hpp"
#include "platform/unique_fd.hpp"
#include "supervisor/config/config_json.hpp"
#include "supervisor/policy/safe_text.hpp"

namespace fence::supervisor {
namespace {

constexpr const char* kOuterHint = "put it in the outer sandbox's policy instead";

[[noreturn]] void refuse(const std::string& what) {
  throw ConfigError("fence inside another fence sandbox cannot honour " + what);
}

// The trees the nested command may write: its allowWrite roots and /dev/shm (launcher/nested.cpp:
// the outer sandbox's /tmp only when listed, else a fresh private directory in it).
bool writable_here(const ipc::LaunchSpec& spec, const std::string& path) {
  if (ipc::is_within(path, "/dev/shm")) return true;
  for (const std::string& root : spec.writable)
    if (ipc::is_within(path, root)) return true;
  return false;
}

// Whether the mount holding `path` (or, when it is missing, its nearest existing ancestor) is
// read-only in this view: where the outer sandbox made it so.
bool read_only_here(std::string path) {
  for (;;) {
    struct statvfs st {};
    if (::statvfs(path.c_str(), &st) == 0) return (st.f_flag & ST_RDONLY) != 0;
    if (errno != ENOENT && errno != ENOTDIR) return false;
    if (path == "/") return false;
    const std::size_t slash = path.rfind('/');
    path = slash == 0 ? "/" : path.substr(0, slash);
  }
}

// Whether the outer sandbox shows nothing at `path`: it is missing, or it is the outer
// sandbox's mask (launcher/root_filesystem.cpp: mode 000 on a read-only mount, which no one
// without capabilities can open). A path that merely refuses to be listed is not hidden.
bool hidden_here(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return errno == ENOENT || errno == ENOTDIR;
  return (st.st_mode & 07777) == 0 && read_only_here(path);
}

nlohmann::json ssh_json(const SshRules& ssh) {
  return {{"allowedHosts", ssh.allowed_hosts},          {"deniedHosts", ssh.denied_hosts},
          {"allowedCommands", ssh.allowed_commands},    {"deniedCommands", ssh.denied_commands},
          {"allowAllCommands", ssh.allow_all_commands}, {"inheritDeny", ssh.inherit_deny}};
}

std::vector<std::string> effective_deny(const CommandRules& rules) {
  std::vector<std::string> deny = rules.deny;
  if (rules.use_defaults)
    deny.insert(deny.end(), default_denied_commands().begin(), default_denied_commands().end());
  return deny;
}

bool contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

// The outer sandbox's document, from a regular file on a read-only mount (its init made it so
// before the command started), at most ipc::kMaxExecRulesLen bytes.
std::string read_outer_exec_rules() {
  const char* path = ipc::kExecRulesFile;
  platform::UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd) throw std::invalid_argument(std::string(path) + ": " + std::strerror(errno));
  struct stat st {};
  struct statvfs vfs {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      st.st_size > static_cast<off_t>(ipc::kMaxExecRulesLen))
    throw std::invalid_argument(std::string(path) + ": not a regular file of the expected size");
  if (::fstatvfs(fd.get(), &vfs) != 0 || (vfs.f_flag & ST_RDONLY) == 0)
    throw std::invalid_argument(std::string(path) + ": not on a read-only mount");
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::read(fd.get(), text.data() + done, text.size() - done);
    if (n <= 0) throw std::invalid_argument(std::string(path) + ": short read");
    done += static_cast<std::size_t>(n);
  }
  return text;
}

}  // namespace

std::string exec_rules_document(const CommandRules& rules, bool checked) {
  const nlohmann::json doc = {{"checked", checked},
                              {"deny", effective_deny(rules)},
                              {"allow", rules.allow},
                              {"ssh", ssh_json(rules.ssh)}};
  std::string text = doc.dump();
  // Too long for the sandbox to carry: no document, and nested runs with rules are refused.
  if (text.size() > ipc::kMaxExecRulesLen) text.clear();
  return text;
}

std::optional<std::string> uncovered_command_rules(const CommandRules& rules,
                                                   const std::string& outer) {
  const nlohmann::json doc = nlohmann::json::parse(outer, nullptr, false);
  if (!doc.is_object() || !doc.contains("checked") || !doc["checked"].is_boolean() ||
      !doc.contains("deny") || !doc["deny"].is_array() || !doc.contains("allow") ||
      !doc["allow"].is_array() || !doc.contains("ssh") || !doc["ssh"].is_object())
    throw std::invalid_argument("not a command rules document");
  std::vector<std::string> outer_deny, outer_allow;
  try {
    outer_deny = doc["deny"].get<std::vector<std::string>>();
    outer_allow = doc["allow"].get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception&) {
    throw std::invalid_argument("not a command rules document");
  }
  const std::vector<std::string> deny = effective_deny(rules);
  const bool ssh_rules = rules.ssh.active();
  if (deny.empty() && !ssh_rules) return std::nullopt;
  if (!doc["checked"].get<bool>()) return "the outer sandbox checks no command at exec";
  for (const std::string& rule : deny)
    if (!contains(outer_deny, rule))
      return "command rule " + in_quotes(rule) + " is not one of the outer sandbox's";
  for (const std::string& exception : outer_allow)
    if (!contains(rules.allow, exception))
      return "the outer sandbox allows " + in_quotes(exception) +
             " (command.allow), this policy does not";
  if (ssh_rules && doc["ssh"] != ssh_json(rules.ssh))
    return "its ssh rules differ from the outer sandbox's";
  return std::nullopt;
}

bool inside_outer_sandbox(std::string* why_not) {
  std::string missing = platform::nested_sandbox_evidence();
  if (why_not) *why_not = missing;
  return missing.empty();
}

std::vector<std::string> adapt_to_outer_sandbox(LaunchPlan& plan, const CliOptions& cli,
                                                const CommandRules& rules) {
  ipc::LaunchSpec& spec = plan.spec;
  std::vector<std::string> lines;
  if (!cli.ports.empty())
    refuse("-p (it has no network namespace of its own to expose a port from)");
  // SECURITY: the outer sandbox holds the one seccomp listener; a rule it does not check at
  // every exec would be checked on the command line only.
  if (spec.check_exec) {
    std::optional<std::string> uncovered;
    try {
      uncovered = uncovered_command_rules(rules, read_outer_exec_rules());
    } catch (const std::invalid_argument& e) {
      uncovered =
          std::string("the outer sandbox's command rules cannot be read (") + e.what() + ")";
    }
    if (uncovered)
      refuse("its command rules: " + *uncovered +
             "; only the outermost fence checks commands at every exec (" + kOuterHint + ")");
    lines.push_back(
        "[fence:cmd] command rules: each is one the outer sandbox checks at every exec");
    spec.check_exec = false;
  }
  if (!plan.denied_write_names.empty())
    refuse("filesystem.denyWrite " + in_quotes("**/" + plan.denied_write_names.front()) +
           ": names protected at any depth need checks at every write; " + kOuterHint);
  // SECURITY: Landlock cannot take back a part of a tree it allows. Each denyRead path must be
  // shown by nothing already, each denyWrite path be read-only already (its nearest existing
  // ancestor, when it is missing) wherever this run may write.
  for (const std::string& path : spec.hidden)
    if (!hidden_here(path))
      refuse("filesystem.denyRead " + in_quotes(path) +
             ": the outer sandbox shows it, and Landlock cannot hide a part of what it allows; " +
             kOuterHint);
  for (const std::string& path : plan.denied_write_paths)
    if (writable_here(spec, path) && !read_only_here(path))
      refuse("filesystem.denyWrite " + in_quotes(path) +
             ": the outer sandbox lets it be written, and Landlock cannot protect a part of "
             "what it allows; " +
             kOuterHint);
  // The always-protected set (shell rc files, git hooks and config, fence's own files): an
  // outer fence sandbox keeps the existing ones read-only in its writable trees, and guards
  // the missing ones by name at every creation (the same built-in list).
  for (const std::string& path : spec.read_only) {
    struct stat st {};
    if (writable_here(spec, path) && ::lstat(path.c_str(), &st) == 0 && !read_only_here(path))
      refuse("the protected path " + in_quotes(path) +
             ": the outer sandbox lets it be written, and Landlock cannot protect a part of "
             "what it allows (move it out of the trees this run may write, or protect it in the "
             "outer policy)");
  }
  for (const std::string& path : spec.creatable)
    lines.push_back("[fence:fs] allowWrite: " + path +
                    " does not exist; a nested run cannot let the command create it (skipped)");
  spec.creatable.clear();
  for (const std::string& device : spec.devices)
    lines.push_back("[fence:fs] devices.allow: " + device +
                    " skipped (the outer sandbox's /dev applies)");
  spec.devices.clear();
  for (std::uint16_t port : spec.local_outbound_ports)
    lines.push_back("[fence:net] allowLocalOutboundPorts: " + std::to_string(port) +
                    " skipped (the outer sandbox's network applies)");
  spec.local_outbound_ports.clear();
  for (const std::string& socket : spec.unix_sockets)
    lines.push_back("[fence:net] allowUnixSockets: " + socket +
                    " skipped (the outer sandbox decides every unix socket connect)");
  spec.unix_sockets.clear();
  spec.nested = true;
  return lines;
}

std::string nested_run_summary() {
  return "[fence] inside another fence sandbox: this run adds its filesystem and environment "
         "rules to the outer sandbox's; the outer sandbox's network and devices apply (no "
         "namespaces or proxies of its own), TMPDIR is private, modes, owners and times "
         "cannot change";
}

}  // namespace fence::supervisor
