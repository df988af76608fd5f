// "Inside a writable root": the launcher's one definition, used by the mounts, the pins of
// protected parents, the read-only binds and the guards of protected names.
//
// The writable roots are LaunchSpec::writable as the supervisor computed it: the allowWrite
// trees, and "/tmp" when the command writes to the host's /tmp. Without that entry /tmp is a
// private tmpfs, no root: nothing written there outlives the sandbox, so nothing in it needs
// protecting.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "ipc/grammar.hpp"
#include "ipc/protocol.hpp"

namespace fence::launcher {

inline const std::vector<std::string>& writable_roots(const ipc::LaunchSpec& spec) {
  return spec.writable;
}

// allowWrite names /tmp: the host's /tmp is bound in place of a private tmpfs.
inline bool has_host_tmp(const ipc::LaunchSpec& spec) {
  return std::find(spec.writable.begin(), spec.writable.end(), "/tmp") != spec.writable.end();
}

// `path` is a writable root or lies beneath one.
inline bool in_writable_root(const ipc::LaunchSpec& spec, std::string_view path) {
  const auto& roots = writable_roots(spec);
  return std::any_of(roots.begin(), roots.end(),
                     [&](const std::string& root) { return ipc::is_within(path, root); });
}

// `path` is a creatable allowWrite entry (LaunchSpec::creatable) or lies beneath one.
inline bool in_creatable_root(const ipc::LaunchSpec& spec, std::string_view path) {
  return std::any_of(spec.creatable.begin(), spec.creatable.end(),
                     [&](const std::string& root) { return ipc::is_within(path, root); });
}

// `path` lies strictly beneath a writable root (a root itself is not beneath one, unless it
// is nested in another).
inline bool beneath_writable_root(const ipc::LaunchSpec& spec, std::string_view path) {
  const auto& roots = writable_roots(spec);
  return std::any_of(roots.begin(), roots.end(), [&](const std::string& root) {
    return path != root && ipc::is_within(path, root);
  });
}

}  // namespace fence::launcher
