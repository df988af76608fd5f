#include "platform/namespaces.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "platform/sys_error.hpp"
#include "platform/unique_fd.hpp"

namespace fence::platform {
namespace {

void write_file(const std::string& path, const std::string& content) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) throw SysError("open " + path);
  ssize_t n = retry_eintr([&] { return ::write(fd.get(), content.data(), content.size()); });
  if (n < 0) throw SysError("write " + path);
  if (static_cast<size_t>(n) != content.size()) throw SysError("short write " + path, EIO);
}

}  // namespace

void enter_user_namespace(uid_t uid, gid_t gid) {
  if (::unshare(CLONE_NEWUSER) != 0) throw SysError("unshare(CLONE_NEWUSER)");
  // A non-dumpable process's /proc/self files belong to root, so an unprivileged launcher could
  // not write its own maps. Dumpable only for these three writes: no sandboxed code exists yet.
  const int was_dumpable = ::prctl(PR_GET_DUMPABLE);
  if (was_dumpable == 0 && ::prctl(PR_SET_DUMPABLE, 1) != 0) throw SysError("prctl(PR_SET_DUMPABLE)");
  // Why "deny": an unprivileged process may only write gid_map after giving up setgroups(2),
  // which also stops the sandbox from dropping supplementary groups to bypass "deny" ACLs.
  write_file("/proc/self/setgroups", "deny");
  write_file("/proc/self/uid_map", std::to_string(uid) + " " + std::to_string(uid) + " 1\n");
  write_file("/proc/self/gid_map", std::to_string(gid) + " " + std::to_string(gid) + " 1\n");
  if (was_dumpable == 0 && ::prctl(PR_SET_DUMPABLE, 0) != 0) throw SysError("prctl(PR_SET_DUMPABLE)");
}

void enter_sandbox_namespaces() {
  const int flags =
      CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;
  if (::unshare(flags) != 0) throw SysError("unshare(mount|pid|net|ipc|uts|cgroup)");
}

void bring_up_loopback() {
  UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) throw SysError("socket for loopback setup");
  struct ifreq req {};
  std::strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(sock.get(), SIOCGIFFLAGS, &req) != 0) throw SysError("SIOCGIFFLAGS lo");
  req.ifr_flags = static_cast<short>(req.ifr_flags | IFF_UP | IFF_RUNNING);
  if (::ioctl(sock.get(), SIOCSIFFLAGS, &req) != 0) throw SysError("SIOCSIFFLAGS lo");
}

void write_sysctl(const std::string& path, const std::string& value) { write_file(path, value); }

}  // namespace fence::platform
