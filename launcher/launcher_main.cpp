// fence-launcher: started by the supervisor with exactly one inherited channel at fd 3 and
// /dev/null as stdin, stdout and stderr (the command's streams come with the LaunchSpec).
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "ipc/channel.hpp"
#include "launcher/init.hpp"
#include "platform/capabilities.hpp"
#include "platform/process.hpp"

int main() {
  using namespace fence;
  try {
    // SECURITY: nothing in or out of the sandbox may ptrace or read the launcher's memory.
    platform::set_non_dumpable();
    // SECURITY: if the supervisor dies, the launcher (and with it the sandbox) dies too.
    platform::set_parent_death_signal(SIGKILL, ::getppid());
    struct stat st {};
    if (::fstat(ipc::kChannelFd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
      std::fprintf(stderr, "fence-launcher: must be started by fence (no channel on fd 3)\n");
      return 2;
    }
    platform::close_fds_except({0, 1, 2, ipc::kChannelFd});
    ipc::Channel channel(platform::UniqueFd(ipc::kChannelFd), ipc::Role::Launcher,
                         ipc::Role::Supervisor);
    channel.send_hello();
    auto hello = channel.receive();
    if (!hello || hello->type != ipc::MessageType::Hello) return 1;
    try {
      return launcher::run_launcher(channel);
    } catch (const std::exception& e) {
      // Its standard streams are /dev/null: what went wrong goes to fence (best effort).
      ipc::SetupFailed failed;
      failed.step = "launcher";
      failed.detail = std::string(e.what()).substr(0, ipc::kMaxDetailLen);
      channel.send_unless_gone(failed);
      return 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fence-launcher: %s\n", e.what());
    return 1;
  }
}
