#include "supervisor/config/config.hpp"
#include "supervisor/policy/safe_text.hpp"

#include "supervisor/policy/address_class.hpp"
#include "supervisor/policy/network_policy.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <utility>

#include "ipc/grammar.hpp"
#include "supervisor/config/default_config.hpp"
#include "supervisor/config/paths.hpp"
#include "supervisor/policy/domain.hpp"

namespace fence::supervisor {
namespace {

using Kind = JsonValue::Kind;

// Normalizes one string entry or throws std::invalid_argument explaining what is wrong.
using EntryValidator = std::function<std::string(std::string_view)>;

// One key of an object: how its value is read, and (for the JSON Schema, generated from these
// same tables: config_schema_json) what it must look like.
struct Field {
  std::string_view key;
  std::function<void(const JsonValue&, const std::string&)> read;
  std::function<nlohmann::ordered_json()> schema;
};

nlohmann::ordered_json string_schema() {
  return {{"type", "string"}, {"minLength", 1}};
}
nlohmann::ordered_json strings_schema() {
  return {{"type", "array"}, {"items", string_schema()}};
}
nlohmann::ordered_json boolean_schema() {
  return {{"type", "boolean"}};
}
nlohmann::ordered_json port_schema() {
  return {{"type", "integer"}, {"minimum", 1}, {"maximum", 65535}};
}

std::string child_path(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

// Edit distance, for "did you mean" hints on unknown keys.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                        std::tolower(static_cast<unsigned char>(b[j - 1]));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

class SchemaReader {
 public:
  SchemaReader(std::string_view text, std::string_view source) : text_(text), source_(source) {}

  // A reader that reads nothing: read_object() describes its fields instead (schema()).
  static SchemaReader describing() {
    SchemaReader r("", "");
    r.describing_ = true;
    return r;
  }
  const nlohmann::ordered_json& described() const { return described_; }

  [[noreturn]] void fail(const JsonValue& at, const std::string& path,
                         const std::string& what) const {
    throw_config_error(source_, text_, at.offset, path, what);
  }

  void expect_kind(const JsonValue& v, Kind kind, const std::string& path,
                   std::string_view expected) const {
    if (v.kind != kind) {
      fail(v, path,
           "expected " + std::string(expected) + ", found " + std::string(kind_name(v.kind)));
    }
  }

  // Reads an object whose keys must all be listed in `fields` (each at most once: duplicates
  // were already rejected by the JSON reader).
  void read_object(const JsonValue& v, const std::string& path,
                   const std::vector<Field>& fields) const {
    if (describing_) {
      nlohmann::ordered_json properties = nlohmann::ordered_json::object();
      for (const Field& f : fields) properties[std::string(f.key)] = f.schema();
      described_ = {
          {"type", "object"}, {"additionalProperties", false}, {"properties", properties}};
      return;
    }
    expect_kind(v, Kind::Object, path, "an object");
    for (const JsonMember& member : v.members) {
      const auto field = std::find_if(fields.begin(), fields.end(),
                                      [&](const Field& f) { return f.key == member.key; });
      if (field == fields.end()) unknown_key(member, path, fields);
      field->read(member.value, child_path(path, member.key));
    }
  }

  bool read_bool(const JsonValue& v, const std::string& path) const {
    expect_kind(v, Kind::Boolean, path, "true or false");
    return v.boolean;
  }

  std::uint16_t read_port(const JsonValue& v, const std::string& path) const {
    if (v.kind == Kind::Unsigned && v.unsigned_integer >= 1 && v.unsigned_integer <= 65535) {
      return static_cast<std::uint16_t>(v.unsigned_integer);
    }
    if (v.kind == Kind::Unsigned || v.kind == Kind::Integer) {
      fail(v, path, "port must be between 1 and 65535, found " + v.text);
    }
    if (v.kind == Kind::Float) fail(v, path, "port must be an integer, found " + v.text);
    fail(v, path, "expected a port number (1..65535), found " + std::string(kind_name(v.kind)));
  }

  std::vector<std::string> read_strings(const JsonValue& v, const std::string& path,
                                        const EntryValidator& validate) const {
    expect_kind(v, Kind::Array, path, "an array of strings");
    std::vector<std::string> out;
    out.reserve(v.items.size());
    for (std::size_t i = 0; i < v.items.size(); ++i) {
      const JsonValue& item = v.items[i];
      const std::string item_path = path + "[" + std::to_string(i) + "]";
      expect_kind(item, Kind::String, item_path, "a string");
      if (item.text.empty()) fail(item, item_path, "must not be empty");
      try {
        out.push_back(validate(item.text));
      } catch (const std::invalid_argument& e) {
        fail(item, item_path, e.what());
      }
    }
    return out;
  }

  // Field builders for read_object() tables: each binds a key to where its value goes.
  Field strings(std::string_view key, std::vector<std::string>& into,
                EntryValidator validate) const {
    return {key,
            [this, &into, validate](const JsonValue& x, const std::string& p) {
              into = read_strings(x, p, validate);
            },
            strings_schema};
  }
  Field flag(std::string_view key, bool& into) const {
    return {key,
            [this, &into](const JsonValue& x, const std::string& p) { into = read_bool(x, p); },
            boolean_schema};
  }
  // A boolean whose presence matters for the merge (`set` records it).
  Field tracked_flag(std::string_view key, bool& into, bool& set) const {
    return {key,
            [this, &into, &set](const JsonValue& x, const std::string& p) {
              into = read_bool(x, p);
              set = true;
            },
            boolean_schema};
  }
  Field optional_flag(std::string_view key, std::optional<bool>& into) const {
    return {key,
            [this, &into](const JsonValue& x, const std::string& p) { into = read_bool(x, p); },
            boolean_schema};
  }
  Field port(std::string_view key, std::optional<std::uint16_t>& into) const {
    return {key,
            [this, &into](const JsonValue& x, const std::string& p) { into = read_port(x, p); },
            port_schema};
  }
  // A list of distinct ports.
  Field ports(std::string_view key, std::vector<std::uint16_t>& into) const {
    return {key,
            [this, &into](const JsonValue& x, const std::string& p) {
              expect_kind(x, Kind::Array, p, "an array of port numbers");
              into.clear();
              for (std::size_t i = 0; i < x.items.size(); ++i) {
                const std::string item_path = p + "[" + std::to_string(i) + "]";
                const std::uint16_t port = read_port(x.items[i], item_path);
                if (std::find(into.begin(), into.end(), port) != into.end())
                  fail(x.items[i], item_path, "port " + std::to_string(port) + " is listed twice");
                into.push_back(port);
              }
            },
            [] {
              return nlohmann::ordered_json{
                  {"type", "array"}, {"items", port_schema()}, {"uniqueItems", true}};
            }};
  }
  Field text(std::string_view key, std::optional<std::string>& into,
             EntryValidator validate) const {
    return {key,
            [this, &into, validate](const JsonValue& x, const std::string& p) {
              expect_kind(x, Kind::String, p, "a string");
              if (x.text.empty()) fail(x, p, "must not be empty");
              try {
                into = validate(x.text);
              } catch (const std::invalid_argument& e) {
                fail(x, p, e.what());
              }
            },
            string_schema};
  }
  // A string that must be one of `choices`.
  Field choice(std::string_view key, std::optional<std::string>& into,
               std::vector<std::string_view> choices) const {
    return {key,
            [this, &into, choices](const JsonValue& x, const std::string& p) {
              expect_kind(x, Kind::String, p, "a string");
              if (std::find(choices.begin(), choices.end(), x.text) == choices.end()) {
                std::string list;
                for (std::string_view c : choices)
                  list += (list.empty() ? "" : ", ") + in_quotes(c);
                fail(x, p, "must be one of " + list + ", found " + in_quotes(x.text));
              }
              into = x.text;
            },
            [choices] {
              nlohmann::ordered_json values = nlohmann::ordered_json::array();
              for (std::string_view c : choices) values.push_back(c);
              return nlohmann::ordered_json{{"type", "string"}, {"enum", values}};
            }};
  }
  // Any value of the given kind, kept nowhere ($schema).
  Field ignored(std::string_view key, Kind kind, std::string_view expected) const {
    return {key,
            [this, kind, expected](const JsonValue& x, const std::string& p) {
              expect_kind(x, kind, p, expected);
            },
            [kind] {
              return nlohmann::ordered_json{{"type", kind == Kind::String ? "string" : "object"}};
            }};
  }
  template <typename Section>
  Field section(std::string_view key,
                void (*reader)(const SchemaReader&, const JsonValue&, const std::string&, Section&),
                Section& into) const {
    return {key,
            [this, reader, &into](const JsonValue& x, const std::string& p) {
              reader(*this, x, p, into);
            },
            [this, reader, &into] {
              reader(*this, JsonValue{}, "", into);  // describing: reads nothing
              return described_;
            }};
  }

 private:
  [[noreturn]] void unknown_key(const JsonMember& member, const std::string& path,
                                const std::vector<Field>& fields) const {
    std::string what = "unknown key";
    std::string_view best;
    std::size_t best_distance = 4;  // suggest only near misses
    for (const Field& f : fields) {
      const std::size_t d = edit_distance(member.key, f.key);
      // A near miss, not a different word: at most a third of the longer name changed.
      if (d < best_distance && d * 3 <= std::max(member.key.size(), f.key.size())) {
        best_distance = d;
        best = f.key;
      }
    }
    if (!best.empty()) what += " (did you mean " + in_quotes(best) + "?)";
    throw_config_error(source_, text_, member.key_offset, child_path(path, one_line(member.key)),
                       what);
  }

  std::string_view text_;
  std::string_view source_;
  bool describing_ = false;
  mutable nlohmann::ordered_json described_;
};

// allowedDomains / deniedDomains entries: fence's domain patterns, plus this implementation's
// extensions (host:port, IPv4/IPv6 addresses and CIDR ranges, "*"), which the network policy's
// own parser checks (docs/configuration.md).
std::string validate_domain(std::string_view raw) {
  try {
    return normalize_domain_pattern(raw);
  } catch (const std::invalid_argument& domain_error) {
    if (raw.find("://") != std::string_view::npos) throw;  // a URL, not a host
    const bool extension = raw == "*" || raw.find(':') != std::string_view::npos ||
                           raw.find('/') != std::string_view::npos || parse_ip_literal(raw);
    if (!extension) throw;
    parse_network_rule(raw);  // throws std::invalid_argument naming what is wrong
    return std::string(raw);
  }
}

std::string validate_path(std::string_view raw) {
  validate_path_syntax(raw);
  return std::string(raw);
}

std::string validate_extends(std::string_view raw) {
  if (raw.find_first_of(std::string_view("\n\r\0", 3)) != std::string_view::npos)
    throw std::invalid_argument("must be one line");
  return std::string(raw);
}

std::string validate_command(std::string_view raw) {
  if (raw.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    throw std::invalid_argument("must not be blank");
  }
  return std::string(raw);
}

// upstreamProxy: http://host[:port], nothing else (upstream's rule).
std::string validate_proxy_url(std::string_view raw) {
  parse_upstream_proxy(raw);
  return std::string(raw);
}

// devices.allow: a path under /dev/ (not /dev itself), no "..", globs only in the last part.
std::string validate_device(std::string_view raw) {
  if (!raw.starts_with("/dev/") || raw.size() == 5)
    throw std::invalid_argument("must be a path under /dev/");
  if (raw.find("/../") != std::string_view::npos || raw.ends_with("/..") ||
      raw.find("/./") != std::string_view::npos || raw.find("//") != std::string_view::npos)
    throw std::invalid_argument("must be a plain path under /dev/");
  const std::size_t last = raw.rfind('/');
  if (raw.substr(0, last).find_first_of("*?[") != std::string_view::npos)
    throw std::invalid_argument("glob characters only in the last component");
  return std::string(raw);
}

// ssh hosts: a name, an address or a glob; no scheme, path, port or user@ (upstream's rule).
std::string validate_ssh_host(std::string_view raw) {
  if (raw.find("://") != std::string_view::npos ||
      raw.find_first_of("/@ \t") != std::string_view::npos)
    throw std::invalid_argument(
        "must be a host name, address or pattern (no scheme, user@ or path)");
  return std::string(raw);
}

void read_network(const SchemaReader& r, const JsonValue& v, const std::string& path,
                  NetworkConfig& out) {
  r.read_object(v, path,
                {
                    r.strings("allowedDomains", out.allowed_domains, validate_domain),
                    r.strings("deniedDomains", out.denied_domains, validate_domain),
                    r.strings("allowUnixSockets", out.allow_unix_sockets, validate_path),
                    r.flag("allowAllUnixSockets", out.allow_all_unix_sockets),
                    r.flag("allowLocalBinding", out.allow_local_binding),
                    r.optional_flag("allowLocalOutbound", out.allow_local_outbound),
                    r.port("httpProxyPort", out.http_proxy_port),
                    r.port("socksProxyPort", out.socks_proxy_port),
                    r.ports("allowLocalOutboundPorts", out.allow_local_outbound_ports),
                    r.text("upstreamProxy", out.upstream_proxy, validate_proxy_url),
                    r.choice("defaultAction", out.default_action, {"deny", "proxy"}),
                    r.optional_flag("transparent", out.transparent),
                    r.optional_flag("verifyTls", out.verify_tls),
                });
}

void read_audit(const SchemaReader& r, const JsonValue& v, const std::string& path,
                AuditConfig& out) {
  r.read_object(v, path,
                {
                    r.text("file", out.file, validate_path),
                    r.flag("syslog", out.syslog),
                });
}

void read_filesystem(const SchemaReader& r, const JsonValue& v, const std::string& path,
                     FilesystemConfig& out) {
  r.read_object(v, path,
                {
                    r.strings("denyRead", out.deny_read, validate_path),
                    r.strings("allowRead", out.allow_read, validate_path),
                    r.strings("allowExecute", out.allow_execute, validate_path),
                    r.strings("allowWrite", out.allow_write, validate_path),
                    r.strings("denyWrite", out.deny_write, validate_path),
                    r.flag("allowGitConfig", out.allow_git_config),
                    r.flag("defaultDenyRead", out.default_deny_read),
                    r.flag("strictDenyRead", out.strict_deny_read),
                    r.optional_flag("wslInterop", out.wsl_interop),
                });
}

void read_command(const SchemaReader& r, const JsonValue& v, const std::string& path,
                  CommandConfig& out) {
  r.read_object(v, path,
                {
                    r.strings("deny", out.deny, validate_command),
                    r.strings("allow", out.allow, validate_command),
                    r.tracked_flag("useDefaults", out.use_defaults, out.use_defaults_set),
                    r.choice("runtimeExecPolicy", out.runtime_exec_policy, {"path", "argv"}),
                    r.strings("acceptSharedBinaryCannotRuntimeDeny", out.accept_shared_binary,
                              validate_command),
                });
}

void read_devices(const SchemaReader& r, const JsonValue& v, const std::string& path,
                  DevicesConfig& out) {
  r.read_object(v, path,
                {
                    r.choice("mode", out.mode, {"auto", "minimal", "host"}),
                    r.strings("allow", out.allow, validate_device),
                });
}

void read_ssh(const SchemaReader& r, const JsonValue& v, const std::string& path, SshConfig& out) {
  r.read_object(v, path,
                {
                    r.strings("allowedHosts", out.allowed_hosts, validate_ssh_host),
                    r.strings("deniedHosts", out.denied_hosts, validate_ssh_host),
                    r.strings("allowedCommands", out.allowed_commands, validate_command),
                    r.strings("deniedCommands", out.denied_commands, validate_command),
                    r.flag("allowAllCommands", out.allow_all_commands),
                    r.flag("inheritDeny", out.inherit_deny),
                });
}

void read_mach(const SchemaReader& r, const JsonValue& v, const std::string& path,
               MacosConfig& out) {
  r.read_object(v, path,
                {
                    r.strings("lookup", out.mach_lookup, validate_command),
                    r.strings("register", out.mach_register, validate_command),
                });
}

void read_macos(const SchemaReader& r, const JsonValue& v, const std::string& path,
                MacosConfig& out) {
  r.read_object(v, path, {r.section("mach", read_mach, out)});
}

[[noreturn]] void throw_io_error(const std::string& what, const std::string& path, int error) {
  throw ConfigError(what + " " + in_quotes(path) + ": " + std::strerror(error));
}

}  // namespace

namespace {

const JsonValue* member(const JsonValue& object, std::string_view key) {
  for (const JsonMember& m : object.members)
    if (m.key == key) return &m.value;
  return nullptr;
}

// An allowedDomains entry written for the host's loopback (127.0.0.1:5432, ::1, 127.0.0.0/8).
bool names_loopback(const std::string& rule) {
  try {
    const NetworkRule r = parse_network_rule(rule);
    return r.kind == NetworkRule::Kind::Cidr && classify(r.network) == AddressClass::Loopback;
  } catch (const std::invalid_argument&) {
    return false;  // reported where the rules are built
  }
}

// `"allowLocalOutbound": false` says the host's loopback stays closed: a setting that would
// open it anyway contradicts it (an error rather than one silently winning).
void check_host_loopback(const Config& config, const JsonValue& root, const SchemaReader& r) {
  const NetworkConfig& net = config.network;
  if (!net.allow_local_outbound.has_value() || *net.allow_local_outbound) return;
  const JsonValue* network = member(root, "network");
  // An explicit value was read from the document, so both exist.
  const JsonValue* flag = member(*network, "allowLocalOutbound");
  if (!net.allow_local_outbound_ports.empty())
    r.fail(*flag, "network.allowLocalOutbound",
           "false, but allowLocalOutboundPorts reaches the host's loopback (remove one of them)");
  for (const std::string& rule : net.allowed_domains)
    if (names_loopback(rule))
      r.fail(*flag, "network.allowLocalOutbound",
             "false, but allowedDomains entry " + in_quotes(rule) +
                 " reaches the host's loopback (remove one of them)");
}

}  // namespace

// Reads a whole settings file with a size cap. Returns nullopt if it does not exist and
// missing_ok; every other failure is a ConfigError.
std::optional<std::string> read_settings_file(const std::string& path, bool missing_ok) {
  // O_NONBLOCK: opening a FIFO planted at the settings path must not hang fence.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT || error == ENOTDIR) {
      if (missing_ok) return std::nullopt;
      throw ConfigError("settings file not found: " + in_quotes(path));
    }
    throw_io_error("cannot open settings file", path, error);
  }
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw_io_error("cannot stat settings file", path, errno);
  if (!S_ISREG(st.st_mode))
    throw ConfigError("settings file is not a regular file: " + in_quotes(path));
  if (static_cast<std::uint64_t>(st.st_size) > kMaxConfigFileSize) {
    throw ConfigError("settings file is larger than 1 MiB: " + in_quotes(path));
  }
  std::string text;
  char buf[16384];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_io_error("cannot read settings file", path, errno);
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    // The file may grow after fstat; the cap holds for what we actually read.
    if (text.size() > kMaxConfigFileSize) {
      throw ConfigError("settings file is larger than 1 MiB: " + in_quotes(path));
    }
  }
  return text;
}

