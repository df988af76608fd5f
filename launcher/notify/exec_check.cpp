#include "launcher/notify/exec_check.hpp"

#include <fcntl.h>
#include <seccomp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "launcher/notify/path_resolver.hpp"
#include "launcher/notify/process_memory.hpp"

namespace fence::launcher {
namespace {

// execveat(fd, "", argv, envp, AT_EMPTY_PATH) runs the file behind fd: name it for the reader.
std::string describe_fd(pid_t pid, int fd) {
  char buf[4096];
  const std::string link = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(link.c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : link;
}

// ENOENT or ENOTDIR when the file to run does not exist as the caller would look it up, else 0.
// Shells try every PATH directory in turn: those attempts fail in the kernel anyway, so they are
// answered here instead of asking (and reporting) each one. Refusing is always safe; a file that
// appears a moment later is a race the caller would lose in the kernel too.
int missing_target(const seccomp_notif& req, const std::string& path) {
  const bool at = req.data.nr == SCMP_SYS(execveat);
  if (at && path.empty() && (static_cast<int>(req.data.args[4]) & AT_EMPTY_PATH)) return 0;
  const PathResolver resolver(static_cast<pid_t>(req.pid));
  int error = 0;
  std::optional<platform::UniqueFd> base = platform::UniqueFd();
  if (path.empty() || path[0] != '/')
    base = resolver.base(at ? static_cast<int>(req.data.args[0]) : AT_FDCWD, error);
  if (!base) return 0;
  auto loc = resolver.resolve(*base, path, true, error);
  if (!loc) return error == ENOENT || error == ENOTDIR ? error : 0;
  if (loc->object) return 0;
  struct stat st {};
  if (::fstatat(loc->parent.get(), loc->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    return errno == ENOENT || errno == ENOTDIR ? errno : 0;
  return 0;
}

}  // namespace

std::variant<ipc::ExecCheck, int> read_exec_check(const seccomp_notif& req,
                                                  const ProcessMemory& mem,
                                                  const std::string& comm) {
  const bool at = req.data.nr == SCMP_SYS(execveat);
  const auto& args = req.data.args;
  const std::uint64_t path_addr = args[at ? 1 : 0];
  const std::uint64_t argv_addr = args[at ? 2 : 1];

  ipc::ExecCheck check;
  check.pid = req.pid;
  check.comm = comm.substr(0, 16);
  int error = EFAULT;
  auto path = read_string(mem, path_addr, ipc::kMaxPathLen, error);
  if (!path) return error;
  if (const int missing = missing_target(req, *path)) return missing;
  check.path = std::move(*path);
  if (at && check.path.empty() && (static_cast<int>(args[4]) & AT_EMPTY_PATH))
    check.path = describe_fd(static_cast<pid_t>(req.pid), static_cast<int>(args[0]))
                     .substr(0, ipc::kMaxPathLen);

  // argv NULL is an empty argv (the kernel then passes a single "").
  // SECURITY: the whole argv or nothing: a rule word after the part read would otherwise go
  // unseen. What no execve can carry (a string over MAX_ARG_STRLEN, more than ARG_MAX in all)
  // is answered E2BIG, as the kernel itself would.
  if (argv_addr != 0) {
    bool too_many = false;
    auto pointers = read_pointer_array(mem, argv_addr, ipc::kMaxArgCount, too_many);
    if (!pointers) return EFAULT;
    if (too_many) return E2BIG;
    std::size_t total = 0;
    for (std::uint64_t p : *pointers) {
      auto arg = read_string(mem, p, ipc::kMaxArgLen, error);
      if (!arg) return error == ENAMETOOLONG ? E2BIG : error;
      total += arg->size() + 1 + sizeof(std::uint64_t);  // as the kernel counts it
      if (total > ipc::kMaxArgBytes) return E2BIG;
      check.argv.push_back(std::move(*arg));
    }
  }
  return check;
}

}  // namespace fence::launcher
