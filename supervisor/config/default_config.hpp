// The policy used when neither -s/--settings nor ~/.fence.json is given.
//
// It is the most restrictive useful policy, matching fence's documented defaults:
//   - network: no allowed domains, so every outbound connection is refused by the proxy and
//     nothing else can leave the sandbox's network namespace;
//   - filesystem: system directories, the working directory and home are readable (added by
//     build_filesystem_plan, not listed here); nothing is writable. The command still gets a
//     writable /tmp: the sandbox mounts a private tmpfs there itself (and a private /run), so
//     listing /tmp in allowWrite would instead expose the HOST /tmp and its unix sockets;
//   - the always-protected set (shell rc files, git hooks/config, fence's own config) applies
//     to every policy and is not configurable.
// Written as JSON, not as a C++ struct, so the embedded default goes through exactly the same
// parser and validation as a user's file (and is tested to parse).
#pragma once

#include <string_view>

namespace fence::supervisor {

inline constexpr std::string_view kDefaultConfigJson = R"json({
  // Built-in fence policy: no network, no writes outside the sandbox's private /tmp.
  "network": {
    "allowedDomains": [],
    "deniedDomains": []
  },
  "filesystem": {
    "denyRead": [],
    "allowWrite": [],
    "denyWrite": []
  }
})json";

}  // namespace fence::supervisor
