// What the running kernel offers, probed once at startup: drives `fence --check`, the
// fail-closed refusals and their fix-it hints (SECURITY-RULES 20).
#pragma once

#include <string>

namespace fence::platform {

struct KernelFeatures {
  std::string kernel_release;
  bool user_namespaces = false;
  std::string user_namespaces_detail;  // "available", or why not
  bool network_namespaces = false;     // a new netns inside a new user namespace
  int landlock_abi = 0;
  bool seccomp_filter = false;
  bool seccomp_user_notif = false;
};

// Forks a short-lived child to try unshare(CLONE_NEWUSER), a uid_map and CLONE_NEWNET.
// Call it before set_non_dumpable(): a non-dumpable process cannot write its own uid_map
// (its /proc files belong to root), which would read as "no user namespaces".
KernelFeatures probe_kernel_features();

// Empty when this process is provably inside a sandbox that confines it the way a fence sandbox
// does, so that a fence run here can add restrictions without namespaces of its own (nested
// mode): FENCE_SANDBOX=1, no user namespace can be created (user.max_user_namespaces is 0 in
// this namespace), no_new_privs is set, a seccomp filter is in force, and this network
// namespace has no interface but lo. Otherwise the first of these that does not hold.
// FENCE_SANDBOX alone proves nothing: each of the others is checked here. Whoever could fake
// all of them has confined the process's network to a loopback of its own already.
std::string nested_sandbox_evidence();

// A concrete command that enables unprivileged user namespaces; empty when they work.
std::string fix_hint_for_user_namespaces(const KernelFeatures& features);

}  // namespace fence::platform
