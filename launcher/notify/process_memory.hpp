// Reading a notified process: its memory (the syscall's string and array arguments), its name,
// umask and thread group, as init sees them in /proc. Everything read here comes from the
// sandbox and is only used as data: bounded, never trusted.
//
// Trust: HOSTILE. The process is a sandboxed one, the caller of a notified syscall (pid from
// the notification, notifier.hpp); what it wrote in its memory (paths, argv, socket addresses,
// xattr values) and its /proc files (comm) are its own choice. The readers are the filesystem
// guard, the connect guard and the exec check; argv read here travels to the supervisor in
// ExecCheck and is parsed there by the command policy.
//
// SECURITY: a process's memory can change under the reader (another thread of it may write it
// at any time). Callers either act only on their own copy (the filesystem guard performs the
// operation from the path it read) or say plainly that the check is best effort (exec checks).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "platform/unique_fd.hpp"

namespace fence::launcher {

// A notified process's memory, for reading. Through /proc/PID/mem when init may open it; a
// process that made itself non-dumpable (ssh, gpg-agent, ssh-agent do) has a /proc/PID/mem
// owned by a root that the sandbox's user namespace does not map, so init reads it with
// process_vm_readv instead, which needs only the ptrace access init has.
//
// SECURITY: open() is followed by the caller's check that the notification is still valid
// (the process behind the pid is the caller). The /proc file pins that process's memory; the
// process_vm_readv path names it by pid, so each read is confirmed afterwards through a pidfd
// opened with it: a read that may have reached a later process with the same pid fails.
class ProcessMemory {
 public:
  ProcessMemory() = default;
  // `pid`: the notified thread (init's pid namespace).
  static ProcessMemory open(pid_t pid);

  bool valid() const { return file_.valid() || pidfd_.valid(); }

  // Reads up to `len` bytes at `addr` (pread semantics: short at the end of a mapping).
  // Returns -1 when nothing is readable there or the process is gone.
  ssize_t read(void* buf, std::size_t len, std::uint64_t addr) const;

 private:
  platform::UniqueFd file_;   // /proc/PID/mem
  platform::UniqueFd pidfd_;  // else: the process, for process_vm_readv
  pid_t pid_ = -1;
};

// A NUL-terminated string at `addr`, read page by page (a string ending just before an unmapped
// page still reads). nullopt with error = EFAULT when unreadable, ENAMETOOLONG when no NUL
// comes within `max_len` bytes.
std::optional<std::string> read_string(const ProcessMemory& mem, std::uint64_t addr,
                                       std::size_t max_len, int& error);

// A NULL-terminated array of 64-bit pointers at `addr` (an argv). At most `max_count` entries;
// `cut` is set when the array is longer. nullopt when unreadable.
std::optional<std::vector<std::uint64_t>> read_pointer_array(const ProcessMemory& mem,
                                                             std::uint64_t addr,
                                                             std::size_t max_count, bool& cut);

// The process's name from /proc/PID/comm (without the newline), "?" when unreadable.
std::string read_comm(pid_t pid);

// The process's umask from /proc/PID/status (022 when unreadable).
mode_t read_umask(pid_t pid);

}  // namespace fence::launcher