namespace {
void read_root(const SchemaReader& r, const JsonValue& root, const std::string& path,
               Config& config);
}  // namespace

Config parse_config(std::string_view text, std::string_view source_name) {
  const JsonValue root = parse_json_document(text, source_name);
  const SchemaReader r(text, source_name);
  if (root.kind != Kind::Object) {
    r.fail(root, "",
           "the configuration must be a JSON object, found " + std::string(kind_name(root.kind)));
  }
  Config config;
  read_root(r, root, "", config);
  check_host_loopback(config, root, r);
  return config;
}

std::string config_schema_json() {
  const SchemaReader r = SchemaReader::describing();
  Config config;
  read_root(r, JsonValue{}, "", config);
  nlohmann::ordered_json schema = {
      {"$schema", "https://json-schema.org/draft/2020-12/schema"},
      {"$id", "fence.schema.json"},
      {"title", "fence settings file"},
      {"description",
       "Generated from fence's own configuration reader (supervisor/config/config.cpp) by "
       "`cmake --build build --target schema`; do not edit. The reader checks more than this "
       "schema can say (domain patterns, paths, command words, combinations): docs/"
       "configuration.md."}};
  for (const auto& [key, value] : r.described().items()) schema[key] = value;
  return schema.dump(2) + "\n";
}

