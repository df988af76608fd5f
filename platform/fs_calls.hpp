// Filesystem syscalls that glibc 2.36 does not wrap, or whose numbers its headers lack.
#pragma once

namespace fence::platform {

// fchmodat2(2), Linux 6.6: fchmodat with flags (AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH). The same
// number on every architecture (the unified table of syscalls from 424 on).
inline constexpr int kFchmodat2 = 452;

// renameat2(2): rename with RENAME_NOREPLACE / RENAME_EXCHANGE. -1 with errno on failure.
int rename_at(int old_dir, const char* old_name, int new_dir, const char* new_name, unsigned flags);

}  // namespace fence::platform
