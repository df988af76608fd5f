// fence's JSON configuration (~/.fence.json or -s FILE): the typed, validated form.
//
// Compatible with the Go fence schema; strict where fence is lenient: unknown keys, duplicate
// keys, wrong types, empty strings, NUL bytes and malformed domains/paths are errors naming the
// key and its line:column, and the command is not run (SECURITY-RULES 17). The reference for
// every field is docs/configuration.md.
//
// HOSTILE INPUT: parse_config() reads the settings file (-s FILE, or ~/.fence.json), which may
// come from an untrusted repository; load_config() feeds it the file's bytes (at most
// kMaxConfigFileSize). Fuzzed by fuzz/fuzz_config.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/config/config_json.hpp"  // ConfigError
#include "supervisor/policy/command_policy.hpp"
#include "supervisor/policy/network_policy.hpp"

namespace fence::supervisor {

// Settings files larger than this are rejected before being read into memory.
inline constexpr std::size_t kMaxConfigFileSize = 1024 * 1024;
// Name used in messages for the built-in policy.
inline constexpr std::string_view kDefaultConfigSourceName = "<default config>";
// File looked up in the home directory when no -s/--settings is given.
inline constexpr std::string_view kUserConfigFileName = ".fence.json";

struct NetworkConfig {
  std::vector<std::string> allowed_domains;       // allowedDomains, normalized patterns
  std::vector<std::string> denied_domains;        // deniedDomains, normalized patterns
  std::vector<std::string> allow_unix_sockets;    // allowUnixSockets, raw paths
  bool allow_all_unix_sockets = false;            // allowAllUnixSockets
  bool allow_local_binding = false;               // allowLocalBinding
  std::optional<bool> allow_local_outbound;       // allowLocalOutbound (unset: see effective_...)
  std::optional<std::uint16_t> http_proxy_port;   // httpProxyPort, 1..65535
  std::optional<std::uint16_t> socks_proxy_port;  // socksProxyPort, 1..65535
  std::vector<std::uint16_t> allow_local_outbound_ports;  // allowLocalOutboundPorts (extension)
  // Upstream's mitmproxy chaining. Parsed and validated; refused at load time (not enforced by
  // this build: connections no rule allows are refused, never forwarded).
  std::optional<std::string> upstream_proxy;  // upstreamProxy: http://host[:port]
  std::optional<std::string> default_action;  // defaultAction: "deny" | "proxy"
  // transparent (extension): programs that ignore the proxy variables get the same decisions
  // through nftables redirects in the sandbox (default on where the kernel allows it).
  std::optional<bool> transparent;
  // verifyTls (extension): on the transparent path, a connection to a synthetic address must
  // name its host in its TLS server name or HTTP Host header (default off).
  std::optional<bool> verify_tls;

  // fence: "defaults to allowLocalBinding if not set".
  bool effective_allow_local_outbound() const {
    return allow_local_outbound.value_or(allow_local_binding);
  }
};

// Path entries are kept as written (may be relative, "~/...", or globs); build_filesystem_plan()
// resolves them against the working and home directories of the run.
struct FilesystemConfig {
  std::vector<std::string> deny_read;      // denyRead
  std::vector<std::string> allow_read;     // allowRead
  std::vector<std::string> allow_execute;  // allowExecute
  std::vector<std::string> allow_write;    // allowWrite
  std::vector<std::string> deny_write;     // denyWrite
  bool allow_git_config = false;           // allowGitConfig
  // Reads denied but for a default readable set (system directories, toolchain directories in
  // $HOME), allowRead and allowWrite: cwd and $HOME are then readable only when listed.
  bool default_deny_read = false;  // defaultDenyRead
  // The same, with only what running programs needs from the system (implies the above).
  bool strict_deny_read = false;    // strictDenyRead
  std::optional<bool> wsl_interop;  // wslInterop: WSL's /init (nothing to do off WSL)
};

struct CommandConfig {
  std::vector<std::string> deny;   // command.deny: command prefixes that are blocked
  std::vector<std::string> allow;  // command.allow: exceptions to deny (and to the defaults)
  bool use_defaults = true;        // command.useDefaults: apply fence's built-in deny list
  bool use_defaults_set = false;   // useDefaults was written (merge: the child's wins)
  // runtimeExecPolicy: "path" | "argv". Ours always checks the argv of every exec inside.
  std::optional<std::string> runtime_exec_policy;
  // acceptSharedBinaryCannotRuntimeDeny: upstream silences a warning of its path mode; no
  // binary is ever masked here, so there is nothing to accept (kept for the merge and -d).
  std::vector<std::string> accept_shared_binary;
};

// Upstream's devices section: which /dev nodes the sandbox sees.
struct DevicesConfig {
  std::optional<std::string> mode;  // "auto" | "minimal" | "host"
  std::vector<std::string> allow;   // paths under /dev/ passed through (globs in the last part)
};

// Upstream's ssh section: checks of `ssh [opts] [user@]host [command]`. Parsed and validated;
// refused at load time when it asks for anything (not enforced by this build).
struct SshConfig {
  std::vector<std::string> allowed_hosts, denied_hosts, allowed_commands, denied_commands;
  bool allow_all_commands = false;
  bool inherit_deny = false;
  bool empty() const {
    return allowed_hosts.empty() && denied_hosts.empty() && allowed_commands.empty() &&
           denied_commands.empty() && !allow_all_commands && !inherit_deny;
  }
};

// macOS Seatbelt settings: accepted so a team's config runs here, ignored on Linux.
struct MacosConfig {
  std::vector<std::string> mach_lookup, mach_register;
  bool empty() const { return mach_lookup.empty() && mach_register.empty(); }
};

// Extension: where audit records go, in addition to --audit-log / --audit-syslog.
struct AuditConfig {
  std::optional<std::string> file;  // audit.file: JSON Lines file (relative: to the cwd)
  bool syslog = false;              // audit.syslog: RFC 5424 to the local syslog socket
};

struct Config {
  NetworkConfig network;
  FilesystemConfig filesystem;
  CommandConfig command;
  AuditConfig audit;
  DevicesConfig devices;
  SshConfig ssh;
  MacosConfig macos;
  bool allow_pty = false;                 // allowPty
  std::optional<bool> force_new_session;  // forceNewSession: the command in a session of its own
  // extends: a template name, a file (relative to the file naming it) or "@base". Resolved by
  // load_config; empty in a loaded (merged) config.
  std::optional<std::string> extends;

