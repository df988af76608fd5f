#include "launcher/inbound_client.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "ipc/errors.hpp"
#include "launcher/supervisor_link.hpp"
#include "platform/sys_error.hpp"
#include "platform/tcp_listener.hpp"

namespace fence::launcher {
namespace {

// A loopback connect either completes at once or waits for a full accept queue to drain.
constexpr std::chrono::seconds kConnectTimeout{5};

}  // namespace

void InboundClient::open(const ipc::InboundOpen& request) {
  if (!ports_.count(request.port))
    throw ipc::ProtocolError("InboundOpen for port " + std::to_string(request.port) +
                             ", which is not an inbound port");
  if (ids_.count(request.id))
    throw ipc::ProtocolError("InboundOpen reuses id " + std::to_string(request.id));
  bool in_progress = false;
  platform::UniqueFd fd;
  try {
    fd = platform::connect_loopback(request.port, in_progress);
  } catch (const platform::SysError& e) {
    link_.send_inbound_failed(request.id, e.error_code() > 0 ? e.error_code() : EIO);
    return;
  }
  if (!in_progress) {
    link_.send_inbound_ready(request.id, fd.get());
    return;
  }
  ids_.insert(request.id);
  const int key = fd.get();
  pending_.emplace(
      key, Pending{request.id, std::move(fd), std::chrono::steady_clock::now() + kConnectTimeout});
}

void InboundClient::add_poll_fds(std::vector<pollfd>& fds) const {
  for (const auto& [fd, pending] : pending_) fds.push_back({fd, POLLOUT, 0});
}

void InboundClient::finish(Pending& pending, int error) {
  ids_.erase(pending.id);
  if (error == 0)
    link_.send_inbound_ready(pending.id, pending.fd.get());
  else
    link_.send_inbound_failed(pending.id, error);
}

void InboundClient::on_ready(int fd) {
  auto it = pending_.find(fd);
  if (it == pending_.end()) return;
  int error = 0;
  socklen_t len = sizeof error;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) error = errno;
  finish(it->second, error);
  pending_.erase(it);
}

void InboundClient::expire() {
  const auto now = std::chrono::steady_clock::now();
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.deadline > now) {
      ++it;
      continue;
    }
    finish(it->second, ETIMEDOUT);
    it = pending_.erase(it);
  }
}

int InboundClient::next_timeout_ms() const {
  if (pending_.empty()) return -1;
  auto earliest = pending_.begin()->second.deadline;
  for (const auto& [fd, pending] : pending_) earliest = std::min(earliest, pending.deadline);
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      earliest - std::chrono::steady_clock::now());
  return static_cast<int>(std::max<std::int64_t>(left.count(), 0) + 1);
}

}  // namespace fence::launcher
