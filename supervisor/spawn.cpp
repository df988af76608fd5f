#include "supervisor/spawn.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>

#include <boost/process.hpp>
#include <boost/process/extend.hpp>

#include "platform/process.hpp"
#include "platform/sys_error.hpp"

namespace fence::supervisor {
namespace {

namespace bp = boost::process;

// Boost.Process initializer: in the child, between fork and exec, put the channel end at fd 3
// and mark every other fd above stderr close-on-exec (not closed, so Boost's own error pipe
// still reports a failed exec while nothing else survives into the helper).
class InheritChannelOnly : public bp::extend::handler {
 public:
  explicit InheritChannelOnly(int fd) : fd_(fd) {}
  template <typename Executor>
  void on_exec_setup(Executor& exec) const {
    if (fd_ != ipc::kChannelFd && ::dup2(fd_, ipc::kChannelFd) < 0) {
      exec.set_error(std::error_code(errno, std::system_category()), "dup2 channel");
      return;
    }
    // dup2 cleared CLOEXEC on fd 3; when fd_ already was 3 clear it by hand.
    if (fd_ == ipc::kChannelFd) ::fcntl(ipc::kChannelFd, F_SETFD, 0);
    if (!platform::mark_cloexec_from(ipc::kChannelFd + 1))
      exec.set_error(std::error_code(errno, std::system_category()), "close_range");
  }

 private:
  int fd_;
};

}  // namespace

pid_t spawn_helper(const std::string& executable, int channel_fd, std::error_code& error) {
  // SECURITY: a helper gets no handle on fence's standard streams (a CI log, a terminal): the
  // worker parses hostile bytes, and the launcher is given the command's streams as fds of
  // its LaunchSpec instead. Their diagnostics come back as messages fence checks.
  bp::child child(bp::exe = executable, bp::env = bp::environment{},
                  bp::std_in<bp::null, bp::std_out> bp::null, bp::std_err > bp::null,
                  InheritChannelOnly(channel_fd), error);
  if (error) return -1;
  const pid_t pid = child.id();
  child.detach();  // reaped by the caller (waitpid)
  return pid;
}

std::string find_helper(const std::string& name) {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw platform::SysError("readlink /proc/self/exe", ec.value());
  const auto dir = self.parent_path();
  for (const auto& candidate : {dir / name, dir / ".." / "libexec" / "fence" / name}) {
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.lexically_normal().string();
  }
  throw std::runtime_error("cannot find " + name + " next to " + self.string() +
                           " or in ../libexec/fence");
}

}  // namespace fence::supervisor
