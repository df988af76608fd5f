// A message channel between two fence processes: one end of a SOCK_SEQPACKET socketpair, the
// role of this side and the role of the peer. One datagram carries one framed message
// (frame.hpp) and, on message types whose rule says so, SCM_RIGHTS fds.
//
// Trust: everything received is checked in this order, and any failure is a ProtocolError
// that closes every fd that arrived with the datagram and marks the channel broken (every
// later receive() throws ProtocolError again, without reading):
//   1. recvmsg flags: MSG_TRUNC (datagram over kMaxFrameSize) or MSG_CTRUNC (over
//      kMaxFdsPerMessage fds), or a control message other than SCM_RIGHTS;
//   2. frame header (decode_frame), including fd_count == fds received;
//   3. dispatch table for peer -> self (PeerState): type permitted, phase, once, fd count;
//   4. for Hello only, here: decoded, validate()d, and role == the peer role of this channel.
// receive() returns every message, Hello included (already checked; callers may ignore it).
// The payload of any other message is decoded and validate()d by Incoming::decode<Msg>().
//
// What the caller still owns: the order of Running messages relative to each other (e.g.
// ExecFailed only after SandboxReady), and cutting off the peer on ProtocolError (the
// supervisor logs the violation to the audit log and kills the peer).
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <stdexcept>
#include <utility>
#include <vector>

#include "ipc/dispatch.hpp"
#include "ipc/errors.hpp"
#include "ipc/frame.hpp"
#include "ipc/messages.hpp"
#include "ipc/protocol.hpp"
#include "platform/sys_error.hpp"
#include "platform/unique_fd.hpp"

namespace fence::ipc {

// socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC). Throws platform::SysError.
std::pair<platform::UniqueFd, platform::UniqueFd> make_channel_pair();

// One received message whose frame and dispatch rule have been checked.
struct Incoming {
  MessageType type{};
  std::vector<std::byte> payload;
  std::vector<platform::UniqueFd> fds;  // exactly the rule's count, O_CLOEXEC

  // Decodes the payload as Msg. Throws ProtocolError when `type` is not Msg's type, the fd
  // count differs from the rule, the payload does not decode (decode_payload) or validate()
  // rejects it.
  template <typename Msg>
  Msg decode() const;
};

enum class ReceiveStatus { Message, WouldBlock, Closed };

struct ReceiveResult {
  ReceiveStatus status = ReceiveStatus::Closed;
  std::optional<Incoming> message;  // set iff status == Message
};

class Channel {
 public:
  Channel(platform::UniqueFd sock, Role self, Role peer);

  int fd() const { return sock_.get(); }
  Role self() const { return self_; }
  Role peer() const { return peer_; }
  // True after a ProtocolError on receive; the channel must then be discarded.
  bool broken() const { return broken_; }

  // Sends `msg` with `fds` attached (the fds stay owned by the caller). Throws EncodeError if
  // msg fails validate() or its wire bounds, std::logic_error if the dispatch table does not
  // let self send Msg to peer now with that many fds, platform::SysError on I/O failure
  // (EPIPE instead of SIGPIPE when the peer is gone; EAGAIN on a full non-blocking socket).
  template <typename Msg>
  void send(const Msg& msg, std::span<const int> fds = {});

  // Like send(), but a peer that is gone (EPIPE, ECONNRESET) is not an error: returns false.
  // For messages that may cross the peer's exit: what it sent before exiting is still queued
  // here, and receive() delivers it.
  template <typename Msg>
  bool send_unless_gone(const Msg& msg, std::span<const int> fds = {});

  // send(Hello{kProtocolVersion, self}).
  void send_hello();

  // One recvmsg, blocking unless the socket is non-blocking. Returns nullopt on orderly EOF.
  // Throws ProtocolError on any violation (see top of file), platform::SysError on I/O
  // failure, including EAGAIN when the socket is non-blocking and nothing is queued.
  std::optional<Incoming> receive();

  // Same as receive(), but reports EAGAIN as ReceiveStatus::WouldBlock instead of throwing:
  // the entry point for an event loop on a non-blocking socket.
  ReceiveResult try_receive();

 private:
  void send_frame(MessageType type, std::span<const std::byte> payload, std::span<const int> fds);
  ReceiveResult receive_checked();
  [[noreturn]] void fail(const std::string& why);

  platform::UniqueFd sock_;
  Role self_;
  Role peer_;
  PeerState inbound_;   // peer -> self
  PeerState outbound_;  // self -> peer
  bool broken_ = false;
  std::vector<std::byte> buf_;  // kMaxFrameSize bytes, reused by every receive
};

// --- templates ----------------------------------------------------------------------------------

template <typename Msg>
Msg Incoming::decode() const {
  if (type != Msg::kType) {
    throw ProtocolError("expected " + std::string(message_name(Msg::kType)) + ", got " +
                        std::string(message_name(type)));
  }
  const auto want_fds = fds_for_type(type);
  if (!want_fds || *want_fds != fds.size()) {
    throw ProtocolError(std::string(message_name(type)) + ": wrong number of fds");
  }
  Msg msg{};
  try {
    msg = decode_payload<Msg>(payload);
  } catch (const DecodeError& e) {
    throw ProtocolError(e.what());
  }
  if (auto error = validate(msg)) throw ProtocolError(*error);
  return msg;
}

template <typename Msg>
void Channel::send(const Msg& msg, std::span<const int> fds) {
  if (auto error = validate(msg)) throw EncodeError("refusing to send invalid " + *error);
  const std::vector<std::byte> payload = encode_payload(msg, payload_limit(Msg::kType));
  if (auto error = outbound_.admit(Msg::kType, fds.size()))
    throw std::logic_error("ipc send: " + *error);
  send_frame(Msg::kType, payload, fds);
}

template <typename Msg>
bool Channel::send_unless_gone(const Msg& msg, std::span<const int> fds) {
  try {
    send(msg, fds);
    return true;
  } catch (const platform::SysError& e) {
    if (e.error_code() == EPIPE || e.error_code() == ECONNRESET) return false;
    throw;
  }
}

}  // namespace fence::ipc
