// Framing of one datagram = one message, and the payload codec. Pure functions: no I/O, no
// global state, so each can be unit-tested and fuzzed directly on bytes.
//
// Datagram layout (all header fields little-endian, whatever the host):
//   offset 0  uint32 magic        kMagic
//   offset 4  uint16 version      kProtocolVersion
//   offset 6  uint16 type         MessageType
//   offset 8  uint32 payload_len  == datagram size - kFrameHeaderSize, <= kMaxPayload
//   offset 12 uint16 fd_count     == number of fds received with the datagram, <= kMaxFdsPerMessage
//   offset 14 uint16 flags        0, or kFramePayloadInFd
//   offset 16 payload             cereal binary archive of the message (messages.hpp)
// With kFramePayloadInFd the datagram is the header alone: the payload (payload_len <=
// kMaxLargePayload bytes) is the content of the LAST fd, a memfd sealed against every change
// (the channel checks the seals and the size, then copies it before decoding), and fd_count
// counts that fd too. Only types whose rule says `large` may use it.
// The header is checked completely before cereal sees a byte of the payload.
#pragma once

#include <cereal/archives/binary.hpp>

#include <cstddef>
#include <cstdint>
#include <istream>
#include <ostream>
#include <span>
#include <string_view>
#include <vector>

#include "ipc/byte_streambuf.hpp"
#include "ipc/errors.hpp"
#include "ipc/messages.hpp"
#include "ipc/protocol.hpp"

namespace fence::ipc {

inline constexpr std::size_t kFrameHeaderSize = 16;
inline constexpr std::size_t kMaxFrameSize = kFrameHeaderSize + kMaxPayload;

enum class FrameError {
  None,
  TooShort,  // fewer bytes than a header
  BadMagic,
  VersionMismatch,  // header version != kProtocolVersion
  UnknownType,      // type not in MessageType
  PayloadTooLarge,  // payload_len > kMaxPayload
  LengthMismatch,   // payload_len != datagram size - header
  TooManyFds,       // fd_count > kMaxFdsPerMessage
  FdCountMismatch,  // fd_count != fds actually received
  UnknownFlags,     // flags other than 0 and kFramePayloadInFd
};

inline constexpr std::uint16_t kFramePayloadInFd = 1;

std::string_view describe(FrameError error);

struct DecodedFrame {
  FrameError error = FrameError::None;
  MessageType type{};                  // valid only when ok()
  std::span<const std::byte> payload;  // view into the datagram; valid only when ok()
  bool payload_in_fd = false;          // the payload is the last fd's content (empty span)
  std::uint32_t payload_len = 0;       // its size
  bool ok() const { return error == FrameError::None; }
};

// Header + payload. Throws EncodeError when payload or fd_count exceeds the bounds.
std::vector<std::byte> encode_frame(MessageType type, std::span<const std::byte> payload,
                                    std::size_t fd_count);

// The header alone, for a payload of `payload_size` bytes carried in a memfd that is the last
// of `fd_count` fds. Throws EncodeError when the size or fd count is out of bounds.
std::vector<std::byte> encode_frame_header_only(MessageType type, std::size_t payload_size,
                                                std::size_t fd_count);

// Checks the header of `datagram` against its own size and the number of fds that arrived
// with it. Never throws.
DecodedFrame decode_frame(std::span<const std::byte> datagram, std::size_t fds_received);

// cereal binary archive of `msg`. Throws EncodeError when a field exceeds its wire bound or
// the whole exceeds `limit` (kMaxPayload, or kMaxLargePayload for a large message).
template <typename Msg>
std::vector<std::byte> encode_payload(const Msg& msg, std::size_t limit = kMaxPayload) {
  VectorWriteBuf buf(limit);
  std::ostream os(&buf);
  try {
    cereal::BinaryOutputArchive ar(os);
    ar(msg);
  } catch (const cereal::Exception& e) {
    throw EncodeError(std::string(message_name(Msg::kType)) + ": payload exceeds " +
                      std::to_string(limit) + " bytes");
  }
  return buf.take();
}

// Decodes a payload produced by encode_payload<Msg>. Throws DecodeError on a short payload,
// any bound or range violation, or trailing bytes. Does not run validate().
template <typename Msg>
Msg decode_payload(std::span<const std::byte> payload) {
  // SECURITY: every size read here is bounded before use (bounded.hpp), and reads stop at the
  // end of `payload`; a short payload fails instead of reading past it.
  SpanReadBuf buf(payload);
  std::istream is(&buf);
  Msg msg{};
  try {
    cereal::BinaryInputArchive ar(is);
    ar(msg);
  } catch (const cereal::Exception& e) {
    throw DecodeError(std::string(message_name(Msg::kType)) + ": truncated payload");
  }
  // SECURITY: a reader must consume the whole message; leftover bytes mean the two sides
  // disagree on the schema, or someone is smuggling data.
  if (buf.remaining() != 0) {
    throw DecodeError(std::string(message_name(Msg::kType)) + ": " +
                      std::to_string(buf.remaining()) + " trailing bytes");
  }
  return msg;
}

}  // namespace fence::ipc
