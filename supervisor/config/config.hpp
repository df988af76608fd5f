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
};

struct CommandConfig {
  std::vector<std::string> deny;   // command.deny: command prefixes that are blocked
  std::vector<std::string> allow;  // command.allow: exceptions to deny (and to the defaults)
  bool use_defaults = true;        // command.useDefaults: apply fence's built-in deny list
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
  bool allow_pty = false;  // allowPty

  // Where the policy came from: the settings file path as opened, or empty for the built-in
  // default. The caller adds it to the protected set (fence's own config is never writable).
  std::optional<std::string> source_path;
};

// The effective policy as canonical JSON (sorted keys, every field), for the audit log's
// policy digest: two configs that mean the same thing digest the same.
std::string canonical_config_json(const Config& config);

// Parses and validates configuration text. source_name is used in error messages.
// Throws ConfigError "source:line:col: key.path: what is wrong".
Config parse_config(std::string_view text, std::string_view source_name);

// Loads the policy for a run:
//   settings_path given -> that file (missing -> "settings file not found: PATH");
//   otherwise           -> home/.fence.json if it exists, else the embedded default config.
// Files that are not regular, unreadable or larger than kMaxConfigFileSize are errors.
Config load_config(const std::optional<std::string>& settings_path, const std::string& home);

// The policies a validated config describes, as the pure policy library takes them.
// network_policy_from: allowLocalOutbound's effective value; throws std::invalid_argument with
// the first error if an entry does not parse.
NetworkPolicy network_policy_from(const NetworkConfig& config);
CommandRules command_rules_from(const CommandConfig& config);

}  // namespace fence::supervisor
