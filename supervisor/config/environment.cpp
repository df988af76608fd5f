#include "supervisor/config/environment.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <string_view>

#include "ipc/grammar.hpp"

namespace fence::supervisor {
namespace {

// glibc's UNSECURE_ENVVARS (the list it clears for setuid programs) minus the LD_ ones, which
// the prefix rule covers.
// The caller's TMPDIR is dropped with them; repair_environment sets one it has checked.
constexpr std::array<std::string_view, 13> kUnsecure = {
    "GCONV_PATH",  "GETCONF_DIR",  "GLIBC_TUNABLES", "HOSTALIASES", "LOCALDOMAIN",
    "LOCPATH",     "MALLOC_TRACE", "NIS_PATH",       "NLSPATH",     "RESOLV_HOST_CONF",
    "RES_OPTIONS", "TMPDIR",       "TZDIR",
};

// The value of `name` in `env`, or nullptr.
std::string* find_variable(std::vector<std::string>& env, std::string_view name) {
  for (std::string& entry : env)
    if (entry.size() > name.size() && entry.compare(0, name.size(), name) == 0 &&
        entry[name.size()] == '=')
      return &entry;
  return nullptr;
}

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// An existing directory the command can write to: inside a writable root.
bool writable_inside(const std::string& path, const std::vector<std::string>& writable) {
  if (path.empty() || path.front() != '/' || !ipc::is_normalized_absolute_path(path)) return false;
  return is_directory(path) && std::any_of(writable.begin(), writable.end(), [&](const auto& root) {
           return ipc::is_within(path, root);
         });
}

void repair_one(std::vector<std::string>& env, std::string_view name, bool usable,
                const std::string& replacement, std::vector<std::string>* changes) {
  std::string* entry = find_variable(env, name);
  if (!entry || usable) return;
  const std::string old = entry->substr(name.size() + 1);
  *entry = std::string(name) + "=" + replacement;
  if (changes)
    changes->push_back(std::string(name) + "=" + old + " is not usable inside; set to " +
                       replacement);
}

}  // namespace

void repair_environment(std::vector<std::string>& env,
                        const std::optional<std::string>& caller_tmpdir,
                        const std::vector<std::string>& writable,
                        const std::string& private_runtime, std::vector<std::string>* changes) {
  auto value = [&](std::string_view name) {
    const std::string* entry = find_variable(env, name);
    return entry ? entry->substr(name.size() + 1) : std::string();
  };
  const std::string runtime = value("XDG_RUNTIME_DIR");
  repair_one(env, "XDG_RUNTIME_DIR",
             runtime == private_runtime || writable_inside(runtime, writable), private_runtime,
             changes);
  if (!caller_tmpdir) return;
  const std::string& tmp = *caller_tmpdir;
  const bool usable = tmp == "/tmp" || writable_inside(tmp, writable);
  env.push_back("TMPDIR=" + (usable ? tmp : std::string("/tmp")));
  if (changes)
    changes->push_back(usable ? "TMPDIR=" + tmp + " kept: a writable directory inside"
                              : "TMPDIR=" + tmp + " is not usable inside; set to /tmp");
}

bool is_unsafe_variable(const std::string& name) {
  if (name.rfind("LD_", 0) == 0 || name.rfind("DYLD_", 0) == 0) return true;
  return std::find(kUnsecure.begin(), kUnsecure.end(), name) != kUnsecure.end();
}

std::vector<std::string> sandbox_environment(const std::vector<std::string>& input,
                                             std::vector<std::string>* removed) {
  std::vector<std::string> out;
  for (const auto& entry : input) {
    const auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    const std::string name = entry.substr(0, eq);
    if (!ipc::is_valid_env_key(name) || name == "FENCE_SANDBOX" || is_unsafe_variable(name)) {
      if (removed && name != "FENCE_SANDBOX") removed->push_back(name);
      continue;
    }
    out.push_back(entry);
  }
  out.emplace_back("FENCE_SANDBOX=1");
  return out;
}

void add_proxy_environment(std::vector<std::string>& env, std::uint16_t http_port,
                           std::uint16_t socks_port) {
  const std::string http = "http://127.0.0.1:" + std::to_string(http_port);
  const std::string socks = "socks5h://127.0.0.1:" + std::to_string(socks_port);
  std::vector<std::pair<std::string, std::string>> vars = {
      {"HTTP_PROXY", http},
      {"HTTPS_PROXY", http},
      {"http_proxy", http},
      {"https_proxy", http},
      {"ALL_PROXY", socks},
      {"all_proxy", socks},
      {"NO_PROXY", "localhost,127.0.0.1,::1"},
      {"no_proxy", "localhost,127.0.0.1,::1"},
  };
  if (::access("/usr/bin/nc.openbsd", X_OK) == 0)
    vars.emplace_back("GIT_SSH_COMMAND",
                      "ssh -o ProxyCommand='" + ssh_proxy_command(socks_port) + "'");
  std::erase_if(env, [&](const std::string& entry) {
    return std::any_of(vars.begin(), vars.end(), [&](const auto& v) {
      return entry.size() > v.first.size() && entry.compare(0, v.first.size(), v.first) == 0 &&
             entry[v.first.size()] == '=';
    });
  });
  for (const auto& [name, value] : vars) env.push_back(name + "=" + value);
}

std::string ssh_proxy_command(std::uint16_t socks_port) {
  return "/usr/bin/nc.openbsd -X 5 -x 127.0.0.1:" + std::to_string(socks_port) + " %h %p";
}

}  // namespace fence::supervisor
