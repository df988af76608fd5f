#include "supervisor/launch_spec.hpp"

#include <fnmatch.h>

#include <dirent.h>
#include <pwd.h>
#include "supervisor/trust_store.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <set>

#include "ipc/grammar.hpp"
#include "supervisor/command_shell.hpp"
#include "supervisor/config/environment.hpp"
#include "supervisor/config/paths.hpp"
#include "supervisor/policy/safe_text.hpp"
#include "supervisor/spawn.hpp"

extern char** environ;

namespace fence::supervisor {
namespace {

std::optional<std::string> environment_value(const char* name) {
  const char* value = ::getenv(name);
  if (!value) return std::nullopt;
  return std::string(value);
}

std::vector<std::string> current_environment() {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) env.emplace_back(*e);
  return env;
}

// The executables of this installation: fence itself and its helpers.
std::vector<std::string> own_executables() {
  std::vector<std::string> files;
  std::error_code ec;
  const auto self = std::filesystem::canonical("/proc/self/exe", ec);
  if (!ec) files.push_back(self.string());
  for (const char* helper : {"fence-launcher", "fence-proxy-worker"}) {
    try {
      files.push_back(std::filesystem::canonical(find_helper(helper)).string());
    } catch (const std::exception&) {
      // Not installed (yet): nothing to protect.
    }
  }
  return files;
}

FilesystemPlan plan_filesystem(const Config& config, const RunPlaces& at,
                               const OutputFiles& outputs) {
  // SECURITY: fence's own configuration and executables are never writable from inside
  // (SECURITY-RULES 7, 14), even when they sit in an allowWrite directory.
  std::vector<std::string> own_files = own_executables();
  // Every file of the extends chain: editing a base would change the next run as much.
  for (const std::string& file : config.source_files) own_files.push_back(file);
  // SECURITY: the audit log is written only by the supervisor; the sandbox can neither
  // append to, truncate, rename nor replace it, even inside an allowWrite directory.
  if (!outputs.audit_file.empty()) own_files.push_back(outputs.audit_file);
  // Every place fence reads its user config or trust store from, whether it exists or not
  // and whatever the environment of this run says (a later run may have another): a sandbox
  // writing one would choose the next run's policy. The defaults under HOME are always
  // protected (filesystem_rules.hpp: kAlwaysProtectedHomeNames).
  for (const char* variable : {"XDG_CONFIG_HOME", "XDG_STATE_HOME"})
    if (const char* dir = std::getenv(variable); dir && dir[0] == '/')
      own_files.push_back(std::string(dir) + "/fence");
  own_files.push_back(trust_store_path(at.home));
  // The user config's chain, even when this run uses another policy (-s, -t, a project
  // config): a file it extends, rewritten now, would be the next plain run's policy.
  try {
    for (const std::string& file : load_config(user_config_request(at.home)).source_files)
      own_files.push_back(file);
  } catch (const ConfigError&) {
    // A broken user config stops the runs that use it, with its own message.
  }
  // The invoking user's home from the password database, when HOME says otherwise: its fence
  // files are the next run's as much as those under this run's HOME.
  if (const passwd* pw = ::getpwuid(::getuid());
      pw && pw->pw_dir && pw->pw_dir[0] == '/' && std::string(pw->pw_dir) != at.home) {
    const std::string real_home = pw->pw_dir;
    for (const char* rel :
         {"/.fence.json", "/.fence.jsonc", "/.config/fence", "/.local/state/fence"})
      own_files.push_back(real_home + rel);
  }
  try {
    // The log file is writable inside like an allowWrite entry (and as protected as one: a
    // protected path stays read-only), so fence runs inside can append to it. SECURITY: an
    // allowWrite entry is a pattern; a name with pattern characters would open every match,
    // so such a log file stays read-only inside.
    if (!outputs.log_file.empty() && !has_glob(outputs.log_file)) {
      Config with_log = config;
      with_log.filesystem.allow_write.push_back(outputs.log_file);
      return build_filesystem_plan(with_log, at.cwd, at.home, own_files);
    }
    return build_filesystem_plan(config, at.cwd, at.home, own_files);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(e.what());
  }
}

// The transparent path's own ports inside: the defaults unless another listener of the spec
// has one (then the next free ones). Port 53 is its DNS, for TCP and UDP to any address, so no
// other listener inside may be reached there.
void place_transparent_ports(ipc::LaunchSpec& spec) {
  std::set<std::uint16_t> taken = {spec.http_proxy_port, spec.socks_proxy_port, 53};
  taken.insert(spec.inbound_ports.begin(), spec.inbound_ports.end());
  taken.insert(spec.local_outbound_ports.begin(), spec.local_outbound_ports.end());
  const char* why = nullptr;
  if (spec.http_proxy_port == 53 || spec.socks_proxy_port == 53)
    why = "network.httpProxyPort/socksProxyPort 53";
  else if (std::find(spec.inbound_ports.begin(), spec.inbound_ports.end(), 53) !=
           spec.inbound_ports.end())
    why = "-p 53";
  else if (std::find(spec.local_outbound_ports.begin(), spec.local_outbound_ports.end(), 53) !=
           spec.local_outbound_ports.end())
    why = "network.allowLocalOutboundPorts 53";
  if (why)
    throw ConfigError(std::string(why) +
                      ": port 53 inside the sandbox is fence's DNS on the transparent path "
                      "(set network.transparent to false to use it otherwise)");
  auto next_free = [&](std::uint16_t port) {
    while (taken.count(port)) port = port == 65535 ? 1024 : static_cast<std::uint16_t>(port + 1);
    taken.insert(port);
    return port;
  };
  spec.transparent_port = next_free(ipc::kDefaultTransparentPort);
  spec.dns_port = next_free(ipc::kDefaultDnsPort);
}

// Localhost and inbound fields (docs/configuration.md, "network").
void add_local_network(ipc::LaunchSpec& spec, const Config& config, const CliOptions& cli,
                       const RunPlaces& at, std::vector<std::string>& warnings) {
  const auto& net = config.network;
  for (const ExposedPort& p : cli.ports) {
    if (p.port == spec.http_proxy_port || p.port == spec.socks_proxy_port)
      throw ConfigError("-p " + std::to_string(p.port) +
                        ": that port is the sandbox's proxy listener");
    spec.inbound_ports.push_back(p.port);
  }
  for (std::uint16_t port : net.allow_local_outbound_ports) {
    if (port == spec.http_proxy_port || port == spec.socks_proxy_port)
      throw ConfigError("network.allowLocalOutboundPorts: " + std::to_string(port) +
                        " is a proxy port");
    if (std::find(spec.inbound_ports.begin(), spec.inbound_ports.end(), port) !=
        spec.inbound_ports.end())
      throw ConfigError("network.allowLocalOutboundPorts: " + std::to_string(port) +
                        " is also exposed with -p (one port cannot be served inside and "
                        "forwarded out)");
    spec.local_outbound_ports.push_back(port);
  }
  for (const std::string& raw : net.allow_unix_sockets) {
    const ResolvedPath resolved = resolve_path(raw, at.cwd, at.home);
    const std::string& path = resolved.path;
    // SECURITY: a symlink where an earlier sandboxed run could have written it (the working
    // directory, HOME, /tmp, a writable tree) may point at any host socket ("./app.sock ->
    // ~/.gnupg/S.gpg-agent"): such an entry is skipped, as for allowWrite.
    if (const std::string* planted =
            planted_symlink(resolved.symlinks, at.cwd, at.home, spec.writable)) {
      warnings.push_back("allowUnixSockets: " + path + " skipped: reached through symlink " +
                         *planted + " inside a writable directory");
      continue;
    }
    // A socket that does not exist yet (an agent started later) is skipped and said so; one
    // that exists must be a socket. The launcher checks again when it binds it in.
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      warnings.push_back("allowUnixSockets: " + path + " does not exist; skipped");
      continue;
    }
    if (!S_ISSOCK(st.st_mode))
      throw ConfigError("network.allowUnixSockets: " + in_quotes(path) + " is not a socket");
    // SECURITY: a second name of a socket (a hard link made inside a writable tree) may be the
    // host socket an earlier run linked there; a socket has one name unless someone made more.
    if (st.st_nlink > 1) {
      warnings.push_back("allowUnixSockets: " + path + " skipped: the socket has " +
                         std::to_string(st.st_nlink) + " names (hard links)");
      continue;
    }
    if (std::find(spec.unix_sockets.begin(), spec.unix_sockets.end(), path) ==
        spec.unix_sockets.end())
      spec.unix_sockets.push_back(path);
  }
  spec.allow_all_unix_sockets = net.allow_all_unix_sockets;
  spec.allow_pty = config.allow_pty;
  spec.new_session = config.force_new_session.value_or(false);
}

