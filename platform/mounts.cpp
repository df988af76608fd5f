#include "platform/mounts.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "platform/sys_error.hpp"

namespace fence::platform {
namespace {

// Constants of the new mount API, from the kernel ABI (the libc headers of older systems lack
// some of them).
constexpr unsigned kOpenTreeClone = 1;
constexpr unsigned kOpenTreeCloexec = O_CLOEXEC;
constexpr unsigned kAtRecursive = 0x8000;
constexpr unsigned kAtEmptyPath = 0x1000;
constexpr unsigned kMoveMountFEmptyPath = 0x00000004;
constexpr unsigned kMoveMountTEmptyPath = 0x00000040;

struct MountAttr {
  std::uint64_t attr_set;
  std::uint64_t attr_clr;
  std::uint64_t propagation;
  std::uint64_t userns_fd;
};

}  // namespace

void make_mounts_private() {
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    throw SysError("mount --make-rprivate /");
}

void mount_fs(const std::string& fstype, const std::string& target, unsigned long flags,
              const std::string& options) {
  if (::mount(fstype.c_str(), target.c_str(), fstype.c_str(), flags,
              options.empty() ? nullptr : options.c_str()) != 0)
    throw SysError("mount " + fstype + " on " + target);
}

UniqueFd open_beneath(int root_fd, const std::string& absolute_path, int flags) {
  const auto first = absolute_path.find_first_not_of('/');
  const std::string relative = first == std::string::npos ? "." : absolute_path.substr(first);
  struct open_how how {};
  how.flags = static_cast<std::uint64_t>(flags);
  // SECURITY: no symlink (planted or not) is ever followed while resolving a mount source or
  // target, and resolution cannot leave root_fd.
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  int fd = static_cast<int>(retry_eintr(
      [&] { return ::syscall(SYS_openat2, root_fd, relative.c_str(), &how, sizeof how); }));
  if (fd < 0) throw SysError("openat2 " + absolute_path);
  return UniqueFd(fd);
}

UniqueFd clone_mount(int fd, bool recursive) {
  unsigned flags =
      kOpenTreeClone | kOpenTreeCloexec | kAtEmptyPath | (recursive ? kAtRecursive : 0);
  int tree = static_cast<int>(::syscall(SYS_open_tree, fd, "", flags));
  if (tree < 0) throw SysError("open_tree(clone)");
  return UniqueFd(tree);
}

void set_mount_attributes(int fd, bool recursive, std::uint64_t set, std::uint64_t clear) {
  MountAttr attr{set, clear, 0, 0};
  unsigned flags = kAtEmptyPath | (recursive ? kAtRecursive : 0);
  if (::syscall(SYS_mount_setattr, fd, "", flags, &attr, sizeof attr) != 0)
    throw SysError("mount_setattr");
}

void attach_mount(int tree_fd, int target_fd) {
  if (::syscall(SYS_move_mount, tree_fd, "", target_fd, "",
                kMoveMountFEmptyPath | kMoveMountTEmptyPath) != 0)
    throw SysError("move_mount");
}

void pivot_root(const std::string& new_root, const std::string& put_old) {
  if (::syscall(SYS_pivot_root, new_root.c_str(), put_old.c_str()) != 0)
    throw SysError("pivot_root");
}

void pivot_into(const std::string& new_root) {
  if (::chdir(new_root.c_str()) != 0) throw SysError("chdir " + new_root);
  // pivot_root(".", ".") stacks the old root on top of the new one; unmounting "." then
  // detaches the old root so no host path stays reachable.
  if (::syscall(SYS_pivot_root, ".", ".") != 0) throw SysError("pivot_root");
  if (::umount2(".", MNT_DETACH) != 0) throw SysError("umount old root");
  if (::chdir("/") != 0) throw SysError("chdir /");
}

}  // namespace fence::platform
