#include "platform/seccomp_filter.hpp"
#include "platform/kernel_abi.hpp"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string_view>

#include "platform/sys_error.hpp"

namespace fence::platform {
namespace {

// Syscalls with numbers at or above this bit are the x32 ABI on x86_64.
constexpr std::uint32_t kX32SyscallBit = 0x40000000U;

// Syscalls newer than libseccomp 2.5.4's table, with their number in the unified table
// (the same on every architecture for numbers >= 424).
struct NewSyscall {
  const char* name;
  int number;
};
constexpr NewSyscall kNewerSyscalls[] = {
    {"fchmodat2", kFchmodat2},  // Linux 6.6: fchmodat with flags
    {"setxattrat", 463},        // Linux 6.13: *xattrat, their arguments in a struct
    {"removexattrat", 466},
    {"open_tree_attr", 467},  // Linux 6.15: open_tree() plus mount attributes
};

}  // namespace

std::optional<int> syscall_number(const char* name) {
  const int nr = seccomp_syscall_resolve_name(name);
  if (nr != __NR_SCMP_ERROR && nr >= 0) return nr;
  for (const auto& known : kNewerSyscalls)
    if (std::string_view(name) == known.name) return known.number;
  return std::nullopt;
}

int require_syscall_number(const char* name) {
  if (const auto nr = syscall_number(name)) return *nr;
  throw SysError(std::string("seccomp: libseccomp does not know syscall ") + name, ENOSYS);
}

std::string syscall_name(std::uint32_t arch, int nr) {
  // libseccomp's architecture tokens are the kernel's AUDIT_ARCH values (seccomp_data.arch).
  if (char* name = seccomp_syscall_resolve_num_arch(arch, nr)) {
    std::string out(name);
    std::free(name);
    return out;
  }
  for (const auto& known : kNewerSyscalls)
    if (known.number == nr) return known.name;
  return "syscall " + std::to_string(nr);
}

SeccompFilter::SeccompFilter(std::uint32_t default_action, std::string what)
    : ctx_(seccomp_init(default_action)), what_(std::move(what)) {
  if (!ctx_) throw SysError(what_ + ": init", ENOMEM);
  check(seccomp_attr_set(ctx_.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS),
        "bad-arch action");
  // Report the kernel's errno on failure (best effort: an older API level lacks it).
  (void)seccomp_attr_set(ctx_.get(), SCMP_FLTATR_API_SYSRAWRC, 1);
}

void SeccompFilter::synchronize_threads() {
  check(seccomp_attr_set(ctx_.get(), SCMP_FLTATR_CTL_TSYNC, 1), "tsync");
}

void SeccompFilter::check(int rc, const std::string& what) const {
  if (rc < 0) throw SysError(what_ + ": " + what, -rc);
}

void SeccompFilter::verify_x32_rejected() {
  if (seccomp_arch_native() != SCMP_ARCH_X86_64) return;
  UniqueFd fd(::memfd_create("fence-seccomp-bpf", MFD_CLOEXEC));
  if (!fd) throw SysError(what_ + ": memfd_create");
  check(seccomp_export_bpf(ctx_.get(), fd.get()), "export bpf");
  if (::lseek(fd.get(), 0, SEEK_SET) != 0) throw SysError(what_ + ": lseek");
  sock_filter insn{};
  for (;;) {
    const auto n = retry_eintr([&] { return ::read(fd.get(), &insn, sizeof(insn)); });
    if (n < 0) throw SysError(what_ + ": read bpf");
    if (n != static_cast<ssize_t>(sizeof(insn))) break;
    if (insn.code == (BPF_JMP | BPF_JGE | BPF_K) && insn.k == kX32SyscallBit) return;
  }
  throw SysError(what_ + ": generated filter does not reject x32 syscalls", EPROTO);
}

UniqueFd SeccompFilter::load(bool with_listener) {
  check(seccomp_load(ctx_.get()), "load filter");
  if (!with_listener) return UniqueFd();
  const int fd = seccomp_notify_fd(ctx_.get());
  if (fd < 0) throw SysError(what_ + ": listener fd", -fd);
  return UniqueFd(fd);
}

bool prefer_synchronous_wakeups(int listener) {
  // Newer than the system's linux/seccomp.h: the kernel ABI values, from linux/seccomp.h 6.6.
  constexpr unsigned long kNotifSetFlags = _IOW('!', 4, std::uint64_t);
  constexpr std::uint64_t kSyncWakeUp = 1;
  return ::ioctl(listener, kNotifSetFlags, kSyncWakeUp) == 0;
}

void answer_notification(int listener, std::uint64_t id, std::int64_t value, int error,
                         std::uint32_t flags) {
  seccomp_notif_resp resp{};
  resp.id = id;
  resp.val = value;
  resp.error = -error;
  resp.flags = flags;
  (void)::ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
}

}  // namespace fence::platform
