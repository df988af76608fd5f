// The dispatch-table state machine of one direction of a channel, without sockets.
//
// A channel has two directions, each with its own PeerState. Channel::receive runs the
// peer -> self state on every incoming message, and Channel::send runs the self -> peer state
// on every outgoing one, so this side never emits a message that its peer would reject.
//
// Rules (kMessageRules in protocol.hpp): the (type, sender, receiver) triple must be in the
// table; the direction must be in the rule's phase (Handshake until the sender's Hello, Running
// after it); a 'once' message at most once; exactly the rule's number of fds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "ipc/errors.hpp"
#include "ipc/protocol.hpp"

namespace fence::ipc {

// Number of fds a message of `type` carries (the same in every rule for that type, checked at
// compile time), or nullopt for a type without a rule.
std::optional<std::size_t> fds_for_type(MessageType type);

// Whether a message of `type` may be large (its payload then up to kMaxLargePayload bytes, in
// a memfd), and its payload limit: kMaxLargePayload or kMaxPayload.
bool is_large_type(MessageType type);
std::size_t payload_limit(MessageType type);

std::string_view role_name(Role role);

class PeerState {
 public:
  PeerState(Role sender, Role receiver) : sender_(sender), receiver_(receiver) {}

  // Checks that a message of `type` with `fds` fds may come next in this direction. On success
  // records it (phase, once) and returns nullopt; on violation returns why and changes nothing.
  std::optional<std::string> admit(MessageType type, std::size_t fds);

  // admit() that throws ProtocolError on a violation: the receiving side's entry point.
  void on_receive(MessageType type, std::size_t fds);

  Phase phase() const { return phase_; }
  Role sender() const { return sender_; }
  Role receiver() const { return receiver_; }

 private:
  Role sender_;
  Role receiver_;
  Phase phase_ = Phase::Handshake;
  std::uint64_t seen_once_ = 0;  // bit n set: the 'once' message of rule n has been admitted
};

}  // namespace fence::ipc
