// libseccomp plumbing shared by fence's two seccomp profiles: the command's
// (launcher/command_seccomp.hpp: a deny list, with user notification) and the proxy worker's
// (proxy-worker/worker_seccomp.hpp: an allowlist). The profiles, which syscalls and why, live
// with their roles; this is the mechanism: the filter context, rules, the x32 check, loading,
// and answering notifications.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <seccomp.h>

#include "platform/unique_fd.hpp"

namespace fence::platform {

// The kernel reads ioctl's and fcntl's cmd, personality's persona and socket's domain as 32-bit
// ints; libseccomp compares 64 bits. Comparing under this mask stops high bits from hiding a
// value.
inline constexpr std::uint64_t kLow32 = 0xffffffffULL;

// The number of syscall `name` on this architecture, including the syscalls newer than
// libseccomp's table; nullopt when this architecture has no such syscall.
std::optional<int> syscall_number(const char* name);

// syscall_number, or SysError(ENOSYS) for a name neither libseccomp nor fence knows (a bug).
int require_syscall_number(const char* name);

// The name of syscall `nr` of audit architecture `arch` ("syscall N" when unknown).
std::string syscall_name(std::uint32_t arch, int nr);

class SeccompFilter {
 public:
  // `default_action` (SCMP_ACT_*) for every syscall no rule names. SECURITY: any other
  // architecture (i386 via `int 0x80`, x32) kills the process outright: its syscall numbers
  // differ, so no rule would match what the kernel runs. `what` prefixes error messages.
  SeccompFilter(std::uint32_t default_action, std::string what);

  // Every thread of the process gets the filter (TSYNC). The kernel refuses TSYNC together
  // with a listener.
  void synchronize_threads();

  // A rule for syscall number `nr` (`name` is for messages).
  template <typename... Cmp>
  void add(std::uint32_t action, int nr, const char* name, Cmp... cmp) {
    check(seccomp_rule_add(ctx_.get(), action, nr, sizeof...(cmp), cmp...),
          std::string("rule for ") + name);
  }

  // SECURITY: refuses to go on with a program that does not kill x32 syscalls
  // (nr >= 0x40000000): libseccomp 2.5 emits that check for x86_64 filters, and a later
  // libseccomp that did not would let every rule here be bypassed.
  void verify_x32_rejected();

  // Loads the filter; returns the user-notification listener when a rule notifies.
  UniqueFd load(bool with_listener);

 private:
  void check(int rc, const std::string& what) const;

  struct Release {
    void operator()(void* ctx) const { seccomp_release(ctx); }
  };
  std::unique_ptr<void, Release> ctx_;
  std::string what_;
};

// Asks the kernel to hand a notification to the listener, and the answer back to the caller,
// on the CPU that is already running (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, Linux 6.6): a
// notified syscall then costs two context switches instead of two cross-CPU wake-ups. Best
// effort: false on older kernels, which work as before.
bool prefer_synchronous_wakeups(int listener);

// Answers notification `id` on `listener` (SECCOMP_IOCTL_NOTIF_SEND): `value` or `error`
// (an errno, 0 for success), with `flags` (e.g. SECCOMP_USER_NOTIF_FLAG_CONTINUE). Safe from
// any thread. Fails only when the caller is gone (ENOENT): nothing is left to do then.
void answer_notification(int listener, std::uint64_t id, std::int64_t value, int error,
                         std::uint32_t flags);

}  // namespace fence::platform
