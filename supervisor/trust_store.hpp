// The trust store: project configs (fence.jsonc / fence.json found by discovery) the user has
// reviewed, by canonical path and SHA-256 of their content. An unfamiliar repository must not
// widen its own sandbox by shipping a fence.json: a discovered file is used only when its exact
// bytes were trusted (`fence trust`), the direnv/mise convention.
//
// Stored as JSON in $XDG_STATE_HOME/fence/trust.json (default ~/.local/state/fence/), written
// by fence only through platform/host_path (no planted symlink is followed) and read-only
// inside every sandbox (launch_spec.cpp protects it).
//
// Trust: the store is fence's own file, but it is read as untrusted input all the same (size
// cap, strict JSON, every field checked): a corrupt store stops the run with exit 122.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace fence::supervisor {

struct TrustEntry {
  std::string path;    // canonical
  std::string sha256;  // of the file's bytes when trusted
};

// $XDG_STATE_HOME/fence/trust.json if XDG_STATE_HOME is absolute, else
// HOME/.local/state/fence/trust.json.
std::string trust_store_path(const std::string& home);

class TrustStore {
 public:
  // Reads the store at `path` (missing: empty). Throws ConfigError when it is not valid.
  static TrustStore load(const std::string& path);

  const std::vector<TrustEntry>& entries() const { return entries_; }

  // Throws ConfigError unless `text`, read from `path`, is trusted: the message names the file
  // and both ways on (fence trust PATH, or -s PATH).
  void check(const std::string& path, std::string_view text) const;

  // Records (or updates) `path` with the digest of `text`; removes `path`. Return whether
  // anything changed.
  bool trust(const std::string& path, std::string_view text);
  bool untrust(const std::string& path);

  // Writes the store back (mode 0600). Throws ConfigError.
  void save() const;

 private:
  std::string file_;
  std::vector<TrustEntry> entries_;
};

// A path's canonical form (symlinks resolved) when it exists, else the path as given.
std::string canonical_path(const std::string& path);
// The absolute form of `path` (against the working directory), "." and ".." resolved on the
// text alone: equal to canonical_path() exactly when no symlink is on the way.
std::string lexical_absolute(const std::string& path);
// `text` quoted for a POSIX shell ('...', a quote as '\''), for commands fence suggests.
std::string shell_quoted(std::string_view text);

}  // namespace fence::supervisor