// devices.allow: each entry's matches on this host (a glob in the last component, as fnmatch),
// character devices and directories only; what is missing is said with -d/-m, never replaced
// by something wider. A block device is a configuration error: raw disk access is not what a
// device pass-through list is for.
std::vector<std::string> plan_devices(const DevicesConfig& devices,
                                      std::vector<std::string>& warnings) {
  std::vector<std::string> out;
  // devices.mode "host": every character device and directory at the top of the host's /dev,
  // but the sandbox keeps its own pts, ptmx, shm and tty, and no block device (raw disks).
  if (devices.mode == "host") {
    if (DIR* d = ::opendir("/dev")) {
      while (const dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name == "." || name == ".." || name == "pts" || name == "ptmx" || name == "shm" ||
            name == "tty" || name == "mqueue" || name == "hugepages")
          continue;
        struct stat st {};
        const std::string path = "/dev/" + name;
        if (::lstat(path.c_str(), &st) != 0) continue;
        if (S_ISCHR(st.st_mode) || S_ISDIR(st.st_mode)) out.push_back(path);
      }
      ::closedir(d);
      std::sort(out.begin(), out.end());
    }
    warnings.push_back("devices.mode \"host\": " + std::to_string(out.size()) +
                       " host device nodes and directories passed through (not block devices, "
                       "not the host's pts, shm or tty)");
  }
  for (const std::string& entry : devices.allow) {
    const std::size_t slash = entry.rfind('/');
    const std::string dir = entry.substr(0, slash);
    const std::string name = entry.substr(slash + 1);
    std::vector<std::string> matches;
    if (name.find_first_of("*?[") == std::string::npos) {
      matches.push_back(entry);
    } else if (DIR* d = ::opendir(dir.c_str())) {
      while (const dirent* e = ::readdir(d))
        if (e->d_name[0] != '.' && ::fnmatch(name.c_str(), e->d_name, FNM_PERIOD) == 0)
          matches.push_back(dir + "/" + e->d_name);
      ::closedir(d);
      std::sort(matches.begin(), matches.end());
    }
    if (matches.empty())
      warnings.push_back("devices.allow: " + entry + " matches nothing here; skipped");
    for (const std::string& path : matches) {
      struct stat st {};
      if (::lstat(path.c_str(), &st) != 0) {
        warnings.push_back("devices.allow: " + path + " does not exist here; skipped");
        continue;
      }
      if (S_ISBLK(st.st_mode))
        throw ConfigError("devices.allow: " + path + " is a block device (not passed through)");
      if (!S_ISCHR(st.st_mode) && !S_ISDIR(st.st_mode)) {
        warnings.push_back("devices.allow: " + path +
                           " is neither a character device nor a directory; skipped");
        continue;
      }
      if (std::find(out.begin(), out.end(), path) == out.end()) out.push_back(path);
    }
  }
  return out;
}

}  // namespace