namespace {

void read_root(const SchemaReader& r, const JsonValue& root, const std::string& path,
               Config& config) {
  r.read_object(root, path,
                {
                    r.section("network", read_network, config.network),
                    r.section("filesystem", read_filesystem, config.filesystem),
                    r.section("command", read_command, config.command),
                    r.section("audit", read_audit, config.audit),
                    r.section("devices", read_devices, config.devices),
                    r.section("ssh", read_ssh, config.ssh),
                    r.section("macos", read_macos, config.macos),
                    r.flag("allowPty", config.allow_pty),
                    r.optional_flag("forceNewSession", config.force_new_session),
                    r.text("extends", config.extends, validate_extends),
                    r.ignored("$schema", Kind::String, "a string"),
                });
}

}  // namespace

std::string canonical_config_json(const Config& c) {
  nlohmann::json j;
  j["network"] = {
      {"allowedDomains", c.network.allowed_domains},
      {"deniedDomains", c.network.denied_domains},
      {"allowUnixSockets", c.network.allow_unix_sockets},
      {"allowAllUnixSockets", c.network.allow_all_unix_sockets},
      {"allowLocalBinding", c.network.allow_local_binding},
      {"httpProxyPort", c.network.http_proxy_port.value_or(ipc::kDefaultHttpProxyPort)},
      {"socksProxyPort", c.network.socks_proxy_port.value_or(ipc::kDefaultSocksProxyPort)},
      {"allowLocalOutboundPorts", c.network.allow_local_outbound_ports}};
  // allowLocalOutbound defaults to allowLocalBinding: written only when it differs, so a
  // default stays a default (an explicit false would contradict allowLocalOutboundPorts or a
  // loopback rule, check_host_loopback) and equal meanings keep one form.
  if (c.network.effective_allow_local_outbound() != c.network.allow_local_binding)
    j["network"]["allowLocalOutbound"] = c.network.effective_allow_local_outbound();
  // Written only when switched off: the default (on) keeps a policy's digest.
  if (!c.network.transparent.value_or(true)) j["network"]["transparent"] = false;
  if (c.network.verify_tls.value_or(false)) j["network"]["verifyTls"] = true;
  j["filesystem"] = {{"denyRead", c.filesystem.deny_read},
                     {"allowRead", c.filesystem.allow_read},
                     {"allowExecute", c.filesystem.allow_execute},
                     {"allowWrite", c.filesystem.allow_write},
                     {"denyWrite", c.filesystem.deny_write},
                     {"allowGitConfig", c.filesystem.allow_git_config}};
  j["command"] = {{"deny", c.command.deny},
                  {"allow", c.command.allow},
                  {"useDefaults", c.command.use_defaults}};
  j["audit"] = {{"file", c.audit.file.value_or("")}, {"syslog", c.audit.syslog}};
  j["allowPty"] = c.allow_pty;
  // Keys added later are written only when they change something, so the digest of a policy
  // that does not use them stays what it was.
  if (c.filesystem.default_deny_read || c.filesystem.strict_deny_read) {
    j["filesystem"]["defaultDenyRead"] = true;
    j["filesystem"]["strictDenyRead"] = c.filesystem.strict_deny_read;
  }
  if (!c.devices.allow.empty()) j["devices"] = {{"allow", c.devices.allow}};
  if (c.force_new_session.value_or(false)) j["forceNewSession"] = true;
  return j.dump();  // nlohmann::json objects keep keys sorted
}

