// decode_frame: every header check, each with the precise error it reports.
#include <catch2/catch.hpp>

#include "ipc/frame.hpp"

namespace fence::ipc {
namespace {

std::vector<std::byte> frame_with(std::size_t payload_len, std::size_t fds = 0) {
  const std::vector<std::byte> payload(payload_len, std::byte{0x5a});
  return encode_frame(MessageType::ExecFailed, payload, fds);
}

void set_le(std::vector<std::byte>& f, std::size_t offset, std::uint32_t v, std::size_t bytes) {
  for (std::size_t i = 0; i < bytes; ++i) f[offset + i] = static_cast<std::byte>(v >> (8 * i));
}

}  // namespace

TEST_CASE("frame header layout is little-endian and 16 bytes", "[ipc][frame]") {
  const auto f = encode_frame(MessageType::SetupFailed, std::vector<std::byte>(3), 2);
  REQUIRE(f.size() == kFrameHeaderSize + 3);
  const std::vector<int> header = {0x43,
                                   0x4e,
                                   0x45,
                                   0x46,  // magic "FENC" LE
                                   kProtocolVersion,
                                   0,
                                   106,  // SetupFailed
                                   0,
                                   3,
                                   0,
                                   0,
                                   0,
                                   2,
                                   0,
                                   0,
                                   0};
  for (std::size_t i = 0; i < header.size(); ++i) {
    INFO("byte " << i);
    CHECK(std::to_integer<int>(f[i]) == header[i]);
  }
}

TEST_CASE("decode_frame accepts a well-formed frame", "[ipc][frame]") {
  const auto f = frame_with(4, 1);
  const DecodedFrame d = decode_frame(f, 1);
  REQUIRE(d.ok());
  CHECK(d.type == MessageType::ExecFailed);
  CHECK(d.payload.size() == 4);
  CHECK(d.payload.data() == f.data() + kFrameHeaderSize);
}

TEST_CASE("decode_frame reports each violation precisely", "[ipc][frame]") {
  auto f = frame_with(4);
  SECTION("too short") {
    CHECK(decode_frame(std::span(f).first(kFrameHeaderSize - 1), 0).error == FrameError::TooShort);
    CHECK(decode_frame({}, 0).error == FrameError::TooShort);
  }
  SECTION("bad magic") {
    set_le(f, 0, kMagic ^ 1, 4);
    CHECK(decode_frame(f, 0).error == FrameError::BadMagic);
  }
  SECTION("version mismatch") {
    set_le(f, 4, kProtocolVersion + 1, 2);
    CHECK(decode_frame(f, 0).error == FrameError::VersionMismatch);
  }
  SECTION("unknown type") {
    for (std::uint32_t t : {0u, 26u, 0xffffu}) {  // 1..25 are MessageType values
      set_le(f, 6, t, 2);
      CHECK(decode_frame(f, 0).error == FrameError::UnknownType);
    }
  }
  SECTION("payload_len != datagram size - header") {
    set_le(f, 8, 5, 4);
    CHECK(decode_frame(f, 0).error == FrameError::LengthMismatch);
    set_le(f, 8, 3, 4);
    CHECK(decode_frame(f, 0).error == FrameError::LengthMismatch);
    f.push_back(std::byte{0});  // extra byte after a 4-byte payload
    set_le(f, 8, 4, 4);
    CHECK(decode_frame(f, 0).error == FrameError::LengthMismatch);
  }
  SECTION("payload over kMaxPayload") {
    set_le(f, 8, kMaxPayload + 1, 4);
    CHECK(decode_frame(f, 0).error == FrameError::PayloadTooLarge);
    set_le(f, 8, 0xffffffffu, 4);
    CHECK(decode_frame(f, 0).error == FrameError::PayloadTooLarge);
    auto big = frame_with(kMaxPayload);
    CHECK(decode_frame(big, 0).ok());
  }
  SECTION("fd_count over kMaxFdsPerMessage") {
    set_le(f, 12, kMaxFdsPerMessage + 1, 4);
    CHECK(decode_frame(f, kMaxFdsPerMessage + 1).error == FrameError::TooManyFds);
    set_le(f, 12, 0xffffffffu, 4);
    CHECK(decode_frame(f, 0).error == FrameError::TooManyFds);
  }
  SECTION("flags other than kFramePayloadInFd") {
    set_le(f, 14, 2, 2);
    CHECK(decode_frame(f, 0).error == FrameError::UnknownFlags);
    set_le(f, 14, 0xffff, 2);
    CHECK(decode_frame(f, 0).error == FrameError::UnknownFlags);
  }
  SECTION("a payload in a memfd: header alone, within kMaxLargePayload, the fd counted") {
    auto h = encode_frame_header_only(MessageType::ExecCheck, 1 << 20, 1);
    REQUIRE(h.size() == kFrameHeaderSize);
    const DecodedFrame d = decode_frame(h, 1);
    REQUIRE(d.ok());
    CHECK(d.payload_in_fd);
    CHECK(d.payload_len == 1u << 20);
    CHECK(d.payload.empty());
    CHECK(decode_frame(h, 0).error == FrameError::FdCountMismatch);
    h.push_back(std::byte{1});  // inline bytes as well
    CHECK(decode_frame(h, 1).error == FrameError::LengthMismatch);
    h.pop_back();
    set_le(h, 8, kMaxLargePayload + 1, 4);
    CHECK(decode_frame(h, 1).error == FrameError::PayloadTooLarge);
    set_le(h, 8, 10, 4);
    set_le(h, 12, 0, 2);  // no fd to hold it
    CHECK(decode_frame(h, 0).error == FrameError::FdCountMismatch);
    CHECK_THROWS_AS(encode_frame_header_only(MessageType::ExecCheck, kMaxLargePayload + 1, 1),
                    EncodeError);
    CHECK_THROWS_AS(encode_frame_header_only(MessageType::ExecCheck, 10, 0), EncodeError);
  }
  SECTION("fd_count != fds received") {
    CHECK(decode_frame(f, 1).error == FrameError::FdCountMismatch);  // stray fd
    set_le(f, 12, 2, 4);
    CHECK(decode_frame(f, 1).error == FrameError::FdCountMismatch);  // missing fd
    CHECK(decode_frame(f, 2).ok());
  }
}

TEST_CASE("encode_frame refuses what decode_frame would reject", "[ipc][frame]") {
  CHECK_THROWS_AS(frame_with(kMaxPayload + 1), EncodeError);
  CHECK_THROWS_AS(frame_with(0, kMaxFdsPerMessage + 1), EncodeError);
  CHECK_NOTHROW(frame_with(0, kMaxFdsPerMessage));
}

TEST_CASE("every FrameError has a description", "[ipc][frame]") {
  for (auto e :
       {FrameError::None, FrameError::TooShort, FrameError::BadMagic, FrameError::VersionMismatch,
        FrameError::UnknownType, FrameError::PayloadTooLarge, FrameError::LengthMismatch,
        FrameError::TooManyFds, FrameError::FdCountMismatch, FrameError::UnknownFlags}) {
    CHECK(describe(e) != "unknown frame error");
  }
}

}  // namespace fence::ipc
