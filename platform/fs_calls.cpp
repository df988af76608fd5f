#include "platform/fs_calls.hpp"

#include <sys/syscall.h>
#include <unistd.h>

namespace fence::platform {

int rename_at(int old_dir, const char* old_name, int new_dir, const char* new_name,
              unsigned flags) {
  return static_cast<int>(::syscall(SYS_renameat2, old_dir, old_name, new_dir, new_name, flags));
}

}  // namespace fence::platform
