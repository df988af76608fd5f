// allowWrite entries that did not exist when the sandbox was built (LaunchSpec::creatable):
// the command may create each one, at exactly its path, and then write beneath it. fence itself
// creates nothing on the host: `allowWrite: ["~/.npm"]` on a fresh machine lets npm's own
// `mkdir ~/.npm` succeed, and nothing else in `~` becomes writable.
//
// How. The launcher holds, for each entry P, a read-write clone of the host's mount at the
// nearest directory A that exists (root_filesystem.cpp), detached: nothing in the sandbox can
// reach it. In the sandbox, A and everything between A and P stay read-only. When the command
// makes a name on the way (mkdir of a missing directory between A and P, or of P itself; or an
// open(O_CREAT) of P itself as a regular file), init performs that one creation through the
// clone, on the creator thread. Once P exists it is bound read-write at its place, and every
// later operation beneath it is performed on the writer thread, whose Landlock domain is the
// command's plus P (Landlock rules name inodes, which did not exist when the command's domain
// was made; the command itself keeps no write right there). That is why a creatable entry
// makes every write go through init (filesystem_guard.hpp): the writer thread performs them.
//
// Trust: the paths compared here are init's own resolutions of the caller's arguments; the
// entries are the supervisor's. The creator thread only ever runs mkdirat/openat(O_EXCL) of a
// name chosen here, beneath A of a clone; its Landlock domain is the command's plus A.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "launcher/notify/restricted_thread.hpp"
#include "platform/landlock.hpp"
#include "platform/unique_fd.hpp"

namespace fence::launcher {

struct CreatableRoot {
  std::string path;         // P: the allowWrite entry
  std::string ancestor;     // A: the nearest directory that existed (same inode inside)
  platform::UniqueFd tree;  // a detached read-write clone of the host's mount, rooted at A
  bool made = false;        // P exists and is bound read-write at its place
};

class CreatableRoots {
 public:
  CreatableRoots(std::vector<CreatableRoot> roots, platform::LandlockPolicy command_policy);
  ~CreatableRoots();
  CreatableRoots(const CreatableRoots&) = delete;
  CreatableRoots& operator=(const CreatableRoots&) = delete;

  // The root whose way `path` is on: P itself, or a directory strictly between A and P, while
  // P is not made yet. nullptr otherwise.
  CreatableRoot* on_the_way(std::string_view path);

  // Makes `path` (on `root`'s way) through the clone: a directory, or (at P only) an empty
  // regular file. P takes the caller's `mode` less its `umask`, directories on the way 0755
  // less it; neither is ever group- or world-writable or setuid, and the owner keeps rwx
  // (rw for a file). When P itself was made, binds it read-write in place. Returns 0 or the
  // errno for the caller.
  int make(CreatableRoot& root, const std::string& path, bool directory, mode_t mode, mode_t umask);

  // Whether some P has been made (only then does any operation need the writer thread).
  bool any_made() const { return writer_ != nullptr; }

  // The writer thread when `path` lies in a made P; nullptr otherwise.
  RestrictedThread* writer_for(std::string_view path) const;

 private:
  RestrictedThread& creator();
  void bind_in_place(const CreatableRoot& root, const struct stat& made);

  std::vector<CreatableRoot> roots_;
  platform::LandlockPolicy policy_;  // the command's (no held files)
  std::unique_ptr<RestrictedThread> creator_;
  std::unique_ptr<RestrictedThread> writer_;
};

}  // namespace fence::launcher
