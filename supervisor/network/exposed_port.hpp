// A host port fence exposes into the sandbox: -p/--port [ADDR:]PORT.
#pragma once

#include <cstdint>
#include <string>

namespace fence::supervisor {

// fence listens on the host at ADDR:PORT and carries each connection into the sandbox to
// 127.0.0.1:PORT.
struct ExposedPort {
  std::string address = "127.0.0.1";  // IPv4 or IPv6 literal (no brackets)
  std::uint16_t port = 0;
};

}  // namespace fence::supervisor