  // Where the policy came from: the settings file path as opened, or empty for the built-in
  // default or a template. Every file of the chain is in `source_files`, which the caller adds
  // to the protected set (fence's own config is never writable inside).
  std::optional<std::string> source_path;
  std::vector<std::string> source_files;
  std::vector<std::string> chain;  // "settings file: P", "    └── builtin template: code", ...
};

// The effective policy as canonical JSON (sorted keys, every field), for the audit log's
// policy digest: two configs that mean the same thing digest the same.
std::string canonical_config_json(const Config& config);

// The JSON Schema (draft 2020-12) of a settings file, generated from the reader's own key
// tables (docs/schema/fence.schema.json is this text; a test fails when it is stale).
std::string config_schema_json();

// The config as a settings file (indented JSON, unset and empty keys left out, no extends):
// `fence config show`. Loading it back gives the same canonical_config_json.
std::string config_json(const Config& config);

// Parses and validates configuration text. source_name is used in error messages.
// Throws ConfigError "source:line:col: key.path: what is wrong".
Config parse_config(std::string_view text, std::string_view source_name);

// Reads a whole settings file (at most kMaxConfigFileSize, a regular file, opened without
// blocking). nullopt if it does not exist and `missing_ok`; any other failure is a ConfigError.
std::optional<std::string> read_settings_file(const std::string& path, bool missing_ok);

// Where the policy of a run comes from (config_loader.cpp), first match wins:
//   -s FILE > -t NAME > a trusted project config (fence.jsonc|.json in cwd or a parent)
//   > $XDG_CONFIG_HOME/fence/fence.jsonc|.json (default ~/.config/fence/)
//   > ~/.fence.jsonc|.json > the built-in default.
// Each may `extends` a template, a file (relative to the file naming it) or "@base" (the
// user's own config above, else the built-in default), up to 10 levels; the result is merged
// (merge_configs), checked as a whole, and says where it came from in `chain`.
struct ConfigRequest {
  std::optional<std::string> settings;       // -s FILE
  std::optional<std::string> template_name;  // -t NAME
  std::string home;                          // absolute, or "" when unknown
  std::string xdg_config_home;               // $XDG_CONFIG_HOME if absolute, else ""
  // Project discovery: the nearest fence.jsonc / fence.json in `cwd` or a parent, used only
  // when `check_trust` accepts it and every file it extends (given the exact bytes read; it
  // throws ConfigError otherwise). No discovery without a check.
  std::string cwd;
  std::function<void(const std::string& path, std::string_view text)> check_trust;
  // A project config named directly (fence trust FILE): taken as the discovered one.
  std::optional<std::string> project;
};

// The nearest fence.jsonc / fence.json in `cwd` or one of its parents (regular files only).
std::optional<std::string> find_project_config(const std::string& cwd);
Config load_config(const ConfigRequest& request);
// A request for the user config alone: `home`, and $XDG_CONFIG_HOME when it is absolute.
ConfigRequest user_config_request(const std::string& home);
Config load_config(const std::optional<std::string>& settings_path, const std::string& home);

// `child` over `base`: lists appended and de-duplicated (base first); plain booleans OR-ed (a
// child cannot switch off what its base switched on); optional values and scalars from the
// child when it sets them. `extends` is cleared.
Config merge_configs(const Config& base, const Config& child);

// What the merged policy asks for that cannot be honoured as written (a setting missing its
// counterpart, settings of different files that contradict each other): the one-line error
// for exit 122 (a run never happens under another policy than written), or nullopt.
std::optional<std::string> unsupported_setting(const Config& config);

// One-line notes for -d about accepted keys that change nothing here (macos.*,
// runtimeExecPolicy, acceptSharedBinaryCannotRuntimeDeny, wslInterop).
std::vector<std::string> config_notes(const Config& config);

// network.upstreamProxy, validated (http://host[:port], port 80 when absent, [v6] allowed).
struct UpstreamProxyUrl {
  std::string host;
  std::uint16_t port = 80;
};
UpstreamProxyUrl parse_upstream_proxy(std::string_view url);  // throws std::invalid_argument

// The policies a validated config describes, as the pure policy library takes them.
// network_policy_from: allowLocalOutbound's effective value; throws std::invalid_argument with
// the first error if an entry does not parse.
NetworkPolicy network_policy_from(const NetworkConfig& config);
CommandRules command_rules_from(const CommandConfig& config);
// The same with the ssh section's rules.
CommandRules command_rules_from(const Config& config);

}  // namespace fence::supervisor
