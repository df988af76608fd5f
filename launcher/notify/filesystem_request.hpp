// One notified filesystem syscall, decided and performed by init for the filesystem guard
// (filesystem_guard.hpp says how). Internal to launcher/notify/: filesystem_request.cpp reads the
// arguments and locates and judges the names; filesystem_operations.cpp has one member per
// family of syscalls.
//
// Trust: every argument is the sandboxed caller's (registers in the notification, strings and
// structures copied once out of its memory): hostile. Nothing is acted on but init's own copies
// and the directories it resolved itself.
#pragma once

#include <fcntl.h>
#include <linux/seccomp.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "launcher/notify/filesystem_guard.hpp"
#include "launcher/notify/path_resolver.hpp"

namespace fence::launcher {

inline NotifyAnswer error_answer(int error) {
  NotifyAnswer a;
  a.error = error;
  return a;
}

// Strips a trailing "/" kept by the resolver from a name, for guard comparisons.
inline std::string bare(const std::string& name) {
  return !name.empty() && name.back() == '/' ? name.substr(0, name.size() - 1) : name;
}

// The path by which the restricted thread reopens init's fd `fd` (its /proc/self is init).
inline std::string self_fd(int fd) {
  return "/proc/self/fd/" + std::to_string(fd);
}

// One notification: its arguments as the process passed them, decided and answered here.
// Only what the decision needs is read from /proc (umask for creations; name and paths for
// reports, after the fact): every notified write pays for these reads.
class FilesystemRequest {
 public:
  FilesystemRequest(const seccomp_notif& req, const ProcessMemory& mem, const GuardedNames& names,
                    const ProtectedNames& protected_names, RestrictedThread& restricted,
                    CreatableRoots* creatable)
      : req_(req),
        args_(req.data.args),
        names_(names),
        protected_(protected_names),
        restricted_(restricted),
        creatable_(creatable),
        pid_(static_cast<pid_t>(req.pid)),
        resolver_(pid_),
        mem_(mem) {}

  FilesystemOutcome decide();

  // What a report says: set once the operation's target is known ("" before).
  const char* operation() const { return operation_; }
  // The target's path now ("OLD -> NEW" for a rename).
  std::string path() const {
    if (!target_) return {};
    return source_ ? source_->full_path() + " -> " + target_->full_path() : target_->full_path();
  }
  bool removal() const { return removal_; }

 private:
  static constexpr std::uint64_t kCwd = static_cast<std::uint64_t>(AT_FDCWD);

  void refuse(int error) { outcome_.answer = error_answer(error); }

  // Arguments, names and verdicts (filesystem_request.cpp).
  std::optional<std::string> string_arg(std::uint64_t addr);
  std::optional<platform::UniqueFd> dir_arg(std::uint64_t value);
  std::optional<Location> locate(std::uint64_t dir, std::uint64_t path_addr, bool follow);
  bool locate_target(std::uint64_t dir, std::uint64_t path_addr, bool follow);
  bool guarded(const Location& loc, bool ancestors_too) const;
  NameVerdict verdict(const Location& loc) const;
  std::string place(const Location& loc) const;
  bool make_on_the_way(const Location& loc, bool directory, mode_t mode);
  RestrictedThread& thread_for_operation() const;
  std::int64_t perform(const std::function<std::int64_t()>& op, bool creates = false);

  // The operations (filesystem_operations.cpp).
  void open_file(int nr);
  void park(const Location& loc, int flags);
  void make_node(bool at, bool directory);
  void make_symlink(bool at);
  void make_link(bool at);
  void rename(bool at, bool with_flags);
  void remove(bool at, std::uint64_t path_addr, int flags);
  void truncate_file();
  void change_mode(std::uint64_t dir, std::uint64_t path_addr, std::uint64_t mode_arg,
                   std::uint64_t flags_arg);
  void change_fd_mode();
  void change_xattr(bool by_path, bool follow, bool set);
  void bind_socket();

  const seccomp_notif& req_;
  const decltype(seccomp_notif::data.args)& args_;
  const GuardedNames& names_;
  const ProtectedNames& protected_;
  RestrictedThread& restricted_;
  CreatableRoots* creatable_;  // nullptr without creatable allowWrite entries
  pid_t pid_;
  PathResolver resolver_;
  const ProcessMemory& mem_;
  FilesystemOutcome outcome_;
  std::optional<Location> target_;  // what the operation creates, writes or removes
  std::optional<Location> source_;  // rename: the old name
  const char* operation_ = "";
  bool removal_ = false;
};

}  // namespace fence::launcher
