// libFuzzer harness for the IPC frame decoder and payload codec (ipc/frame.hpp): what the
// supervisor does with a datagram from a (possibly compromised) proxy worker or launcher.
// The first input byte is the number of fds that "arrived" with the datagram.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "ipc/errors.hpp"
#include "ipc/frame.hpp"
#include "ipc/messages.hpp"

namespace {

namespace ipc = fence::ipc;

template <typename Msg>
void decode_as(std::span<const std::byte> payload) {
  try {
    const Msg msg = ipc::decode_payload<Msg>(payload);
    (void)ipc::validate(msg);
    // A message that decodes must encode back to the same bytes (no lossy fields).
    const auto encoded = ipc::encode_payload(msg);
    if (encoded.size() != payload.size() ||
        !std::equal(encoded.begin(), encoded.end(), payload.begin())) {
      std::abort();
    }
  } catch (const ipc::DecodeError&) {
    // Expected for malformed payloads: the supervisor cuts off the peer.
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t fds_received = data[0] % (ipc::kMaxFdsPerMessage + 2);
  const std::span<const std::byte> datagram(reinterpret_cast<const std::byte*>(data + 1), size - 1);
  const ipc::DecodedFrame frame = ipc::decode_frame(datagram, fds_received);
  if (!frame.ok()) {
    (void)ipc::describe(frame.error);
    return 0;
  }
  if (datagram.size() > ipc::kMaxFrameSize || frame.payload.size() > ipc::kMaxPayload) std::abort();
  // A payload in a memfd: the datagram is a header; the channel checks and reads the fd.
  if (frame.payload_in_fd) {
    if (!frame.payload.empty() || datagram.size() != ipc::kFrameHeaderSize ||
        frame.payload_len > ipc::kMaxLargePayload || fds_received < 1)
      std::abort();
    return 0;
  }
  // No default: a new MessageType must get its case here (-Wswitch).
  switch (frame.type) {
    case ipc::MessageType::Hello:
      decode_as<ipc::Hello>(frame.payload);
      break;
    case ipc::MessageType::LaunchSpec:
      decode_as<ipc::LaunchSpec>(frame.payload);
      break;
    case ipc::MessageType::SandboxReady:
      decode_as<ipc::SandboxReady>(frame.payload);
      break;
    case ipc::MessageType::SetupFailed:
      decode_as<ipc::SetupFailed>(frame.payload);
      break;
    case ipc::MessageType::ExecFailed:
      decode_as<ipc::ExecFailed>(frame.payload);
      break;
    case ipc::MessageType::CommandExited:
      decode_as<ipc::CommandExited>(frame.payload);
      break;
    case ipc::MessageType::ListenersReady:
      decode_as<ipc::ListenersReady>(frame.payload);
      break;
    case ipc::MessageType::ProxyStart:
      decode_as<ipc::ProxyStart>(frame.payload);
      break;
    case ipc::MessageType::ConnectRequest:
      decode_as<ipc::ConnectRequest>(frame.payload);
      break;
    case ipc::MessageType::ConnectAllowed:
      decode_as<ipc::ConnectAllowed>(frame.payload);
      break;
    case ipc::MessageType::ConnectDenied:
      decode_as<ipc::ConnectDenied>(frame.payload);
      break;
    case ipc::MessageType::TunnelClosed:
      decode_as<ipc::TunnelClosed>(frame.payload);
      break;
    case ipc::MessageType::LocalListenerReady:
      decode_as<ipc::LocalListenerReady>(frame.payload);
      break;
    case ipc::MessageType::LocalListener:
      decode_as<ipc::LocalListener>(frame.payload);
      break;
    case ipc::MessageType::InboundOpen:
      decode_as<ipc::InboundOpen>(frame.payload);
      break;
    case ipc::MessageType::InboundReady:
      decode_as<ipc::InboundReady>(frame.payload);
      break;
    case ipc::MessageType::InboundFailed:
      decode_as<ipc::InboundFailed>(frame.payload);
      break;
    case ipc::MessageType::RelayStart:
      decode_as<ipc::RelayStart>(frame.payload);
      break;
    case ipc::MessageType::RelayClosed:
      decode_as<ipc::RelayClosed>(frame.payload);
      break;
    case ipc::MessageType::Violation:
      decode_as<ipc::Violation>(frame.payload);
      break;
    case ipc::MessageType::ExecCheck:
      decode_as<ipc::ExecCheck>(frame.payload);
      break;
    case ipc::MessageType::ExecVerdict:
      decode_as<ipc::ExecVerdict>(frame.payload);
      break;
    case ipc::MessageType::StartCommand:
      decode_as<ipc::StartCommand>(frame.payload);
      break;
    case ipc::MessageType::UnixConnect:
      decode_as<ipc::UnixConnect>(frame.payload);
      break;
    case ipc::MessageType::WorkerLog:
      decode_as<ipc::WorkerLog>(frame.payload);
      break;
    case ipc::MessageType::TransparentReady:
      decode_as<ipc::TransparentReady>(frame.payload);
      break;
    case ipc::MessageType::TransparentStart:
      decode_as<ipc::TransparentStart>(frame.payload);
      break;
    case ipc::MessageType::DnsQuery:
      decode_as<ipc::DnsQuery>(frame.payload);
      break;
    case ipc::MessageType::DnsAnswer:
      decode_as<ipc::DnsAnswer>(frame.payload);
      break;
  }
  return 0;
}
