// Signals in the launcher's two waiting processes: the outer launcher (which forwards them to
// init) and init (which forwards them to the command and reaps on SIGCHLD).
#pragma once

#include <initializer_list>

#include "platform/unique_fd.hpp"

namespace fence::launcher {

// Blocks ipc::kForwardedSignals and `extra`, and returns a signalfd for them. A handler is
// installed first because the kernel drops default-action signals sent to a pid namespace's
// init. Throws SysError.
platform::UniqueFd make_signal_fd(std::initializer_list<int> extra);

// Signals sent by a process (kill, sigqueue, tgkill) carry si_code <= 0. Terminal-generated
// ones (Ctrl-C) carry SI_KERNEL and already reach the command through its process group, so
// forwarding them would deliver them twice.
inline bool sent_by_process(int si_code) {
  return si_code <= 0;
}

}  // namespace fence::launcher
