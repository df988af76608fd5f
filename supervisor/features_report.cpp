#include "supervisor/features_report.hpp"

#include <sstream>

#include "platform/kernel_features.hpp"
#include "platform/nftables.hpp"

namespace fence::supervisor {

std::string linux_features_report() {
  const platform::KernelFeatures f = platform::probe_kernel_features();
  auto yes_no = [](bool b) { return b ? "yes" : "no"; };
  std::ostringstream out;
  out << "kernel: " << f.kernel_release << "\n"
      << "user namespaces: " << yes_no(f.user_namespaces)
      << (f.user_namespaces_detail.empty() ? "" : " (" + f.user_namespaces_detail + ")") << "\n"
      << "network namespaces: " << yes_no(f.network_namespaces) << "\n"
      << "landlock ABI: " << f.landlock_abi << "\n"
      << "seccomp filter: " << yes_no(f.seccomp_filter) << "\n"
      << "seccomp user notification: " << yes_no(f.seccomp_user_notif) << "\n";
  const std::string transparent =
      f.user_namespaces ? platform::probe_transparent_rules() : "no user namespaces";
  out << "transparent network path (nftables in the sandbox): "
      << (transparent.empty() ? "yes" : "no (" + transparent + ")") << "\n";
  const bool runnable =
      f.user_namespaces && f.network_namespaces && f.landlock_abi > 0 && f.seccomp_filter;
  out << "fence enforces here: ";
  if (!runnable) {
    out << "nothing - fence refuses to run commands on this host";
    if (!f.user_namespaces) out << " (" << platform::fix_hint_for_user_namespaces(f) << ")";
    out << "\n";
    return out.str();
  }
  out << "namespaces (user, mount, pid, net with lo only, ipc, uts, cgroup); read-only root with "
         "allowWrite binds; Landlock ABI "
      << f.landlock_abi << " filesystem rules" << (f.landlock_abi >= 3 ? " incl. truncate" : "")
      << (f.landlock_abi >= 4 ? ", TCP bind/connect" : "")
      << (f.landlock_abi >= 6 ? ", abstract-socket and signal scoping" : "")
      << "; seccomp filter; no capabilities; no_new_privs"
      << (transparent.empty()
              ? "; transparent network path (TCP and DNS of programs that ignore the proxy "
                "variables decided by the policy)"
              : "; proxy-aware programs only have network (no transparent path)")
      << "\n";
  return out.str();
}

std::string user_namespace_fix_hint() {
  return platform::fix_hint_for_user_namespaces(platform::probe_kernel_features());
}

}  // namespace fence::supervisor
