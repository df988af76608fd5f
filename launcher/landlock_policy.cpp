#include "launcher/landlock_policy.hpp"

#include "launcher/writable_roots.hpp"

namespace fence::launcher {

platform::LandlockPolicy landlock_policy_for(const ipc::LaunchSpec& spec) {
  using platform::PathAccess;
  platform::LandlockPolicy policy;
  for (const auto& p : spec.readable) policy.paths.emplace_back(p, PathAccess::Read);
  for (const auto& p : {"/proc", "/sys", "/run"}) policy.paths.emplace_back(p, PathAccess::Read);
  // Terminals and /dev/null need write and ioctl; the devices are a fixed minimal set.
  policy.paths.emplace_back("/dev", PathAccess::Device);
  policy.paths.emplace_back("/dev/shm", PathAccess::Write);
  // /tmp is writable whether it is the host's (a writable root) or a private tmpfs.
  policy.paths.emplace_back("/tmp", PathAccess::Write);
  for (const auto& p : spec.executable) policy.paths.emplace_back(p, PathAccess::Execute);
  for (const auto& p : writable_roots(spec))
    if (p != "/tmp") policy.paths.emplace_back(p, PathAccess::Write);
  // Only lo exists, so every TCP peer is inside the sandbox (defense in depth; the network
  // namespace is the isolation). bind: any port with allowLocalBinding, else only the -p
  // ports. connect: the proxy and transparent listeners, and the ports the command may serve
  // on itself (all of them with allowLocalBinding).
  policy.restrict_bind = !spec.allow_local_binding;
  policy.bind_ports = spec.bind_ports;
  policy.restrict_connect = !spec.allow_local_binding;
  policy.connect_ports = {spec.http_proxy_port, spec.socks_proxy_port};
  for (auto port : spec.local_outbound_ports) policy.connect_ports.push_back(port);
  for (auto port : spec.bind_ports) policy.connect_ports.push_back(port);
  policy.scope_abstract_unix = true;
  policy.scope_signal = true;
  return policy;
}

}  // namespace fence::launcher
