// The seccomp profile installed last before exec (launcher step 6), built with libseccomp.
//
// Default action ALLOW plus a deny list: the sandbox's real walls are namespaces, mounts and
// Landlock; seccomp removes the kernel interfaces that would let a process climb over them
// (nested namespaces, mounts, ptrace, terminal injection, io_uring, other ABIs).
#pragma once

#include <string>
#include <vector>

namespace fence::platform {

struct SeccompOptions {
  bool allow_unix_sockets = false;  // socket(AF_UNIX); socketpair is always allowed
};

// Loads the filter for this thread and every thread of the process (TSYNC). The caller has
// set no_new_privs. Throws SysError on any failure (fail closed).
void install_seccomp_filter(const SeccompOptions& options);

// One line per rule group for `fence -d`.
std::vector<std::string> describe_seccomp(const SeccompOptions& options);

}  // namespace fence::platform
