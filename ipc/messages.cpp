#include "ipc/messages.hpp"

#include <set>

namespace fence::ipc {

namespace {

using Error = std::optional<std::string>;

Error check_text(std::string_view field, std::string_view s, std::size_t max_len) {
  if (!is_text(s, max_len)) {
    return std::string(field) + ": longer than " + std::to_string(max_len) +
           " bytes or contains NUL";
  }
  return std::nullopt;
}

Error check_paths(std::string_view field, const std::vector<std::string>& paths) {
  if (paths.size() > kMaxPathCount) return std::string(field) + ": too many paths";
  for (const std::string& p : paths) {
    if (!is_normalized_absolute_path(p)) {
      return std::string(field) + ": not a normalized absolute path: \"" + p + "\"";
    }
  }
  return std::nullopt;
}

// Ports 1..65535, no duplicates, none of `reserved`.
Error check_ports(std::string_view field, const std::vector<std::uint16_t>& ports,
                  std::initializer_list<std::uint16_t> reserved) {
  if (ports.size() > kMaxPortCount) return std::string(field) + ": too many ports";
  std::set<std::uint16_t> seen;
  for (std::uint16_t port : ports) {
    if (port == 0) return std::string(field) + ": port 0";
    if (!seen.insert(port).second) return std::string(field) + ": duplicate port";
    for (std::uint16_t r : reserved)
      if (port == r)
        return std::string(field) + ": port " + std::to_string(port) + " is a proxy port";
  }
  return std::nullopt;
}

// Relative component patterns: "a/*.b/**/c". SECURITY: a pattern starting with "**" would
// make every directory an ancestor of a protected name; "." and ".." never name a component.
Error check_name_patterns(std::string_view field, const std::vector<std::string>& patterns) {
  if (patterns.size() > kMaxNamePatternCount) return std::string(field) + ": too many patterns";
  for (const std::string& p : patterns) {
    if (!is_text(p, kMaxNamePatternLen) || p.empty() || p.front() == '/' || p.back() == '/' ||
        p.starts_with("**"))
      return std::string(field) + ": bad pattern";
    std::size_t pos = 0;
    while (pos <= p.size()) {
      const std::size_t end = std::min(p.find('/', pos), p.size());
      const std::string_view part(p.data() + pos, end - pos);
      if (part.empty() || part == "." || part == "..") return std::string(field) + ": bad pattern";
      pos = end + 1;
    }
  }
  return std::nullopt;
}

Error check_pid(std::string_view what, std::uint32_t pid) {
  if (pid == 0 || pid > kMaxPid) return std::string(what) + ": pid out of range";
  return std::nullopt;
}

Error check_argv(const std::vector<std::string>& argv) {
  if (argv.empty()) return "argv: empty";
  if (argv.size() > kMaxArgCount) return "argv: too many arguments";
  if (argv.front().empty()) return "argv: argv[0] is empty";
  for (const std::string& a : argv) {
    if (auto e = check_text("argv", a, kMaxArgLen)) return e;
  }
  return std::nullopt;
}

Error check_env(const std::vector<std::string>& env) {
  if (env.size() > kMaxEnvCount) return "env: too many entries";
  std::set<std::string_view> keys;
  for (const std::string& entry : env) {
    if (auto e = check_text("env", entry, kMaxEnvLen)) return e;
    const auto eq = entry.find('=');
    if (eq == std::string::npos) return "env: entry without '='";
    const std::string_view key(entry.data(), eq);
    if (!is_valid_env_key(key)) return "env: invalid key \"" + std::string(key) + "\"";
    // SECURITY: with two entries for one key, getenv() and a shell may disagree on which one
    // the command sees; the supervisor sanitized exactly one.
    if (!keys.insert(key).second) return "env: duplicate key \"" + std::string(key) + "\"";
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> validate(const Hello& m) {
  if (m.version != kProtocolVersion) {
    return "Hello: protocol version " + std::to_string(m.version) + ", expected " +
           std::to_string(kProtocolVersion);
  }
  switch (m.role) {
    case Role::Supervisor:
    case Role::Launcher:
    case Role::ProxyWorker:
      return std::nullopt;
  }
  return "Hello: unknown role";
}

std::optional<std::string> validate(const LaunchSpec& m) {
  if (auto e = check_argv(m.argv)) return "LaunchSpec: " + *e;
  if (auto e = check_env(m.env)) return "LaunchSpec: " + *e;
  if (!is_normalized_absolute_path(m.cwd)) {
    return "LaunchSpec: cwd: not a normalized absolute path: \"" + m.cwd + "\"";
  }
  const std::pair<std::string_view, const std::vector<std::string>*> lists[] = {
      {"readable", &m.readable},   {"executable", &m.executable}, {"writable", &m.writable},
      {"creatable", &m.creatable}, {"read_only", &m.read_only},   {"hidden", &m.hidden}};
  for (const auto& [name, list] : lists) {
    if (auto e = check_paths(name, *list)) return "LaunchSpec: " + *e;
  }
  const std::pair<std::string_view, const std::vector<std::string>*> patterns[] = {
      {"protected_names", &m.protected_names},
      {"protected_files", &m.protected_files},
      {"creatable_protected", &m.creatable_protected}};
  for (const auto& [name, list] : patterns) {
    if (auto e = check_name_patterns(name, *list)) return "LaunchSpec: " + *e;
  }
  if (m.http_proxy_port == 0 || m.socks_proxy_port == 0 || m.http_proxy_port == m.socks_proxy_port)
    return "LaunchSpec: proxy ports must be distinct and non-zero";
  const std::initializer_list<std::uint16_t> proxies = {m.http_proxy_port, m.socks_proxy_port};
  const std::pair<std::string_view, const std::vector<std::uint16_t>*> ports[] = {
      {"inbound_ports", &m.inbound_ports}, {"local_outbound_ports", &m.local_outbound_ports}};
  for (const auto& [name, list] : ports)
    if (auto e = check_ports(name, *list, proxies)) return "LaunchSpec: " + *e;
  // A port is either served inside (-p) or forwarded out (a transparent listener), not both.
  for (std::uint16_t port : m.local_outbound_ports) {
    for (std::uint16_t b : m.inbound_ports)
      if (port == b)
        return "LaunchSpec: port " + std::to_string(port) + " both inbound and forwarded";
  }
  // The transparent path's two ports are init's, apart from every other listener port.
  if (m.transparent) {
    std::set<std::uint16_t> taken = {m.http_proxy_port, m.socks_proxy_port};
    taken.insert(m.inbound_ports.begin(), m.inbound_ports.end());
    taken.insert(m.local_outbound_ports.begin(), m.local_outbound_ports.end());
    if (m.transparent_port == 0 || m.dns_port == 0 || m.transparent_port == m.dns_port ||
        taken.count(m.transparent_port) || taken.count(m.dns_port))
      return "LaunchSpec: transparent ports must be distinct, non-zero and not another port";
  }
  if (m.unix_sockets.size() > kMaxSocketCount) return "LaunchSpec: too many unix sockets";
  if (auto e = check_paths("unix_sockets", m.unix_sockets)) return "LaunchSpec: " + *e;
  if (auto e = check_paths("devices", m.devices)) return "LaunchSpec: " + *e;
  for (const std::string& d : m.devices)
    if (!d.starts_with("/dev/")) return "LaunchSpec: devices: not under /dev/: \"" + d + "\"";
  return std::nullopt;
}

std::optional<std::string> validate(const SandboxReady& m) {
  if (m.command_pid == 0 || m.command_pid > kMaxPid) {
    return "SandboxReady: command_pid " + std::to_string(m.command_pid) + " out of range";
  }
  if (m.landlock_abi > kMaxLandlockAbi) {
    return "SandboxReady: landlock_abi " + std::to_string(m.landlock_abi) + " out of range";
  }
  if (m.plan.size() > kMaxPlanLines) return "SandboxReady: plan has too many lines";
  for (const std::string& line : m.plan) {
    if (auto e = check_text("plan", line, kMaxTextLen)) return "SandboxReady: " + *e;
  }
  return std::nullopt;
}

std::optional<std::string> validate(const SetupFailed& m) {
  if (m.step.empty()) return "SetupFailed: empty step";
  if (auto e = check_text("step", m.step, kMaxTextLen)) return "SetupFailed: " + *e;
  if (auto e = check_text("detail", m.detail, kMaxDetailLen)) return "SetupFailed: " + *e;
  if (m.error < 0 || m.error > kMaxErrno) {
    return "SetupFailed: errno " + std::to_string(m.error) + " out of range";
  }
  return std::nullopt;
}

std::optional<std::string> validate(const ExecFailed& m) {
  if (m.error < 1 || m.error > kMaxErrno) {
    return "ExecFailed: errno " + std::to_string(m.error) + " out of range";
  }
  return std::nullopt;
}

std::optional<std::string> validate(const CommandExited& m) {
  const bool ok = m.signaled ? (m.status >= 1 && m.status <= kMaxSignal)
                             : (m.status >= 0 && m.status <= kMaxExitCode);
  if (!ok) {
    return std::string("CommandExited: ") + (m.signaled ? "signal " : "exit status ") +
           std::to_string(m.status) + " out of range";
  }
  return std::nullopt;
}

std::optional<std::string> validate(const ListenersReady& m) {
  if (m.http_port == 0 || m.socks_port == 0 || m.http_port == m.socks_port)
    return "ListenersReady: bad ports";
  return std::nullopt;
}

std::optional<std::string> validate(const ProxyStart& m) {
  if (m.max_tunnels == 0 || m.max_tunnels > 65536) return "ProxyStart: max_tunnels out of range";
  if (m.max_header_bytes < 512 || m.max_header_bytes > 1024 * 1024)
    return "ProxyStart: max_header_bytes out of range";
  if (m.header_timeout_ms == 0 || m.idle_timeout_ms == 0) return "ProxyStart: zero timeout";
  return std::nullopt;
}

std::optional<std::string> validate(const ConnectRequest& m) {
  if (!is_valid_target_host(m.host)) return "ConnectRequest: invalid host";
  if (m.port == 0) return "ConnectRequest: port 0";
  if (!m.claimed_host.empty() &&
      (m.protocol != ProxyProtocol::Transparent || !is_valid_target_host(m.claimed_host)))
    return "ConnectRequest: invalid claimed host";
  return std::nullopt;
}

std::optional<std::string> validate(const ConnectAllowed&) {
  return std::nullopt;
}

std::optional<std::string> validate(const ConnectDenied& m) {
  if (!is_text(m.text, kMaxReasonLen)) return "ConnectDenied: bad text";
  return std::nullopt;
}

std::optional<std::string> validate(const TunnelClosed&) {
  return std::nullopt;
}

std::optional<std::string> validate(const TransparentReady& m) {
  if (m.tcp_port == 0 || m.dns_port == 0 || m.tcp_port == m.dns_port)
    return "TransparentReady: ports must be distinct and non-zero";
  return std::nullopt;
}

std::optional<std::string> validate(const TransparentStart& m) {
  if (m.tcp_port == 0 || m.dns_port == 0 || m.tcp_port == m.dns_port)
    return "TransparentStart: ports must be distinct and non-zero";
  return std::nullopt;
}

std::optional<std::string> validate(const DnsQuery& m) {
  if (m.name.size() > kMaxHostLen || (!m.name.empty() && !is_valid_target_host(m.name)))
    return "DnsQuery: invalid name";
  return std::nullopt;
}

std::optional<std::string> validate(const DnsAnswer& m) {
  const auto is = [&](DnsRcode r) { return m.rcode == static_cast<std::uint8_t>(r); };
  if (!is(DnsRcode::NoError) && !is(DnsRcode::ServFail) && !is(DnsRcode::NxDomain) &&
      !is(DnsRcode::Refused))
    return "DnsAnswer: rcode " + std::to_string(m.rcode);
  if (!is(DnsRcode::NoError) && m.address != 0) return "DnsAnswer: an address with an error";
  return std::nullopt;
}

std::optional<std::string> validate(const LocalListenerReady& m) {
  if (m.port == 0) return "LocalListenerReady: port 0";
  return std::nullopt;
}

std::optional<std::string> validate(const LocalListener& m) {
  if (m.port == 0) return "LocalListener: port 0";
  return std::nullopt;
}

std::optional<std::string> validate(const InboundOpen& m) {
  if (m.port == 0) return "InboundOpen: port 0";
  return std::nullopt;
}

std::optional<std::string> validate(const InboundReady&) {
  return std::nullopt;
}

std::optional<std::string> validate(const InboundFailed& m) {
  if (m.error < 1 || m.error > kMaxErrno) return "InboundFailed: errno out of range";
  return std::nullopt;
}

std::optional<std::string> validate(const RelayStart&) {
  return std::nullopt;
}
std::optional<std::string> validate(const RelayClosed&) {
  return std::nullopt;
}

std::optional<std::string> validate(const Violation& m) {
  if (auto e = check_pid("Violation", m.pid)) return e;
  if (m.operation.empty()) return "Violation: empty operation";
  if (m.error < 0 || m.error > kMaxErrno) return "Violation: errno out of range";
  return std::nullopt;
}

std::optional<std::string> validate(const ExecCheck& m) {
  if (auto e = check_pid("ExecCheck", m.pid)) return e;
  return std::nullopt;
}

std::optional<std::string> validate(const ExecVerdict&) {
  return std::nullopt;
}
std::optional<std::string> validate(const StartCommand&) {
  return std::nullopt;
}

std::optional<std::string> validate(const UnixConnect& m) {
  if (auto e = check_pid("UnixConnect", m.pid)) return e;
  if (m.path.empty() || m.path.front() != '/') return "UnixConnect: path not absolute";
  return std::nullopt;
}

std::optional<std::string> validate(const WorkerLog& m) {
  if (m.text.empty()) return "WorkerLog: empty text";
  return std::nullopt;
}

}  // namespace fence::ipc
