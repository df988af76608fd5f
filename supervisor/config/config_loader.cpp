// Where a run's policy comes from, `extends` chains and their merge (config.hpp).
//
// HOSTILE INPUT: every file of a chain may come from an untrusted repository; each is read with
// read_settings_file's caps and parsed by parse_config like any settings file. A chain is at
// most kMaxExtendsDepth deep and may not come back to a file or template it already passed
// (compared by canonical path, so a symlink or "./x/../x.json" is the same file).
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <unordered_set>

#include "supervisor/config/config.hpp"
#include "supervisor/config/default_config.hpp"
#include "supervisor/config/templates.hpp"
#include "supervisor/policy/safe_text.hpp"

namespace fence::supervisor {
namespace {

constexpr int kMaxExtendsDepth = 10;

// Linear: a hostile chain of large files must not make the merge quadratic.
template <typename T>
void append_unique(std::vector<T>& into, const std::vector<T>& base, const std::vector<T>& child) {
  std::vector<T> out;
  std::unordered_set<T> seen;
  out.reserve(base.size() + child.size());
  for (const auto* list : {&base, &child})
    for (const T& item : *list)
      if (seen.insert(item).second) out.push_back(item);
  into = std::move(out);
}

template <typename T>
std::optional<T> child_or_base(const std::optional<T>& base, const std::optional<T>& child) {
  return child ? child : base;
}

std::string canonical(const std::string& path) {
  std::unique_ptr<char, decltype(&::free)> real(::realpath(path.c_str(), nullptr), &::free);
  return real ? std::string(real.get()) : path;
}

std::string directory_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Upstream's rule: an extends value naming a file contains a slash or starts with a dot.
bool names_a_file(const std::string& value) {
  return value.find('/') != std::string::npos || value.find('\\') != std::string::npos ||
         value[0] == '.' || value[0] == '~';
}

class ChainLoader {
 public:
  explicit ChainLoader(const ConfigRequest& request) : request_(request) {}

  // The user's own config: the first that exists of the XDG and home locations.
  std::optional<std::string> user_config() const {
    std::vector<std::string> candidates;
    const std::string xdg = !request_.xdg_config_home.empty() ? request_.xdg_config_home
                            : !request_.home.empty()          ? request_.home + "/.config"
                                                              : "";
    if (!xdg.empty()) {
      candidates.push_back(xdg + "/fence/fence.jsonc");
      candidates.push_back(xdg + "/fence/fence.json");
    }
    if (!request_.home.empty()) {
      candidates.push_back(request_.home + "/.fence.jsonc");
      candidates.push_back(request_.home + "/" + std::string(kUserConfigFileName));
    }
    for (const std::string& path : candidates)
      if (read_settings_file(path, true)) return path;
    return std::nullopt;
  }

  Config root() {
    Config config;
    if (request_.settings) {
      if (request_.settings->empty()) throw ConfigError("settings file path is empty");
      chain_.push_back("settings file: " + *request_.settings);
      config = load_file(*request_.settings, 0, "settings file not found: ");
      config.source_path = *request_.settings;
    } else if (request_.template_name) {
      config = load_template(*request_.template_name, "-t", 0);
    } else if (const std::optional<std::string> project = !request_.check_trust ? std::nullopt
                                                          : request_.project    ? request_.project
                                                          : !request_.cwd.empty()
                                                              ? find_project_config(request_.cwd)
                                                              : std::nullopt) {
      chain_.push_back("project config: " + *project);
      config = load_file(*project, 0, "settings file not found: ", true);
      config.source_path = *project;
    } else if (const std::optional<std::string> user = user_config()) {
      chain_.push_back("user config: " + *user);
      config = load_file(*user, 0, "settings file not found: ");
      config.source_path = *user;
    } else {
      chain_.push_back("builtin default (no user config file)");
      config = load_text(std::string(kDefaultConfigJson), std::string(kDefaultConfigSourceName),
                         "builtin default", std::nullopt, 0);
    }
    config.source_files = files_;
    config.chain = chain_;
    return config;
  }