LaunchPlan build_launch_spec(const CliOptions& cli, const Config& config, const RunPlaces& at,
                             const OutputFiles& outputs, bool nested) {
  FilesystemPlan fs = plan_filesystem(config, at, outputs);
  LaunchPlan plan;
  plan.fs_warnings = std::move(fs.warnings);
  plan.denied_write_paths = std::move(fs.denied_write_paths);
  plan.denied_write_names = std::move(fs.denied_write_names);
  ipc::LaunchSpec& spec = plan.spec;
  spec.argv = cli.shell_command
                  ? shell_command_argv(cli, *cli.shell_command, environment_value("SHELL"))
                  : cli.command;
  spec.env = sandbox_environment(current_environment(), &plan.removed_env);
  if (!outputs.log_file.empty()) {
    std::erase_if(spec.env, [](const std::string& e) { return e.starts_with("FENCE_LOG_FILE="); });
    spec.env.push_back("FENCE_LOG_FILE=" + outputs.log_file);
  }
  spec.cwd = at.cwd;
  spec.readable = std::move(fs.readable);
  spec.executable = std::move(fs.executable);
  spec.writable = std::move(fs.writable);
  spec.creatable = std::move(fs.creatable);
  // TMPDIR was dropped with glibc's unsecure variables; a checked one replaces it.
  const std::optional<std::string> caller_tmpdir = environment_value("TMPDIR");
  if (caller_tmpdir) std::erase(plan.removed_env, "TMPDIR");
  repair_environment(spec.env, caller_tmpdir, spec.writable, ipc::private_runtime_dir(::getuid()),
                     &plan.env_changes);
  spec.read_only = std::move(fs.read_only);
  spec.hidden = std::move(fs.hidden);
  spec.protected_names = std::move(fs.protected_names);
  spec.protected_files = std::move(fs.protected_files);
  spec.creatable_protected = std::move(fs.creatable_protected);
  spec.protect_bare_repositories = fs.protect_bare_repositories;
  spec.devices = plan_devices(config.devices, plan.fs_warnings);
  spec.debug = cli.debug;
  spec.http_proxy_port = config.network.http_proxy_port.value_or(ipc::kDefaultHttpProxyPort);
  spec.socks_proxy_port = config.network.socks_proxy_port.value_or(ipc::kDefaultSocksProxyPort);
  if (spec.http_proxy_port == spec.socks_proxy_port)
    throw ConfigError("network.httpProxyPort and network.socksProxyPort are equal");
  add_local_network(spec, config, cli, at, plan.net_warnings);
  // The transparent path (network.transparent, default on): init sets it up where the kernel
  // allows nftables in the sandbox's namespaces. A nested run has no namespace to set it in.
  spec.transparent = !nested && config.network.transparent.value_or(true);
  if (spec.transparent) place_transparent_ports(spec);
  if (!nested) add_proxy_environment(spec.env, spec.http_proxy_port, spec.socks_proxy_port);
  // Nested: the launcher makes the command's TMPDIR in the caller's (launcher/nested.cpp), the
  // one place a run inside a nested run may write.
  if (nested && caller_tmpdir && !caller_tmpdir->empty() && (*caller_tmpdir)[0] == '/') {
    std::erase_if(spec.env, [](const std::string& e) { return e.starts_with("TMPDIR="); });
    spec.env.push_back("TMPDIR=" + *caller_tmpdir);
  }
  spec.nested = nested;
  return plan;
}

}  // namespace fence::supervisor