std::string config_json(const Config& c) {
  using nlohmann::ordered_json;
  auto put_list = [](ordered_json& section, const char* key, const auto& list) {
    if (!list.empty()) section[key] = list;
  };
  ordered_json j = ordered_json::object();
  ordered_json net = ordered_json::object();
  put_list(net, "allowedDomains", c.network.allowed_domains);
  put_list(net, "deniedDomains", c.network.denied_domains);
  put_list(net, "allowUnixSockets", c.network.allow_unix_sockets);
  if (c.network.allow_all_unix_sockets) net["allowAllUnixSockets"] = true;
  if (c.network.allow_local_binding) net["allowLocalBinding"] = true;
  if (c.network.allow_local_outbound) net["allowLocalOutbound"] = *c.network.allow_local_outbound;
  put_list(net, "allowLocalOutboundPorts", c.network.allow_local_outbound_ports);
  if (c.network.http_proxy_port) net["httpProxyPort"] = *c.network.http_proxy_port;
  if (c.network.socks_proxy_port) net["socksProxyPort"] = *c.network.socks_proxy_port;
  if (c.network.upstream_proxy) net["upstreamProxy"] = *c.network.upstream_proxy;
  if (c.network.default_action) net["defaultAction"] = *c.network.default_action;
  if (c.network.transparent) net["transparent"] = *c.network.transparent;
  if (c.network.verify_tls) net["verifyTls"] = *c.network.verify_tls;
  if (!net.empty()) j["network"] = net;
  ordered_json fs = ordered_json::object();
  if (c.filesystem.default_deny_read) fs["defaultDenyRead"] = true;
  if (c.filesystem.strict_deny_read) fs["strictDenyRead"] = true;
  if (c.filesystem.wsl_interop) fs["wslInterop"] = *c.filesystem.wsl_interop;
  put_list(fs, "allowRead", c.filesystem.allow_read);
  put_list(fs, "allowExecute", c.filesystem.allow_execute);
  put_list(fs, "allowWrite", c.filesystem.allow_write);
  put_list(fs, "denyWrite", c.filesystem.deny_write);
  put_list(fs, "denyRead", c.filesystem.deny_read);
  if (c.filesystem.allow_git_config) fs["allowGitConfig"] = true;
  if (!fs.empty()) j["filesystem"] = fs;
  ordered_json cmd = ordered_json::object();
  put_list(cmd, "deny", c.command.deny);
  put_list(cmd, "allow", c.command.allow);
  if (c.command.use_defaults_set || !c.command.use_defaults)
    cmd["useDefaults"] = c.command.use_defaults;
  if (c.command.runtime_exec_policy) cmd["runtimeExecPolicy"] = *c.command.runtime_exec_policy;
  put_list(cmd, "acceptSharedBinaryCannotRuntimeDeny", c.command.accept_shared_binary);
  if (!cmd.empty()) j["command"] = cmd;
  ordered_json dev = ordered_json::object();
  if (c.devices.mode) dev["mode"] = *c.devices.mode;
  put_list(dev, "allow", c.devices.allow);
  if (!dev.empty()) j["devices"] = dev;
  ordered_json ssh = ordered_json::object();
  put_list(ssh, "allowedHosts", c.ssh.allowed_hosts);
  put_list(ssh, "deniedHosts", c.ssh.denied_hosts);
  put_list(ssh, "allowedCommands", c.ssh.allowed_commands);
  put_list(ssh, "deniedCommands", c.ssh.denied_commands);
  if (c.ssh.allow_all_commands) ssh["allowAllCommands"] = true;
  if (c.ssh.inherit_deny) ssh["inheritDeny"] = true;
  if (!ssh.empty()) j["ssh"] = ssh;
  if (!c.macos.empty()) {
    ordered_json mach = ordered_json::object();
    put_list(mach, "lookup", c.macos.mach_lookup);
    put_list(mach, "register", c.macos.mach_register);
    j["macos"] = {{"mach", mach}};
  }
  ordered_json audit = ordered_json::object();
  if (c.audit.file) audit["file"] = *c.audit.file;
  if (c.audit.syslog) audit["syslog"] = true;
  if (!audit.empty()) j["audit"] = audit;
  if (c.allow_pty) j["allowPty"] = true;
  if (c.force_new_session) j["forceNewSession"] = *c.force_new_session;
  // ASCII only: names from a file end up on a terminal (\uXXXX is the same JSON string).
  return j.dump(2, ' ', true) + "\n";
}

