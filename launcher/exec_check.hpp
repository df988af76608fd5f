// The runtime command policy's view of one execve/execveat: what init reads from the calling
// process's memory to ask the supervisor about (ipc::ExecCheck).
//
// SECURITY (best effort, by design): the kernel reads path and argv again when it runs the
// exec after init's answer (SECCOMP_USER_NOTIF_FLAG_CONTINUE). A multi-threaded process can
// rewrite its argv between init's read and the kernel's, so this check stops commands that a
// program runs the ordinary way (scripts, shells, build tools), not a process that races
// against it on purpose. The filesystem, network and syscall walls do not depend on it.
#pragma once

#include <linux/seccomp.h>

#include <cstddef>
#include <string>
#include <variant>

#include "ipc/protocol.hpp"
#include "launcher/process_memory.hpp"

namespace fence::launcher {

// What one ExecCheck may hold, so that it stays well under ipc::kMaxPayload: path, comm and
// fixed fields take the rest. Every argv element costs its bytes plus its 4-byte length tag.
inline constexpr std::size_t kExecCheckBudget = 60 * 1024;
inline constexpr std::size_t kWireTagBytes = 4;

// Reads the path and argv of the execve/execveat in `req` from `mem` (the caller's
// /proc/PID/mem). Returns the check to send (id left 0), or the errno to answer at once, where
// the kernel would fail the same way: the arguments cannot be read (EFAULT, ENAMETOOLONG), or
// the file does not exist as the caller would resolve it (ENOENT, ENOTDIR: a shell trying each
// PATH directory is not asked about, nor reported, once per directory).
// argv is bounded by kMaxArgCount elements of at most kMaxArgLen bytes and kExecCheckBudget
// in all; `truncated` is set when anything was cut (fit_argv: every element keeps a prefix).
std::variant<ipc::ExecCheck, int> read_exec_check(const seccomp_notif& req, const ProcessMemory& mem,
                                                  const std::string& comm);

}  // namespace fence::launcher
