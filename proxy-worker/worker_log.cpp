#include "proxy-worker/worker_log.hpp"

#include <algorithm>
#include <string>

namespace fence::proxy_worker {
namespace {

ipc::Channel* g_log_channel = nullptr;

}  // namespace

void attach_log_channel(ipc::Channel* channel) {
  g_log_channel = channel;
}

void log_line(std::string_view text) {
  if (g_log_channel == nullptr || text.empty()) return;
  ipc::WorkerLog line{std::string(text.substr(0, ipc::kMaxTextLen))};
  std::replace(line.text.begin(), line.text.end(), '\0', '?');
  try {
    g_log_channel->send(line);
  } catch (...) {
    // Nobody to tell.
  }
}

}  // namespace fence::proxy_worker
