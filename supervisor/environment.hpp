// The command's environment: the caller's, minus what lets a sandboxed process inject code
// into later processes (SECURITY-RULES 16), plus FENCE_SANDBOX=1.
#pragma once

#include <string>
#include <vector>

namespace fence::supervisor {

// True for variables removed from the sandbox: LD_*, DYLD_*, and glibc's unsecure list.
bool is_unsafe_variable(const std::string& name);

// `environ`-style input ("KEY=VALUE"); returns the sanitized list with FENCE_SANDBOX=1 added.
// Entries without '=' or with an invalid name are dropped. `removed` receives dropped names.
std::vector<std::string> sandbox_environment(const std::vector<std::string>& input,
                                             std::vector<std::string>* removed = nullptr);

}  // namespace fence::supervisor
