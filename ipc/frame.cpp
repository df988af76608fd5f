#include "ipc/frame.hpp"

namespace fence::ipc {

namespace {

void put_le(std::vector<std::byte>& out, std::uint64_t v, std::size_t bytes) {
  for (std::size_t i = 0; i < bytes; ++i)
    out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xff));
}

std::uint32_t get_le(std::span<const std::byte> in, std::size_t offset, std::size_t bytes) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < bytes; ++i) {
    v |= static_cast<std::uint32_t>(std::to_integer<std::uint8_t>(in[offset + i])) << (8 * i);
  }
  return v;
}

DecodedFrame failure(FrameError error) {
  return DecodedFrame{error, {}, {}};
}

}  // namespace

std::string_view describe(FrameError error) {
  switch (error) {
    case FrameError::None:
      return "ok";
    case FrameError::TooShort:
      return "datagram shorter than the frame header";
    case FrameError::BadMagic:
      return "bad magic";
    case FrameError::VersionMismatch:
      return "protocol version mismatch";
    case FrameError::UnknownType:
      return "unknown message type";
    case FrameError::PayloadTooLarge:
      return "payload length over the maximum";
    case FrameError::LengthMismatch:
      return "payload length does not match the datagram size";
    case FrameError::TooManyFds:
      return "fd count over the maximum";
    case FrameError::FdCountMismatch:
      return "fd count does not match the fds received";
    case FrameError::UnknownFlags:
      return "unknown frame flags";
  }
  return "unknown frame error";
}

std::vector<std::byte> encode_frame(MessageType type, std::span<const std::byte> payload,
                                    std::size_t fd_count) {
  if (payload.size() > kMaxPayload) throw EncodeError("payload over kMaxPayload");
  if (fd_count > kMaxFdsPerMessage) throw EncodeError("fd count over kMaxFdsPerMessage");
  std::vector<std::byte> out;
  out.reserve(kFrameHeaderSize + payload.size());
  put_le(out, kMagic, 4);
  put_le(out, kProtocolVersion, 2);
  put_le(out, static_cast<std::uint16_t>(type), 2);
  put_le(out, payload.size(), 4);
  put_le(out, fd_count, 2);
  put_le(out, 0, 2);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

std::vector<std::byte> encode_frame_header_only(MessageType type, std::size_t payload_size,
                                                std::size_t fd_count) {
  if (payload_size > kMaxLargePayload) throw EncodeError("payload over kMaxLargePayload");
  if (fd_count < 1 || fd_count > kMaxFdsPerMessage)
    throw EncodeError("fd count out of range for a payload in a memfd");
  std::vector<std::byte> out;
  out.reserve(kFrameHeaderSize);
  put_le(out, kMagic, 4);
  put_le(out, kProtocolVersion, 2);
  put_le(out, static_cast<std::uint16_t>(type), 2);
  put_le(out, payload_size, 4);
  put_le(out, fd_count, 2);
  put_le(out, kFramePayloadInFd, 2);
  return out;
}

DecodedFrame decode_frame(std::span<const std::byte> datagram, std::size_t fds_received) {
  if (datagram.size() < kFrameHeaderSize) return failure(FrameError::TooShort);
  if (get_le(datagram, 0, 4) != kMagic) return failure(FrameError::BadMagic);
  if (get_le(datagram, 4, 2) != kProtocolVersion) return failure(FrameError::VersionMismatch);
  const auto type = static_cast<std::uint16_t>(get_le(datagram, 6, 2));
  if (!is_known_message_type(type)) return failure(FrameError::UnknownType);
  const std::uint32_t payload_len = get_le(datagram, 8, 4);
  const std::uint32_t fd_count = get_le(datagram, 12, 2);
  const std::uint32_t flags = get_le(datagram, 14, 2);
  if (fd_count > kMaxFdsPerMessage) return failure(FrameError::TooManyFds);
  // SECURITY: the header must declare exactly the fds the kernel delivered; the caller closes
  // them all on any mismatch.
  if (fd_count != fds_received) return failure(FrameError::FdCountMismatch);
  if (flags == kFramePayloadInFd) {
    // The payload is in the last fd; the datagram is the header alone. Whether this type may
    // be large is the dispatch table's to say (the receiver checks it next).
    if (datagram.size() != kFrameHeaderSize) return failure(FrameError::LengthMismatch);
    if (payload_len > kMaxLargePayload) return failure(FrameError::PayloadTooLarge);
    if (fd_count < 1) return failure(FrameError::FdCountMismatch);
    return DecodedFrame{FrameError::None, static_cast<MessageType>(type), {}, true, payload_len};
  }
  if (flags != 0) return failure(FrameError::UnknownFlags);
  if (payload_len > kMaxPayload) return failure(FrameError::PayloadTooLarge);
  if (payload_len != datagram.size() - kFrameHeaderSize) {
    return failure(FrameError::LengthMismatch);
  }
  return DecodedFrame{FrameError::None, static_cast<MessageType>(type),
                      datagram.subspan(kFrameHeaderSize), false, payload_len};
}

}  // namespace fence::ipc
