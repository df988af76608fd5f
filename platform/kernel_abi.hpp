// Kernel ABI values that the system headers do not export (they live in the kernel's internal
// headers), for the seccomp profile and the path resolver of the launcher.
#pragma once

#include <cstdint>

namespace fence::platform {

// SOCK_TYPE_MASK (include/linux/net.h): socket(2) and socketpair(2) take the type under this
// mask; the bits above it are flags (SOCK_NONBLOCK, SOCK_CLOEXEC).
inline constexpr std::uint64_t kSockTypeMask = 0xf;

// personality(0xffffffff) reads the current persona without changing it.
inline constexpr std::uint64_t kPersonalityQuery = 0xffffffffULL;

// fchmodat2(2), Linux 6.6 (fchmodat with flags), newer than glibc 2.36's syscall list; the
// same number on every architecture (the unified table from 424 on).
inline constexpr int kFchmodat2 = 452;

// MAXSYMLINKS (include/linux/namei.h): symlinks followed in one path walk before ELOOP.
inline constexpr int kMaxSymlinks = 40;

}  // namespace fence::platform
