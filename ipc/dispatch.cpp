#include "ipc/dispatch.hpp"

#include "ipc/messages.hpp"

namespace fence::ipc {

namespace {

// The table's own invariants, checked where the table is used.
constexpr bool table_is_consistent() {
  for (const MessageRule& a : kMessageRules) {
    const auto t = static_cast<std::uint16_t>(a.type);
    if (t == 0 || t >= 32) return false;  // fits the seen_once_ bitmask
    if (a.fds > kMaxFdsPerMessage) return false;
    if (std::size_t{a.fds} + (a.large ? 1 : 0) > kMaxFdsPerMessage) return false;  // + memfd
    for (const MessageRule& b : kMessageRules) {
      if (a.type == b.type && (a.fds != b.fds || a.large != b.large)) return false;
      if (&a != &b && a.type == b.type && a.sender == b.sender && a.receiver == b.receiver) {
        return false;  // one rule per direction
      }
    }
  }
  return true;
}
static_assert(table_is_consistent(), "kMessageRules: inconsistent dispatch table");

}  // namespace

const MessageRule* find_rule(MessageType type, Role sender, Role receiver) {
  for (const MessageRule& rule : kMessageRules) {
    if (rule.type == type && rule.sender == sender && rule.receiver == receiver) return &rule;
  }
  return nullptr;
}

std::optional<std::size_t> fds_for_type(MessageType type) {
  for (const MessageRule& rule : kMessageRules) {
    if (rule.type == type) return rule.fds;
  }
  return std::nullopt;
}

bool is_large_type(MessageType type) {
  for (const MessageRule& rule : kMessageRules) {
    if (rule.type == type) return rule.large;
  }
  return false;
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
  const std::uint32_t bit = 1u << static_cast<std::uint16_t>(type);
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
