// The command's environment: the caller's, minus what lets a sandboxed process inject code
// into later processes (SECURITY-RULES 16), plus FENCE_SANDBOX=1.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace fence::supervisor {

// True for variables removed from the sandbox: LD_*, DYLD_*, and glibc's unsecure list.
bool is_unsafe_variable(const std::string& name);

// `environ`-style input ("KEY=VALUE"); returns the sanitized list with FENCE_SANDBOX=1 added.
// Entries without '=' or with an invalid name are dropped. `removed` receives dropped names.
std::vector<std::string> sandbox_environment(const std::vector<std::string>& input,
                                             std::vector<std::string>* removed = nullptr);

// Directories the command is given in its environment, made to work inside (each change is
// described in `changes`, for -d):
// - XDG_RUNTIME_DIR is kept when it is `private_runtime` (init creates that one in the private
//   /run) or an existing directory inside a writable root; else it becomes `private_runtime`.
// - TMPDIR (dropped by sandbox_environment, glibc lists it as unsecure): when the caller had
//   one (`caller_tmpdir`), it is set again to that value if it is /tmp or an existing
//   directory inside a writable root, else to /tmp.
// `writable` are the sandbox's writable roots (normalized absolute paths); `/tmp` among them
// means the host's /tmp, otherwise /tmp is a private, empty tmpfs.
void repair_environment(std::vector<std::string>& env,
                        const std::optional<std::string>& caller_tmpdir,
                        const std::vector<std::string>& writable,
                        const std::string& private_runtime, std::vector<std::string>* changes);

// Points every common proxy variable at the sandbox's listeners (replacing the caller's):
// HTTP_PROXY/HTTPS_PROXY (and lower case) = http://127.0.0.1:<http>, ALL_PROXY = socks5h://
// 127.0.0.1:<socks> (the proxy resolves names), NO_PROXY = localhost,127.0.0.1,::1, and
// GIT_SSH_COMMAND through SOCKS when OpenBSD netcat (which speaks SOCKS5) is installed.
void add_proxy_environment(std::vector<std::string>& env, std::uint16_t http_port,
                           std::uint16_t socks_port);

// The ProxyCommand of the GIT_SSH_COMMAND fence sets (ssh through fence's SOCKS proxy); the
// ssh rules accept it as the one ProxyCommand that cannot send a session elsewhere.
std::string ssh_proxy_command(std::uint16_t socks_port);

}  // namespace fence::supervisor
