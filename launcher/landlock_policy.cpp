#include "launcher/landlock_policy.hpp"

#include <unistd.h>

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
  // The private XDG_RUNTIME_DIR in the private /run (root_filesystem.cpp).
  policy.paths.emplace_back(ipc::private_runtime_dir(::getuid()), PathAccess::Write);
  for (const auto& p : spec.executable) policy.paths.emplace_back(p, PathAccess::Execute);
  for (const auto& p : writable_roots(spec))
    if (p != "/tmp") policy.paths.emplace_back(p, PathAccess::Write);
  // TCP bind and connect on any port: the network namespace has only its own lo, so every
  // peer is inside the sandbox (a test suite's server on port 0, a dev server and its
  // client). The proxy and transparent listeners exist before the command does, so their
  // ports cannot be bound again; only -p carries a port out to the host.
  policy.restrict_bind = false;
  policy.restrict_connect = false;
  policy.scope_abstract_unix = true;
  policy.scope_signal = true;
  return policy;
}

}  // namespace fence::launcher
