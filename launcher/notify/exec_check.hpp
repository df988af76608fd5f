// The runtime command policy's view of one execve/execveat: what init reads from the calling
// process's memory to ask the supervisor about (ipc::ExecCheck).
//
// Trust: path and argv are read from the sandboxed caller's memory (the notification comes from
// the notifier): HOSTILE text, bounded here as the kernel bounds execve's, and sent whole to the
// supervisor, whose command policy parses it (a shell reader for `sh -c TEXT`).
//
// SECURITY (best effort, by design): the kernel reads path and argv again when it runs the
// exec after init's answer (SECCOMP_USER_NOTIF_FLAG_CONTINUE). A multi-threaded process can
// rewrite its argv between init's read and the kernel's, so this check stops commands that a
// program runs the ordinary way (scripts, shells, build tools), not a process that races
// against it on purpose. The filesystem, network and syscall walls do not depend on it.
#pragma once

#include <linux/seccomp.h>

#include <string>
#include <variant>

#include "ipc/protocol.hpp"
#include "launcher/notify/process_memory.hpp"

namespace fence::launcher {

// Reads the path and argv of the execve/execveat in `req` from `mem` (the caller's
// /proc/PID/mem). Returns the check to send (id left 0), or the errno to answer at once, where
// the kernel would fail the same way: the arguments cannot be read (EFAULT, ENAMETOOLONG for
// the path), an argv no execve can carry (E2BIG: a string over ipc::kMaxArgLen bytes, or more
// than ipc::kMaxArgBytes in all, counted as the kernel counts them), or the file does not
// exist as the caller would resolve it (ENOENT, ENOTDIR: a shell trying each PATH directory
// is not asked about, nor reported, once per directory). argv is always read whole: an
// ExecCheck is a large message (ipc/protocol.hpp) and carries all of it.
std::variant<ipc::ExecCheck, int> read_exec_check(const seccomp_notif& req,
                                                  const ProcessMemory& mem,
                                                  const std::string& comm);

}  // namespace fence::launcher
