#include "platform/unix_diag.hpp"

#include <algorithm>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include "platform/sys_error.hpp"
#include "platform/unique_fd.hpp"

namespace fence::platform {

namespace {

// unix_diag reports the superblock's device in the kernel's internal encoding (major in the
// bits above 20), not in the encoding stat(2) returns.
bool same_device(std::uint32_t kernel_dev, dev_t st_dev) {
  return (kernel_dev >> 20) == major(st_dev) && (kernel_dev & 0xfffffU) == minor(st_dev);
}

void send_dump_request(int fd) {
  struct {
    nlmsghdr header;
    unix_diag_req request;
  } message{};
  message.header.nlmsg_len = sizeof message;
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  message.request.sdiag_family = AF_UNIX;
  message.request.udiag_states = ~0U;  // every state: listening, connected, unconnected
  message.request.udiag_show = UDIAG_SHOW_VFS;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  const ssize_t n = retry_eintr([&] {
    return ::sendto(fd, &message, sizeof message, 0, reinterpret_cast<sockaddr*>(&kernel),
                    sizeof kernel);
  });
  if (n != static_cast<ssize_t>(sizeof message)) throw SysError("unix_diag: send request");
}

// True when the attributes of one unix_diag_msg name the file (dev, ino).
bool message_names(const nlmsghdr* header, dev_t dev, ino_t ino) {
  const auto* msg = static_cast<const unix_diag_msg*>(NLMSG_DATA(header));
  const std::size_t payload = NLMSG_PAYLOAD(header, 0);
  if (payload < NLMSG_ALIGN(sizeof *msg)) return false;
  auto* attr = reinterpret_cast<const rtattr*>(reinterpret_cast<const char*>(msg) +
                                               NLMSG_ALIGN(sizeof *msg));
  int left = static_cast<int>(payload - NLMSG_ALIGN(sizeof *msg));
  for (; RTA_OK(attr, left); attr = RTA_NEXT(attr, left)) {
    if (attr->rta_type != UNIX_DIAG_VFS || RTA_PAYLOAD(attr) < sizeof(unix_diag_vfs)) continue;
    unix_diag_vfs vfs{};
    std::memcpy(&vfs, RTA_DATA(attr), sizeof vfs);
    if (vfs.udiag_vfs_ino == ino && same_device(vfs.udiag_vfs_dev, dev)) return true;
  }
  return false;
}

}  // namespace

bool unix_socket_bound_here(dev_t dev, ino_t ino) {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!fd) throw SysError("unix_diag: socket");
  send_dump_request(fd.get());
  // The whole dump is read even after a match: the reply must not be left half-read on a
  // socket that is about to be closed anyway, and it keeps the code to one path.
  std::vector<char> buffer(32 * 1024);
  bool found = false;
  for (;;) {
    const ssize_t n =
        retry_eintr([&] { return ::recv(fd.get(), buffer.data(), buffer.size(), 0); });
    if (n < 0) throw SysError("unix_diag: receive");
    if (n == 0) throw SysError("unix_diag: receive", EPROTO);
    // NLMSG_OK / NLMSG_NEXT, without their comparison of a signed length to an unsigned one.
    std::size_t left = static_cast<std::size_t>(n);
    for (auto* header = reinterpret_cast<const nlmsghdr*>(buffer.data());
         left >= sizeof(nlmsghdr) && header->nlmsg_len >= sizeof(nlmsghdr) &&
         header->nlmsg_len <= left;
         left -= std::min<std::size_t>(left, NLMSG_ALIGN(header->nlmsg_len)),
                    header = reinterpret_cast<const nlmsghdr*>(
                        reinterpret_cast<const char*>(header) + NLMSG_ALIGN(header->nlmsg_len))) {
      if (header->nlmsg_type == NLMSG_DONE) return found;
      if (header->nlmsg_type == NLMSG_ERROR) {
        const auto* error = static_cast<const nlmsgerr*>(NLMSG_DATA(header));
        throw SysError("unix_diag: dump", error->error < 0 ? -error->error : EPROTO);
      }
      if (header->nlmsg_type == SOCK_DIAG_BY_FAMILY && message_names(header, dev, ino))
        found = true;
    }
  }
}

}  // namespace fence::platform
