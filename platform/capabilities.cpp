#include "platform/capabilities.hpp"

#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <string>

#include "platform/sys_error.hpp"

namespace fence::platform {

namespace {

// The highest capability number the kernel knows; newer than our headers, so read it.
int last_capability() {
  std::ifstream in("/proc/sys/kernel/cap_last_cap");
  int last = -1;
  if (!(in >> last) || last < 0 || last > 63) {
    // Without /proc we still try every bit a 64-bit mask can hold.
    return 63;
  }
  return last;
}

// SECURITY: NOROOT stops uid 0 from getting a full permitted set on execve; NO_SETUID_FIXUP
// stops uid changes from touching capability sets; KEEP_CAPS stays off; NO_CAP_AMBIENT_RAISE
// forbids re-filling the ambient set. Every bit is locked so nothing can undo it.
constexpr unsigned long kSecurebits =
    SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED |
    SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;

void clear_ambient() {
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) {
    throw SysError("caps: clear ambient set");
  }
}

void lock_securebits() {
  // Needs CAP_SETPCAP in the effective set, so this runs before capset() below.
  if (::prctl(PR_SET_SECUREBITS, kSecurebits, 0, 0, 0) != 0) throw SysError("caps: securebits");
}

void drop_bounding_set() {
  const int last = last_capability();
  for (int cap = 0; cap <= last; ++cap) {
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      if (errno == EINVAL) break;  // past the kernel's last capability
      throw SysError("caps: drop bounding capability " + std::to_string(cap));
    }
  }
}

void clear_capability_sets() {
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capset, &header, data) != 0) throw SysError("caps: capset");
}

}  // namespace

void drop_all_capabilities() {
  // Order matters: ambient first (it is recomputed from the others), then the steps that need
  // CAP_SETPCAP, and last the sets that hold CAP_SETPCAP itself.
  clear_ambient();
  lock_securebits();
  drop_bounding_set();
  clear_capability_sets();
}

void drop_remaining_capabilities() {
  clear_ambient();
  clear_capability_sets();
  const int last = last_capability();
  for (int cap = 0; cap <= last; ++cap) {
    const int held = ::prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
    if (held < 0 && errno == EINVAL) break;  // past the kernel's last capability
    if (held != 0)
      throw SysError("caps: bounding capability " + std::to_string(cap) + " held", EPERM);
  }
}

void set_no_new_privs() {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) throw SysError("prctl(PR_SET_NO_NEW_PRIVS)");
}

}  // namespace fence::platform