NetworkPolicy network_policy_from(const NetworkConfig& config) {
  NetworkPolicyBuild b = network_policy_from_strings(config.allowed_domains, config.denied_domains,
                                                     config.effective_allow_local_outbound());
  if (!b.ok()) throw std::invalid_argument(b.errors.front().to_string());
  b.policy.local_outbound_ports = config.allow_local_outbound_ports;
  return std::move(b.policy);
}

UpstreamProxyUrl parse_upstream_proxy(std::string_view raw) {
  constexpr std::string_view kScheme = "http://";
  const std::invalid_argument bad("must be http://host[:port]");
  if (!raw.starts_with(kScheme)) throw bad;
  std::string_view rest = raw.substr(kScheme.size());
  if (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest.empty() || rest.find_first_of("/?#@ \t") != std::string_view::npos) throw bad;
  UpstreamProxyUrl out;
  std::string_view host = rest;
  std::string_view port;
  if (rest.front() == '[') {
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos) throw bad;
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') throw bad;
      port = rest.substr(close + 2);
    }
    if (!parse_ip_literal(host)) throw std::invalid_argument("not an IPv6 address in [ ]");
  } else if (const std::size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.empty() || !ipc::is_valid_target_host(host)) throw bad;
  if (!port.empty() || rest.ends_with(':')) {
    unsigned value = 0;
    for (char c : port) {
      if (c < '0' || c > '9' || value > 65535) throw std::invalid_argument("invalid port");
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (port.empty() || value < 1 || value > 65535) throw std::invalid_argument("invalid port");
    out.port = static_cast<std::uint16_t>(value);
  }
  out.host = std::string(host);
  return out;
}

CommandRules command_rules_from(const CommandConfig& config) {
  return CommandRules{config.deny, config.allow, config.use_defaults, {}};
}

CommandRules command_rules_from(const Config& config) {
  CommandRules rules = command_rules_from(config.command);
  const SshConfig& ssh = config.ssh;
  rules.ssh = SshRules{ssh.allowed_hosts,   ssh.denied_hosts,       ssh.allowed_commands,
                       ssh.denied_commands, ssh.allow_all_commands, ssh.inherit_deny};
  return rules;
}

}  // namespace fence::supervisor
