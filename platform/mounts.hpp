// Mount primitives for building the sandbox's root. Everything goes through file descriptors
// opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), and the new mount API
// (open_tree / move_mount / mount_setattr), so a symlink planted by an earlier sandboxed run
// can never redirect a mount.
#pragma once

#include <cstdint>
#include <string>

#include "platform/unique_fd.hpp"

namespace fence::platform {

// Mount attribute bits of mount_setattr(2) (ours, independent of the installed headers).
inline constexpr std::uint64_t kMountAttrRdonly = 0x00000001;
inline constexpr std::uint64_t kMountAttrNosuid = 0x00000002;
inline constexpr std::uint64_t kMountAttrNodev = 0x00000004;
inline constexpr std::uint64_t kMountAttrNoexec = 0x00000008;

// Stops mount events from propagating between our namespace and the host's.
void make_mounts_private();

// mount(2) of a pseudo filesystem (tmpfs, proc, devpts) at a plain path we created ourselves.
void mount_fs(const std::string& fstype, const std::string& target, unsigned long flags,
              const std::string& options);

// Opens `absolute_path` relative to `root_fd` without following any symlink and without
// escaping `root_fd`. `flags` is usually O_PATH | O_CLOEXEC (O_DIRECTORY optional).
UniqueFd open_beneath(int root_fd, const std::string& absolute_path, int flags);

// A detached copy of the mount tree at `fd` (recursive: with its submounts).
UniqueFd clone_mount(int fd, bool recursive);

// mount_setattr(2) on the mount at `fd`.
void set_mount_attributes(int fd, bool recursive, std::uint64_t set, std::uint64_t clear);

// Attaches the detached tree `tree_fd` on top of `target_fd`.
void attach_mount(int tree_fd, int target_fd);

// Makes `new_root` the root of the mount namespace and detaches the old root entirely.
void pivot_into(const std::string& new_root);

// pivot_root(2): `new_root` becomes the root, the old root is moved to `put_old` (beneath it).
void pivot_root(const std::string& new_root, const std::string& put_old);

}  // namespace fence::platform
