#include "platform/fd_passing.hpp"

#include <sys/socket.h>

#include <cstring>

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

void send_fd(int socket, int fd) {
  OneFdMessage m;
  struct cmsghdr* cmsg = CMSG_FIRSTHDR(&m.msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  if (retry_eintr([&] { return ::sendmsg(socket, &m.msg, MSG_NOSIGNAL); }) != 1)
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
