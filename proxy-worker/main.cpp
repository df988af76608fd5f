// fence-proxy-worker: started by the supervisor (fence) with its channel end at fd 3, an empty
// environment and inherited stdio. Locks itself in (worker_sandbox.hpp), then serves the HTTP
// and SOCKS5 listeners it was handed until the supervisor goes away.
#include <boost/asio/io_context.hpp>
#include <cstdlib>
#include <exception>
#include <string>

#include "ipc/errors.hpp"
#include "proxy-worker/proxy_server.hpp"
#include "proxy-worker/worker_log.hpp"
#include "proxy-worker/worker_sandbox.hpp"

int main() {
  using namespace fence::proxy;
  int status = 0;
  try {
    WorkerStart start = start_worker();
    const auto steps = restrict_worker(start.limits);
    if (start.limits.debug) {
      for (const auto& step : steps) log_line("sandbox: " + step);
    }
    // Created after seccomp on purpose: whatever the event loop needs is in the allowlist.
    // Concurrency hint 1: one thread, and no thread is ever started (clone is not allowed).
    boost::asio::io_context io(1);
    ProxyServer server(io, std::move(start));
    server.run();
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
