// The error types of the IPC layer, one per kind of failure:
//   EncodeError   — this side tried to send something the wire schema cannot carry (a bug or an
//                   over-long input on the trusted side; nothing was sent).
//   DecodeError   — bytes from the peer do not parse under the wire schema.
//   ProtocolError — any violation by the peer: framing, dispatch table, decoding, validation,
//                   stray or missing fds. Fatal for the channel.
// Kernel I/O failures are platform::SysError.
#pragma once

#include <stdexcept>
#include <string>

namespace fence::ipc {

class EncodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class DecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace fence::ipc
