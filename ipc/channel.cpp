#include "ipc/channel.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "platform/fd_passing.hpp"
#include "platform/sealed_memfd.hpp"
#include "platform/sys_error.hpp"

namespace fence::ipc {

namespace {

using platform::SysError;
using platform::UniqueFd;

constexpr std::size_t kControlSize = CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage);

// Control-message buffer, aligned for cmsghdr.
union ControlBuffer {
  cmsghdr align;
  char bytes[kControlSize];
};

struct ReceivedFds {
  std::vector<UniqueFd> fds;
  bool foreign_cmsg = false;  // a control message other than SCM_RIGHTS
};

// SECURITY: called right after recvmsg, before any check, so that every fd the kernel
// installed in this process is owned and closed on every path that rejects the message.
ReceivedFds take_fds(msghdr& msg) {
  ReceivedFds out;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
      out.foreign_cmsg = true;
      continue;
    }
    const std::size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const unsigned char* data = CMSG_DATA(c);
    for (std::size_t i = 0; i < n; ++i) {
      int fd = -1;
      std::memcpy(&fd, data + i * sizeof(int), sizeof(int));
      out.fds.emplace_back(fd);
    }
  }
  return out;
}

}  // namespace

std::pair<UniqueFd, UniqueFd> make_channel_pair() {
  int sv[2] = {-1, -1};
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    throw SysError("socketpair(AF_UNIX, SOCK_SEQPACKET)");
  }
  return {UniqueFd(sv[0]), UniqueFd(sv[1])};
}

Channel::Channel(UniqueFd sock, Role self, Role peer)
    : sock_(std::move(sock)),
      self_(self),
      peer_(peer),
      inbound_(peer, self),
      outbound_(self, peer),
      buf_(kMaxFrameSize) {}

void Channel::send_hello() {
  send(Hello{kProtocolVersion, self_});
}

void Channel::send_frame(MessageType type, std::span<const std::byte> payload,
                         std::span<const int> message_fds) {
  // A payload over a datagram's size (large messages only: encode_payload's limit said so)
  // travels in a sealed memfd, attached after the message's own fds.
  std::vector<int> with_payload;
  platform::UniqueFd payload_fd;
  std::span<const int> fds = message_fds;
  std::vector<std::byte> frame;
  if (payload.size() > kMaxPayload) {
    payload_fd = platform::make_sealed_memfd("fence-ipc", payload);
    with_payload.assign(message_fds.begin(), message_fds.end());
    with_payload.push_back(payload_fd.get());
    fds = with_payload;
    frame = encode_frame_header_only(type, payload.size(), fds.size());
  } else {
    frame = encode_frame(type, payload, fds.size());
  }
  const ssize_t n = platform::send_with_fds(sock_.get(), frame, fds);
  if (n < 0) throw SysError("sendmsg(" + std::string(message_name(type)) + ")");
  // SEQPACKET sends are atomic; anything else would desynchronize the peer.
  if (static_cast<std::size_t>(n) != frame.size()) throw SysError("sendmsg: short write", EIO);
}

void Channel::fail(const std::string& why) {
  broken_ = true;
  throw ProtocolError("ipc: from " + std::string(role_name(peer_)) + ": " + why);
}

std::optional<Incoming> Channel::receive() {
  ReceiveResult r = try_receive();
  if (r.status == ReceiveStatus::WouldBlock) throw SysError("recvmsg", EAGAIN);
  return std::move(r.message);
}

ReceiveResult Channel::try_receive() {
  if (broken_) throw ProtocolError("ipc: channel already failed a protocol check");
  try {
    return receive_checked();
  } catch (const ProtocolError&) {
    broken_ = true;  // also for ProtocolError from Incoming::decode<Hello>
    throw;
  }
}

ReceiveResult Channel::receive_checked() {
  iovec iov{buf_.data(), buf_.size()};
  ControlBuffer control{};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.bytes;
  msg.msg_controllen = sizeof(control.bytes);
  ssize_t n = platform::retry_eintr([&] { return ::recvmsg(sock_.get(), &msg, MSG_CMSG_CLOEXEC); });
  // ECONNRESET means only that the peer closed while our last message to it was unread; the
  // kernel reports it once (and clears it) before the peer's own messages, which are still
  // queued: e.g. a launcher's SetupFailed sent before it exited.
  if (n < 0 && errno == ECONNRESET)
    n = platform::retry_eintr([&] { return ::recvmsg(sock_.get(), &msg, MSG_CMSG_CLOEXEC); });
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return {ReceiveStatus::WouldBlock, std::nullopt};
    throw SysError("recvmsg");
  }
  // From here on, every return or throw closes the fds unless they move into an Incoming.
  ReceivedFds received = take_fds(msg);

  // SECURITY: a truncated datagram or fd list is never interpreted, not even partially.
  if ((msg.msg_flags & MSG_TRUNC) != 0)
    fail("datagram larger than " + std::to_string(kMaxFrameSize));
  if ((msg.msg_flags & MSG_CTRUNC) != 0)
    fail("more than " + std::to_string(kMaxFdsPerMessage) + " fds");
  if (received.foreign_cmsg) fail("control message other than SCM_RIGHTS");
  if (n == 0) {
    // Orderly shutdown (or an empty datagram, which no fence sender produces): the end.
    if (!received.fds.empty()) fail("fds without a message");
    return {ReceiveStatus::Closed, std::nullopt};
  }

  const std::span<const std::byte> datagram(buf_.data(), static_cast<std::size_t>(n));
  const DecodedFrame frame = decode_frame(datagram, received.fds.size());
  if (!frame.ok()) fail(std::string(describe(frame.error)));
  std::vector<std::byte> payload;
  if (frame.payload_in_fd) {
    // SECURITY: only a type the table calls large may come this way, and its memfd must be
    // sealed and of the announced size; it is copied out before anything decodes it.
    if (!is_large_type(frame.type))
      fail(std::string(message_name(frame.type)) + ": payload in a memfd, but it is not large");
    const platform::UniqueFd payload_fd = std::move(received.fds.back());
    received.fds.pop_back();
    std::string why;
    auto bytes = platform::read_sealed_memfd(payload_fd.get(), frame.payload_len, &why);
    if (!bytes) fail(std::string(message_name(frame.type)) + ": " + why);
    payload = std::move(*bytes);
  } else {
    payload.assign(frame.payload.begin(), frame.payload.end());
  }
  try {
    inbound_.on_receive(frame.type, received.fds.size());
  } catch (const ProtocolError& e) {
    fail(e.what());
  }

  Incoming in{frame.type, std::move(payload), std::move(received.fds)};
  if (in.type == MessageType::Hello) {
    Hello hello{};
    try {
      hello = in.decode<Hello>();
    } catch (const ProtocolError& e) {
      fail(e.what());
    }
    // SECURITY: the channel fixes who the peer is; a Hello claiming another role is a lie.
    if (hello.role != peer_) {
      fail("Hello claims role " + std::string(role_name(hello.role)) + " on a channel to the " +
           std::string(role_name(peer_)));
    }
  }
  return {ReceiveStatus::Message, std::move(in)};
}

}  // namespace fence::ipc