 private:
  Config load_text(const std::string& text, const std::string& source, const std::string& id,
                   const std::optional<std::string>& dir, int depth, bool trust = false) {
    if (std::find(visiting_.begin(), visiting_.end(), id) != visiting_.end())
      throw ConfigError("circular extends: " + trail(id));
    if (depth > kMaxExtendsDepth)
      throw ConfigError("extends chain too deep (more than " + std::to_string(kMaxExtendsDepth) +
                        " levels): " + trail(id));
    visiting_.push_back(id);
    Config config = parse_config(text, source);
    if (config.extends) {
      const Config base = load_extends(*config.extends, source, dir, depth + 1, trust);
      config = merge_configs(base, config);
    }
    visiting_.pop_back();
    config.extends.reset();
    return config;
  }

  // `trust`: a file of a discovered project's chain, checked (on the very bytes parsed).
  Config load_file(const std::string& path, int depth, const std::string& missing,
                   bool trust = false) {
    std::optional<std::string> text = read_settings_file(path, true);
    if (!text) throw ConfigError(missing + in_quotes(path));
    if (trust) request_.check_trust(path, *text);
    files_.push_back(path);
    return load_text(*text, path, "file " + canonical(path), directory_of(path), depth, trust);
  }

  Config load_template(const std::string& name, const std::string& from, int depth) {
    const PolicyTemplate* t = find_template(name);
    if (!t)
      throw ConfigError(from + ": unknown template " + in_quotes(name) +
                        " (fence --list-templates lists them)");
    line(depth, "builtin template: " + std::string(t->name));
    return load_text(std::string(t->text), "<template " + std::string(t->name) + ">",
                     "template " + std::string(t->name), std::nullopt, depth);
  }

  Config load_extends(const std::string& value, const std::string& from,
                      const std::optional<std::string>& dir, int depth, bool trust) {
    const std::string where = from + ": extends";
    if (value == "@base") {
      if (const std::optional<std::string> user = user_config()) {
        line(depth, "@base user config: " + *user);
        return load_file(*user, depth, where + ": file not found: ");
      }
      line(depth, "@base builtin default");
      return load_text(std::string(kDefaultConfigJson), std::string(kDefaultConfigSourceName),
                       "builtin default", std::nullopt, depth);
    }
    if (names_a_file(value)) {
      if (!dir)
        throw ConfigError(where + " " + in_quotes(value) +
                          ": a built-in template cannot extend a file");
      std::string path = value;
      if (path == "~" || path.starts_with("~/")) {
        if (request_.home.empty()) throw ConfigError(where + ": ~ needs a home directory");
        path = request_.home + path.substr(1);
      } else if (path[0] != '/') {
        path = *dir + "/" + path;
      }
      line(depth, "file: " + path);
      return load_file(path, depth, where + ": file not found: ", trust);
    }
    return load_template(value, where, depth);
  }

  // The root at depth 0, each extends step one level deeper, indented 4 per level.
  void line(int depth, const std::string& text) {
    if (depth <= 0) return chain_.push_back(text);
    chain_.push_back(std::string(static_cast<std::size_t>(4 * (depth - 1)), ' ') + "└── " + text);
  }

  std::string trail(const std::string& last) const {
    std::string out;
    for (const std::string& id : visiting_) out += id + " -> ";
    return out + last;
  }

