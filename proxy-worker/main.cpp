// fence-proxy-worker: started by the supervisor (fence) with its channel end at fd 3, an empty
// environment and /dev/null as stdin, stdout and stderr (its lines travel as WorkerLog). Locks
// itself in (worker_sandbox.hpp), then serves the HTTP and SOCKS5 listeners it was handed until
// the supervisor goes away.
#include <boost/asio/io_context.hpp>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>

#include "ipc/errors.hpp"
#include "proxy-worker/proxy_server.hpp"
#include "proxy-worker/worker_log.hpp"
#include "proxy-worker/worker_sandbox.hpp"

int main() {
  using namespace fence::proxy_worker;
  int status = 0;
  // Declared out here so that the channel they hold still carries the last line below.
  std::optional<WorkerStart> start;
  std::optional<boost::asio::io_context> io;
  std::optional<ProxyServer> server;
  try {
    start.emplace(start_worker());
    attach_log_channel(&start->channel);
    const auto steps = restrict_worker(start->limits);
    if (start->limits.debug) {
      for (const auto& step : steps) log_line("sandbox: " + step);
    }
    // Created after seccomp on purpose: whatever the event loop needs is in the allowlist.
    // Concurrency hint 1: one thread, and no thread is ever started (clone is not allowed).
    io.emplace(1);
    server.emplace(*io, std::move(*start));
    server->run();
  } catch (const SupervisorGone&) {
    status = 0;
  } catch (const fence::ipc::ProtocolError& e) {
    log_line(std::string("protocol violation by the supervisor: ") + e.what());
    status = 2;
  } catch (const std::exception& e) {
    log_line(std::string("fatal: ") + e.what());
    status = 1;
  }
  // SECURITY: fail closed without unwinding: the kernel closes every client, tunnel and the
  // listeners at once; no destructor runs against a half-torn-down event loop.
  std::_Exit(status);
}
