// The text grammars of the protocol's fields, and the one definition of "a path inside a
// root". Pure functions on strings, header-only, so that every side (the codec's receiver
// checks, the pure policy library, the launcher's mounts and guards) reads them from here
// without linking the channel code.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "ipc/protocol.hpp"

namespace fence::ipc {

// At most max_len bytes and no NUL.
inline bool is_text(std::string_view s, std::size_t max_len) {
  return s.size() <= max_len && s.find('\0') == std::string_view::npos;
}

// Absolute and normalized: starts with '/', no empty, "." or ".." component (so no "//" and
// no trailing '/', except the root "/" itself), no NUL, at most kMaxPathLen bytes.
inline bool is_normalized_absolute_path(std::string_view path) {
  if (!is_text(path, kMaxPathLen) || path.empty() || path.front() != '/') return false;
  if (path == "/") return true;
  std::size_t pos = 1;
  while (true) {
    const std::size_t next = path.find('/', pos);
    const std::string_view comp =
        path.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos);
    // SECURITY: ".." would let a path escape the directory the supervisor resolved and
    // checked; "." and empty components would make two spellings of one path.
    if (comp.empty() || comp == "." || comp == "..") return false;
    if (next == std::string_view::npos) return true;
    pos = next + 1;
  }
}

// Whether absolute `path` is `root` or lies beneath it, component-wise ("/a/bc" is not within
// "/a/b"). Both are normalized absolute paths; every root contains itself, "/" contains all.
inline bool is_within(std::string_view path, std::string_view root) {
  if (root == "/") return !path.empty() && path.front() == '/';
  if (!path.starts_with(root)) return false;
  return path.size() == root.size() || path[root.size()] == '/';
}

// An environment variable name: [A-Za-z_][A-Za-z0-9_]*
inline bool is_valid_env_key(std::string_view key) {
  auto alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (key.empty() || !alpha(key.front())) return false;
  for (char c : key)
    if (!alpha(c) && !digit(c)) return false;
  return true;
}

// A host as the proxy may ask for it: a DNS name (letters, digits, '-', '_' and '.'; labels of
// 1..63 bytes that neither start nor end with '-'; at most kMaxHostLen bytes; an optional
// trailing dot), an IPv4 dotted quad, or an IPv6 literal (inet_pton-parsable, no brackets, no
// zone). This is the receiver's grammar; the worker's parsers produce a stricter form (no
// '_', lower case, canonical addresses) and the policy decides on names it accepts.
inline bool is_valid_target_host(std::string_view host) {
  if (host.empty() || host.size() > kMaxHostLen) return false;
  if (host.find(':') != std::string_view::npos) {
    for (char c : host) {
      const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                      c == ':' || c == '.';
      if (!ok) return false;
    }
    in6_addr addr{};
    return ::inet_pton(AF_INET6, std::string(host).c_str(), &addr) == 1;
  }
  std::string_view name = host;
  if (name.back() == '.') name.remove_suffix(1);
  if (name.empty()) return false;
  std::size_t label = 0;
  for (std::size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      if (label == 0 || label > 63) return false;
      if (name[i - 1] == '-' || name[i - label] == '-') return false;
      label = 0;
      continue;
    }
    const char c = name[i];
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    c == '-' || c == '_';
    if (!ok) return false;
    ++label;
  }
  return true;
}

}  // namespace fence::ipc