  const ConfigRequest& request_;
  std::vector<std::string> visiting_;
  std::vector<std::string> chain_;
  std::vector<std::string> files_;
};

}  // namespace

std::optional<std::string> find_project_config(const std::string& cwd) {
  std::string dir = cwd;
  for (;;) {
    for (const char* name : {"/fence.jsonc", "/fence.json"}) {
      const std::string path = (dir == "/" ? "" : dir) + name;
      // Only the user's own files (or root's): one another user left in a shared directory
      // such as /tmp is not this user's project, nor a symlink another user left there.
      struct stat link {};
      struct stat st {};
      if (::lstat(path.c_str(), &link) != 0) continue;
      if (link.st_uid != ::getuid() && link.st_uid != 0) continue;
      if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
          (st.st_uid == ::getuid() || st.st_uid == 0))
        return path;
    }
    if (dir == "/" || dir.empty()) return std::nullopt;
    dir = directory_of(dir);
  }
}

Config merge_configs(const Config& base, const Config& child) {
  Config out = child;
  auto& n = out.network;
  append_unique(n.allowed_domains, base.network.allowed_domains, child.network.allowed_domains);
  append_unique(n.denied_domains, base.network.denied_domains, child.network.denied_domains);
  append_unique(n.allow_unix_sockets, base.network.allow_unix_sockets,
                child.network.allow_unix_sockets);
  n.allow_all_unix_sockets =
      base.network.allow_all_unix_sockets || child.network.allow_all_unix_sockets;
  n.allow_local_binding = base.network.allow_local_binding || child.network.allow_local_binding;
  n.allow_local_outbound =
      child_or_base(base.network.allow_local_outbound, child.network.allow_local_outbound);
  n.http_proxy_port = child_or_base(base.network.http_proxy_port, child.network.http_proxy_port);
  n.socks_proxy_port = child_or_base(base.network.socks_proxy_port, child.network.socks_proxy_port);
  append_unique(n.allow_local_outbound_ports, base.network.allow_local_outbound_ports,
                child.network.allow_local_outbound_ports);
  n.upstream_proxy = child_or_base(base.network.upstream_proxy, child.network.upstream_proxy);
  n.default_action = child_or_base(base.network.default_action, child.network.default_action);
  n.transparent = child_or_base(base.network.transparent, child.network.transparent);
  n.verify_tls = child_or_base(base.network.verify_tls, child.network.verify_tls);

  auto& f = out.filesystem;
  append_unique(f.deny_read, base.filesystem.deny_read, child.filesystem.deny_read);
  append_unique(f.allow_read, base.filesystem.allow_read, child.filesystem.allow_read);
  append_unique(f.allow_execute, base.filesystem.allow_execute, child.filesystem.allow_execute);
  append_unique(f.allow_write, base.filesystem.allow_write, child.filesystem.allow_write);
  append_unique(f.deny_write, base.filesystem.deny_write, child.filesystem.deny_write);
  f.allow_git_config = base.filesystem.allow_git_config || child.filesystem.allow_git_config;
  f.default_deny_read = base.filesystem.default_deny_read || child.filesystem.default_deny_read;
  f.strict_deny_read = base.filesystem.strict_deny_read || child.filesystem.strict_deny_read;
  f.wsl_interop = child_or_base(base.filesystem.wsl_interop, child.filesystem.wsl_interop);

  auto& c = out.command;
  append_unique(c.deny, base.command.deny, child.command.deny);
  append_unique(c.allow, base.command.allow, child.command.allow);
  if (!child.command.use_defaults_set) {
    c.use_defaults = base.command.use_defaults;
    c.use_defaults_set = base.command.use_defaults_set;
  }
  c.runtime_exec_policy =
      child_or_base(base.command.runtime_exec_policy, child.command.runtime_exec_policy);
  append_unique(c.accept_shared_binary, base.command.accept_shared_binary,
                child.command.accept_shared_binary);

  out.audit.file = child_or_base(base.audit.file, child.audit.file);
  out.audit.syslog = base.audit.syslog || child.audit.syslog;

  out.devices.mode = child_or_base(base.devices.mode, child.devices.mode);
  append_unique(out.devices.allow, base.devices.allow, child.devices.allow);

  auto& s = out.ssh;
  append_unique(s.allowed_hosts, base.ssh.allowed_hosts, child.ssh.allowed_hosts);
  append_unique(s.denied_hosts, base.ssh.denied_hosts, child.ssh.denied_hosts);
  append_unique(s.allowed_commands, base.ssh.allowed_commands, child.ssh.allowed_commands);
  append_unique(s.denied_commands, base.ssh.denied_commands, child.ssh.denied_commands);
  s.allow_all_commands = base.ssh.allow_all_commands || child.ssh.allow_all_commands;
  s.inherit_deny = base.ssh.inherit_deny || child.ssh.inherit_deny;

  append_unique(out.macos.mach_lookup, base.macos.mach_lookup, child.macos.mach_lookup);
  append_unique(out.macos.mach_register, base.macos.mach_register, child.macos.mach_register);

  out.allow_pty = base.allow_pty || child.allow_pty;
  out.force_new_session = child_or_base(base.force_new_session, child.force_new_session);
  out.extends.reset();
  return out;
}

