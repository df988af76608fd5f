// Capability and privilege drops for the sandboxed process (launcher step 4).
#pragma once

namespace fence::platform {

// Leaves the process with no capability in any set, for good:
//   ambient cleared, bounding set emptied, securebits locked so that uid 0 (e.g. root of our
//   user namespace) does not regain capabilities on execve, then effective/permitted/
//   inheritable zeroed. Needs CAP_SETPCAP (we hold it as root of the sandbox's user
//   namespace). Throws SysError on any failure (fail closed).
void drop_all_capabilities();

// Inside another sandbox, which has dropped the bounding set and locked the securebits already
// (and left no CAP_SETPCAP to do either again): clears the ambient, effective, permitted and
// inheritable sets, and fails (EPERM) unless the bounding set is empty. Throws SysError.
void drop_remaining_capabilities();

// PR_SET_NO_NEW_PRIVS: execve can never grant privileges again (setuid bits, file caps).
// Also required before an unprivileged seccomp or Landlock restriction.
void set_no_new_privs();

}  // namespace fence::platform
