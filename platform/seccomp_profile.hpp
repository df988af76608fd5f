// The seccomp profile installed last before exec (launcher step 6), built with libseccomp.
//
// Default action ALLOW plus a deny list: the sandbox's real walls are namespaces, mounts and
// Landlock; seccomp removes the kernel interfaces that would let a process climb over them
// (nested namespaces, mounts, ptrace, terminal injection, io_uring, other ABIs).
#pragma once

#include <string>
#include <vector>

#include "platform/unique_fd.hpp"

namespace fence::platform {

struct SeccompOptions {
  bool allow_unix_sockets = false;  // socket(AF_UNIX); socketpair is always allowed
  // Every syscall that can create a name (open/openat with O_CREAT, creat, mkdir*, mknod*,
  // symlink*, link*, rename*) goes to a user-notification listener that decides and performs
  // it (launcher/creation_guard.cpp); openat2 gets ENOSYS so libc and programs use openat.
  bool notify_creations = false;
};

// Loads the filter for this thread and every thread of the process (TSYNC, unless
// notify_creations: the kernel refuses TSYNC with a listener; the caller is single-threaded
// then). The caller has set no_new_privs. Returns the listener fd when notify_creations, an
// invalid fd otherwise. Throws SysError on any failure (fail closed).
UniqueFd install_seccomp_filter(const SeccompOptions& options);

// One line per rule group for `fence -d`.
std::vector<std::string> describe_seccomp(const SeccompOptions& options);

}  // namespace fence::platform
