// Namespace creation for the launcher: user namespace with a 1:1 id map, then the others.
#pragma once

#include <sys/types.h>

#include <string>

namespace fence::platform {

// unshare(CLONE_NEWUSER) and map `uid`/`gid` inside to the same ids outside (the invoking
// user). setgroups is denied first, as the kernel requires for an unprivileged gid_map.
void enter_user_namespace(uid_t uid, gid_t gid);

// unshare(2) the mount, pid, network, ipc, uts and cgroup namespaces. Must follow
// enter_user_namespace so the new namespaces are owned by the sandbox's user namespace. The
// pid namespace applies to the caller's next child, which becomes its init.
void enter_sandbox_namespaces();

// Brings the loopback interface of the current network namespace up.
void bring_up_loopback();

// Writes `value` to a /proc/sys file (e.g. user/max_user_namespaces).
void write_sysctl(const std::string& path, const std::string& value);

}  // namespace fence::platform
