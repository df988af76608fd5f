#include "launcher/notify/creatable_roots.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "ipc/grammar.hpp"
#include "platform/mounts.hpp"
#include "platform/sys_error.hpp"

namespace fence::launcher {
namespace {

using platform::UniqueFd;

// `path` relative to `dir` (which holds it): "a/b" for "/h/a/b" beneath "/h".
std::string relative_to(const std::string& path, const std::string& dir) {
  return dir == "/" ? path.substr(1) : path.substr(dir.size() + 1);
}

int error_of(const std::exception& e) {
  if (const auto* sys = dynamic_cast<const platform::SysError*>(&e))
    return sys->error_code() != 0 ? sys->error_code() : EPERM;
  return EPERM;
}

}  // namespace

CreatableRoots::CreatableRoots(std::vector<CreatableRoot> roots,
                               platform::LandlockPolicy command_policy)
    : roots_(std::move(roots)), policy_(std::move(command_policy)) {
  policy_.held_files.clear();
}

CreatableRoots::~CreatableRoots() = default;

CreatableRoot* CreatableRoots::on_the_way(std::string_view path) {
  for (CreatableRoot& root : roots_) {
    if (root.made) continue;
    if (path == root.path) return &root;
    if (ipc::is_within(root.path, path) && path != root.ancestor &&
        ipc::is_within(path, root.ancestor))
      return &root;
  }
  return nullptr;
}

RestrictedThread* CreatableRoots::writer_for(std::string_view path) const {
  if (!writer_) return nullptr;
  for (const CreatableRoot& root : roots_)
    if (root.made && ipc::is_within(path, root.path)) return writer_.get();
  return nullptr;
}

// Started when first needed: the command's domain plus write rights beneath every A. It only
// ever runs the one creation make() chose, through a clone no process in the sandbox holds.
RestrictedThread& CreatableRoots::creator() {
  if (!creator_) {
    platform::LandlockPolicy policy = policy_;
    for (const CreatableRoot& root : roots_)
      policy.paths.emplace_back(root.ancestor, platform::PathAccess::Write);
    creator_ = std::make_unique<RestrictedThread>(policy);
  }
  return *creator_;
}

int CreatableRoots::make(CreatableRoot& root, const std::string& path, bool directory, mode_t mode,
                         mode_t umask) {
  const std::string rel = relative_to(path, root.ancestor);
  const std::size_t slash = rel.rfind('/');
  const std::string dir = slash == std::string::npos ? "" : rel.substr(0, slash);
  const std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
  int error = 0;
  // SECURITY: these are host directories and files the command chose to make; none may come
  // out group- or world-writable (another local user could then plant a ~/.config/autostart
  // entry) or setuid, nor unusable by the user: the caller's bits, without those, and the
  // owner's own rights always. Directories on the way get 0755 less the same.
  const mode_t keep = static_cast<mode_t>(~(umask | 022));
  const bool is_p = path == root.path;
  const mode_t made_mode =
      directory ? ((is_p ? (mode & 0777) : 0755) & keep) | 0700 : ((mode & 0666) & keep) | 0600;
  struct stat made {};
  try {
    creator().run([&] {
      ::umask(0);
      try {
        // Beneath A in the clone, no symlink followed (the directories on the way were made
        // here, but the host may change them meanwhile).
        UniqueFd parent = dir.empty() ? UniqueFd(::fcntl(root.tree.get(), F_DUPFD_CLOEXEC, 0))
                                      : platform::open_beneath(root.tree.get(), "/" + dir,
                                                               O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (!parent) throw platform::SysError("dup");
        if (directory) {
          if (::mkdirat(parent.get(), name.c_str(), made_mode) != 0) error = errno;
        } else {
          UniqueFd file(::openat(parent.get(), name.c_str(),
                                 O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, made_mode));
          if (!file) error = errno;
        }
        // What was made, so that the bind below takes exactly it.
        if (error == 0 && ::fstatat(parent.get(), name.c_str(), &made, AT_SYMLINK_NOFOLLOW) != 0)
          error = errno;
      } catch (const std::exception& e) {
        error = error_of(e);
      }
    });
  } catch (const std::exception& e) {
    return error_of(e);  // the creator thread could not be restricted: nothing was made
  }
  if (error != 0 || !is_p) return error;
  try {
    bind_in_place(root, made);
  } catch (const std::exception& e) {
    return error_of(e);  // P exists but stays read-only inside, like A
  }
  root.made = true;
  try {
    // A new writer: Landlock domains cannot grow, and P's inode is new.
    platform::LandlockPolicy policy = policy_;
    for (const CreatableRoot& r : roots_)
      if (r.made) policy.paths.emplace_back(r.path, platform::PathAccess::Write);
    auto writer = std::make_unique<RestrictedThread>(policy);
    writer_ = std::move(writer);
  } catch (const std::exception& e) {
    // Fail closed: operations beneath P stay on a thread without rights there.
    return error_of(e);
  }
  return 0;
}

// P, as the sandbox sees it (read-only, like A), bound over itself read-write. Init's main
// thread does this (it holds the sandbox's mount capabilities); no symlink is followed.
void CreatableRoots::bind_in_place(const CreatableRoot& root, const struct stat& made) {
  UniqueFd sandbox_root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!sandbox_root) throw platform::SysError("open /");
  UniqueFd place = platform::open_beneath(sandbox_root.get(), root.path, O_PATH | O_CLOEXEC);
  // The very file or directory the creator made (not one swapped in on the host since).
  struct stat st {};
  if (::fstat(place.get(), &st) != 0) throw platform::SysError("fstat " + root.path);
  if (st.st_dev != made.st_dev || st.st_ino != made.st_ino)
    throw platform::SysError("bind " + root.path + ": replaced since it was made", EBUSY);
  UniqueFd tree = platform::clone_mount(place.get(), false);
  platform::set_mount_attributes(tree.get(), false,
                                 platform::kMountAttrNosuid | platform::kMountAttrNodev,
                                 platform::kMountAttrRdonly);
  platform::attach_mount(tree.get(), place.get());
}

}  // namespace fence::launcher
