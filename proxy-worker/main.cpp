// fence-proxy-worker: started by the supervisor (fence) with its channel end at fd
// ipc::kChannelFd, an empty environment and /dev/null as stdin, stdout and stderr (its lines
// travel as WorkerLog). Locks itself in (worker_sandbox.hpp), then serves the HTTP and SOCKS5
// listeners it was handed until the supervisor goes away.
#include <boost/asio/io_context.hpp>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>

#include "ipc/errors.hpp"
#include "proxy-worker/proxy_server.hpp"
#include "proxy-worker/supervisor_client.hpp"
#include "proxy-worker/worker_sandbox.hpp"

int main() {
  using namespace fence::proxy_worker;
  int status = 0;
  // Declared out here so that the channel the client holds still carries the last line below.
  std::optional<SupervisorClient> supervisor;
  SupervisorClient* log = nullptr;  // lines go to the supervisor once it has sent ProxyStart
  std::optional<boost::asio::io_context> io;
  std::optional<ProxyServer> server;
  try {
    prepare_process();  // steps 1-3 (worker_sandbox.hpp)
    // Step 4: Hello both ways on the inherited channel, then ProxyStart.
    supervisor.emplace(fence::platform::UniqueFd(fence::ipc::kChannelFd));
    WorkerStart start = supervisor->await_proxy_start();
    log = &*supervisor;
    const auto steps = restrict_worker(start.limits);  // steps 5-12, seccomp last
    if (start.limits.debug) {
      for (const auto& step : steps) log->send_worker_log("sandbox: " + step);
    }
    // Created after seccomp on purpose: whatever the event loop needs is in the allowlist.
    // Concurrency hint 1: one thread, and no thread is ever started (clone is not allowed).
    io.emplace(1);
    server.emplace(*io, *supervisor, std::move(start));
    server->run();
  } catch (const SupervisorGone&) {
    status = 0;
  } catch (const fence::ipc::ProtocolError& e) {
    if (log) log->send_worker_log(std::string("protocol violation by the supervisor: ") + e.what());
    status = 2;
  } catch (const std::exception& e) {
    if (log) log->send_worker_log(std::string("fatal: ") + e.what());
    status = 1;
  }
  // SECURITY: fail closed without unwinding: the kernel closes every client, tunnel and the
  // listeners at once; no destructor runs against a half-torn-down event loop.
  std::_Exit(status);
}
