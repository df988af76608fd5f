#include "launcher/signals.hpp"

#include <signal.h>
#include <sys/signalfd.h>

#include "ipc/protocol.hpp"
#include "platform/sys_error.hpp"

namespace fence::launcher {
namespace {

void noop_handler(int) {}

}  // namespace

platform::UniqueFd make_signal_fd(std::initializer_list<int> extra) {
  sigset_t set;
  sigemptyset(&set);
  struct sigaction sa {};
  sa.sa_handler = noop_handler;
  for (int sig : ipc::kForwardedSignals) {
    ::sigaction(sig, &sa, nullptr);
    sigaddset(&set, sig);
  }
  for (int sig : extra) {
    ::sigaction(sig, &sa, nullptr);
    sigaddset(&set, sig);
  }
  if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) throw platform::SysError("sigprocmask");
  platform::UniqueFd fd(::signalfd(-1, &set, SFD_CLOEXEC));
  if (!fd) throw platform::SysError("signalfd");
  return fd;
}

}  // namespace fence::launcher
