// One named handler per message. The receiving side of a channel (a *host*: the supervisor's
// LauncherHost and WorkerHost, the launcher's SupervisorLink, the worker's SupervisorClient)
// names, for every message it accepts, the member function that handles it, in one table:
//
//   static constexpr ipc::Route<LauncherHost> kRoutes[] = {
//       ipc::route<&LauncherHost::on_listeners_ready>(),
//       ipc::route<&LauncherHost::on_sandbox_ready>(), ...};
//   static_assert(ipc::routes_complete(kRoutes, ipc::Role::Launcher, ipc::Role::Supervisor));
//
// and hands every message it receives to ipc::dispatch(kRoutes, *this, message), which decodes
// and validates it as the handler's message type (Incoming::decode) and calls the handler, with
// the message's fds when the handler takes them. A message no route names is a ProtocolError.
// Hello belongs to the channel (Channel::receive checks it) and never reaches a handler.
//
// routes_complete() is checked at compile time: a host handles exactly the messages
// kMessageRules lets its peer send it, so adding a message without its handler (or a handler
// without its rule) does not build. The peer's sending side names its functions send_<message>.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "ipc/channel.hpp"
#include "ipc/errors.hpp"
#include "ipc/protocol.hpp"
#include "platform/unique_fd.hpp"

namespace fence::ipc {

template <typename Host>
struct Route {
  MessageType type;
  void (*handle)(Host& host, Incoming& message);
};

namespace detail {

template <typename Function>
struct Handler;

template <typename H, typename M>
struct Handler<void (H::*)(const M&)> {
  using Host = H;
  using Msg = M;
  static constexpr bool kTakesFds = false;
};

template <typename H, typename M>
struct Handler<void (H::*)(const M&, std::vector<platform::UniqueFd>)> {
  using Host = H;
  using Msg = M;
  static constexpr bool kTakesFds = true;
};

}  // namespace detail

// The route to member function F, which is `void on_x(const Msg&)`, or
// `void on_x(const Msg&, std::vector<platform::UniqueFd> fds)` for a message that carries fds
// (exactly the number its rule names: Incoming has checked).
template <auto F>
constexpr Route<typename detail::Handler<decltype(F)>::Host> route() {
  using H = detail::Handler<decltype(F)>;
  return {H::Msg::kType, [](typename H::Host& host, Incoming& message) {
            const typename H::Msg msg = message.decode<typename H::Msg>();
            if constexpr (H::kTakesFds) {
              (host.*F)(msg, std::move(message.fds));
            } else {
              (host.*F)(msg);
            }
          }};
}

// Decodes `message` and calls its handler. Throws ProtocolError when no route names its type
// (or when it does not decode or validate).
template <typename Host, std::size_t N>
void dispatch(const Route<Host> (&routes)[N], Host& host, Incoming& message) {
  if (message.type == MessageType::Hello) return;
  for (const Route<Host>& route : routes) {
    if (route.type == message.type) return route.handle(host, message);
  }
  throw ProtocolError("no handler for " + std::string(message_name(message.type)));
}

// Whether `routes` handle exactly the messages (but Hello) that kMessageRules lets `sender`
// send to `receiver`, each once.
template <typename Host, std::size_t N>
constexpr bool routes_complete(const Route<Host> (&routes)[N], Role sender, Role receiver) {
  for (std::size_t i = 0; i < N; ++i) {
    if (routes[i].type == MessageType::Hello) return false;
    if (!has_rule(routes[i].type, sender, receiver)) return false;
    for (std::size_t j = 0; j < i; ++j)
      if (routes[j].type == routes[i].type) return false;
  }
  for (const MessageRule& rule : kMessageRules) {
    if (rule.type == MessageType::Hello || rule.sender != sender || rule.receiver != receiver)
      continue;
    bool routed = false;
    for (std::size_t i = 0; i < N; ++i) routed = routed || routes[i].type == rule.type;
    if (!routed) return false;
  }
  return true;
}

}  // namespace fence::ipc
