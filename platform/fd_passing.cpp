#include "platform/fd_passing.hpp"

#include <sys/socket.h>

#include <cstring>
#include <stdexcept>

#include "platform/sys_error.hpp"

namespace fence::platform {
namespace {

struct OneFdMessage {
  char byte = 'F';
  struct iovec iov {};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  struct msghdr msg {};
  OneFdMessage() {
    iov = {&byte, 1};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
  }
};

}  // namespace

ssize_t send_with_fds(int socket, std::span<const std::byte> bytes, std::span<const int> fds) {
  if (fds.size() > kMaxFdsPerDatagram) throw std::invalid_argument("send_with_fds: too many fds");
  iovec iov{const_cast<std::byte*>(bytes.data()), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerDatagram)] = {};
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  return retry_eintr([&] { return ::sendmsg(socket, &msg, MSG_NOSIGNAL); });
}

void send_fd(int socket, int fd) {
  const std::byte marker{'F'};
  if (send_with_fds(socket, std::span(&marker, 1), std::span(&fd, 1)) != 1)
    throw SysError("sendmsg(SCM_RIGHTS)");
}

UniqueFd receive_fd(int socket) {
  OneFdMessage m;
  const ssize_t n = retry_eintr([&] { return ::recvmsg(socket, &m.msg, MSG_CMSG_CLOEXEC); });
  struct cmsghdr* cmsg = n == 1 ? CMSG_FIRSTHDR(&m.msg) : nullptr;
  if (!cmsg || cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS ||
      cmsg->cmsg_len != CMSG_LEN(sizeof(int)) || (m.msg.msg_flags & MSG_CTRUNC))
    return UniqueFd();
  int fd = -1;
  std::memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
  return UniqueFd(fd);
}

}  // namespace fence::platform
