#include "ipc/dispatch.hpp"

#include "ipc/messages.hpp"

namespace fence::ipc {

std::optional<std::size_t> fds_for_type(MessageType type) {
  const MessageRule* rule = rule_for(type);
  if (!rule) return std::nullopt;
  return rule->fds;
}

bool is_large_type(MessageType type) {
  const MessageRule* rule = rule_for(type);
  return rule && rule->large;
}

std::size_t payload_limit(MessageType type) {
  return is_large_type(type) ? kMaxLargePayload : kMaxPayload;
}

std::string_view role_name(Role role) {
  switch (role) {
    case Role::Supervisor:
      return "supervisor";
    case Role::Launcher:
      return "launcher";
    case Role::ProxyWorker:
      return "proxy worker";
  }
  return "unknown role";
}

std::optional<std::string> PeerState::admit(MessageType type, std::size_t fds) {
  const std::string what = std::string(message_name(type)) + " (type " +
                           std::to_string(static_cast<std::uint16_t>(type)) + ") from " +
                           std::string(role_name(sender_)) + " to " +
                           std::string(role_name(receiver_));
  // SECURITY: the sender's identity is the channel, so the table decides what it may say.
  const MessageRule* rule = find_rule(type, sender_, receiver_);
  if (rule == nullptr) return what + ": not permitted in this direction";
  if (rule->phase != phase_) {
    return what + (phase_ == Phase::Handshake ? ": before Hello" : ": not permitted after Hello");
  }
  const std::uint64_t bit = std::uint64_t{1} << (rule - kMessageRules);
  if (rule->once && (seen_once_ & bit) != 0) return what + ": permitted only once";
  if (fds != rule->fds) {
    return what + ": carries " + std::to_string(fds) + " fds, expected " +
           std::to_string(rule->fds);
  }
  if (rule->once) seen_once_ |= bit;
  if (type == MessageType::Hello) phase_ = Phase::Running;
  return std::nullopt;
}

void PeerState::on_receive(MessageType type, std::size_t fds) {
  if (auto error = admit(type, fds)) throw ProtocolError(*error);
}

}  // namespace fence::ipc
