// Writing frames straight to a socketpair, past the sending Channel's checks: what a hostile or
// broken peer could send. Shared by the IPC codec, channel and host tests.
#pragma once

#include <catch2/catch.hpp>

#include <cstddef>
#include <span>
#include <vector>

#include "ipc/frame.hpp"
#include "platform/fd_passing.hpp"

namespace fence::test {

// The frame a well-behaved sender would write for `msg`, announcing `fd_count` fds.
template <typename Msg>
std::vector<std::byte> frame_of(const Msg& msg, std::size_t fd_count = 0) {
  return ipc::encode_frame(Msg::kType, ipc::encode_payload(msg), fd_count);
}

// One sendmsg of `bytes` with `fds` as SCM_RIGHTS (more than any message may carry is fine);
// returns sendmsg's result with errno kept.
inline ssize_t send_datagram(int sock, std::span<const std::byte> bytes,
                             std::span<const int> fds = {}) {
  return platform::send_with_fds(sock, bytes, fds);
}

// send_datagram that must deliver every byte.
inline void send_raw(int sock, std::span<const std::byte> bytes, std::span<const int> fds = {}) {
  REQUIRE(send_datagram(sock, bytes, fds) == static_cast<ssize_t>(bytes.size()));
}

}  // namespace fence::test
