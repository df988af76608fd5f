#include "supervisor/trust_store.hpp"

#include <stdlib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "platform/host_path.hpp"
#include "supervisor/audit/sha256.hpp"
#include "supervisor/config/config.hpp"
#include "supervisor/policy/safe_text.hpp"

namespace fence::supervisor {

std::string trust_store_path(const std::string& home) {
  if (const char* state = std::getenv("XDG_STATE_HOME"); state && state[0] == '/')
    return std::string(state) + "/fence/trust.json";
  return home + "/.local/state/fence/trust.json";
}

std::string lexical_absolute(const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_relative()) {
    std::error_code ec;
    p = std::filesystem::current_path(ec) / p;
  }
  std::string out = p.lexically_normal().string();
  if (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

std::string shell_quoted(std::string_view text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string canonical_path(const std::string& path) {
  std::unique_ptr<char, decltype(&::free)> real(::realpath(path.c_str(), nullptr), &::free);
  return real ? std::string(real.get()) : path;
}

TrustStore TrustStore::load(const std::string& path) {
  TrustStore store;
  store.file_ = path;
  const std::optional<std::string> text = read_settings_file(path, true);
  if (!text) return store;
  const std::string bad = "trust store " + in_quotes(path) + " is not valid";
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("trusted") || !j["trusted"].is_array())
    throw ConfigError(bad + " (remove it and trust your project configs again)");
  for (const auto& e : j["trusted"]) {
    if (!e.is_object() || !e.contains("path") || !e.contains("sha256") || !e["path"].is_string() ||
        !e["sha256"].is_string())
      throw ConfigError(bad + ": an entry without path and sha256");
    const std::string file = e["path"].get<std::string>();
    const std::string digest = e["sha256"].get<std::string>();
    if (file.empty() || file[0] != '/' || digest.size() != 64 ||
        digest.find_first_not_of("0123456789abcdef") != std::string::npos)
      throw ConfigError(bad + ": an entry with a malformed path or sha256");
    store.entries_.push_back({file, digest});
  }
  return store;
}

void TrustStore::check(const std::string& path, std::string_view text) const {
  const std::string canonical = canonical_path(path);
  const std::string ways = "; review it, then run: fence trust " + shell_quoted(path) +
                           " (or name it explicitly: fence -s " + shell_quoted(path) + ")";
  // SECURITY: trust belongs to a file where it lies. A symlink (fence.jsonc -> another
  // project's trusted fence.json) must not carry that file's trust to this project.
  if (canonical != lexical_absolute(path))
    throw ConfigError(path + ": project config reached through a symlink (to " + canonical +
                      "); trust is given to files, not links: replace the link by the file, or "
                      "name it explicitly: fence -s " +
                      shell_quoted(path));
  const auto it = std::find_if(entries_.begin(), entries_.end(),
                               [&](const TrustEntry& e) { return e.path == canonical; });
  if (it == entries_.end())
    throw ConfigError(path +
                      ": project config found in the working directory or a parent is not "
                      "trusted (a repository must not widen its own sandbox)" +
                      ways);
  if (it->sha256 != sha256_hex(text))
    throw ConfigError(path + ": project config changed since it was trusted" + ways);
}

bool TrustStore::trust(const std::string& path, std::string_view text) {
  const std::string canonical = canonical_path(path);
  if (canonical != lexical_absolute(path))
    throw ConfigError(path + ": reached through a symlink (to " + canonical +
                      "); trust is given to files, not links: trust the file itself");
  const std::string digest = sha256_hex(text);
  for (TrustEntry& e : entries_) {
    if (e.path != canonical) continue;
    if (e.sha256 == digest) return false;
    e.sha256 = digest;
    return true;
  }
  entries_.push_back({canonical, digest});
  return true;
}

bool TrustStore::untrust(const std::string& path) {
  const std::string canonical = canonical_path(path);
  const auto before = entries_.size();
  std::erase_if(entries_,
                [&](const TrustEntry& e) { return e.path == canonical || e.path == path; });
  return entries_.size() != before;
}

void TrustStore::save() const {
  nlohmann::json j;
  j["version"] = 1;
  j["trusted"] = nlohmann::json::array();
  for (const TrustEntry& e : entries_)
    j["trusted"].push_back({{"path", e.path}, {"sha256", e.sha256}});
  try {
    platform::replace_host_file(file_, j.dump(2) + "\n", 0600);
  } catch (const platform::HostPathError& e) {
    throw ConfigError("cannot write the trust store: " + std::string(e.what()));
  }
}

}  // namespace fence::supervisor