std::optional<std::string> unsupported_setting(const Config& config) {
  if (config.network.default_action == "proxy" && !config.network.upstream_proxy)
    return "network.defaultAction \"proxy\" needs network.upstreamProxy (where to send the "
           "connections no rule decides)";
  // ssh rules without a host list do nothing upstream either; say so rather than ignore them.
  if (!config.ssh.empty() && config.ssh.allowed_hosts.empty() && config.ssh.denied_hosts.empty())
    return "ssh: command rules without allowedHosts or deniedHosts apply to nothing (add a "
           "host list, or remove them)";
  // A plain effective value that contradicts another (one file may set each).
  const NetworkConfig& net = config.network;
  if (net.allow_local_outbound == false && !net.allow_local_outbound_ports.empty())
    return "network.allowLocalOutbound is false, but allowLocalOutboundPorts reaches the host's "
           "loopback (the extends chain sets both; remove one of them)";
  return std::nullopt;
}

std::vector<std::string> config_notes(const Config& config) {
  std::vector<std::string> notes;
  if (!config.macos.empty()) notes.push_back("macos.*: macOS settings, ignored on Linux");
  if (config.command.runtime_exec_policy)
    notes.push_back("command.runtimeExecPolicy " + in_quotes(*config.command.runtime_exec_policy) +
                    ": fence checks the whole argv of every exec inside, whatever the value");
  if (!config.command.accept_shared_binary.empty())
    notes.push_back(
        "command.acceptSharedBinaryCannotRuntimeDeny: no binary is masked here, nothing to "
        "accept");
  if (config.filesystem.wsl_interop)
    notes.push_back("filesystem.wslInterop: WSL's /init is not used on this system");
  if (config.network.upstream_proxy && config.network.default_action != "proxy")
    notes.push_back(
        "network.upstreamProxy: used only with defaultAction \"proxy\"; connections "
        "no rule allows are refused");
  if (config.devices.mode && *config.devices.mode != "host")
    notes.push_back("devices.mode " + in_quotes(*config.devices.mode) +
                    ": the sandbox's /dev is minimal (plus devices.allow)");
  return notes;
}

Config load_config(const ConfigRequest& request) {
  Config config = ChainLoader(request).root();
  if (config.filesystem.strict_deny_read) config.filesystem.default_deny_read = true;
  if (const std::optional<std::string> what = unsupported_setting(config)) {
    const std::string source =
        config.source_path.value_or(request.template_name ? "template " + *request.template_name
                                                          : std::string(kDefaultConfigSourceName));
    throw ConfigError(source + ": " + *what);
  }
  return config;
}

ConfigRequest user_config_request(const std::string& home) {
  ConfigRequest request;
  request.home = home;
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && xdg[0] == '/')
    request.xdg_config_home = xdg;
  return request;
}

Config load_config(const std::optional<std::string>& settings_path, const std::string& home) {
  ConfigRequest request;
  request.settings = settings_path;
  request.home = home;
  return load_config(request);
}

}  // namespace fence::supervisor
