// fence's own exit statuses. A command's status passes through unchanged (128+N when it died
// of signal N); these are the codes fence uses when it did not run the command, chosen outside
// the range commands conventionally use and documented in README.md.
#pragma once

namespace fence::supervisor {

inline constexpr int kExitCommandBlocked = 120;  // refused by the command policy
inline constexpr int kExitSetupFailed = 121;     // the sandbox could not be built
inline constexpr int kExitConfigError = 122;     // bad configuration or command line
inline constexpr int kExitNotExecutable = 126;   // found inside the sandbox, not executable
inline constexpr int kExitNotFound = 127;        // not found inside the sandbox

}  // namespace fence::supervisor
