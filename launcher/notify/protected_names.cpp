#include "launcher/notify/protected_names.hpp"

#include <fnmatch.h>

#include "ipc/grammar.hpp"

namespace fence::launcher {
namespace {

struct Fit {
  bool whole = false;       // the pattern used up within the path (at or above its end)
  bool exact = false;       // ...exactly at its end
  bool path_ended = false;  // the path used up while the pattern still needs a component
};

// Matches pattern[pi..] against path[ci..], collecting every way it can fit. Patterns are short
// and hold at most a few `**`, so the search stays tiny.
void fit(const std::vector<std::string>& pattern, std::size_t pi,
         const std::vector<std::string>& path, std::size_t ci, Fit& out) {
  if (pi == pattern.size()) {
    out.whole = true;
    if (ci == path.size()) out.exact = true;
    return;
  }
  if (pattern[pi] == "**") {
    for (std::size_t k = ci; k <= path.size(); ++k) fit(pattern, pi + 1, path, k, out);
    return;
  }
  if (ci == path.size()) {
    out.path_ended = true;
    return;
  }
  if (::fnmatch(pattern[pi].c_str(), path[ci].c_str(), 0) == 0)
    fit(pattern, pi + 1, path, ci + 1, out);
}

// The pattern at any depth: from every component of the path on.
Fit fit_anywhere(const std::vector<std::string>& pattern, const std::vector<std::string>& path) {
  Fit out;
  for (std::size_t start = 0; start < path.size(); ++start) fit(pattern, 0, path, start, out);
  return out;
}

std::vector<std::vector<std::string>> parse(const std::vector<std::string>& patterns) {
  std::vector<std::vector<std::string>> out;
  for (const auto& p : patterns) out.push_back(split_components(p));
  return out;
}

}  // namespace

std::vector<std::string> split_components(std::string_view path) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    const std::size_t end = std::min(path.find('/', pos), path.size());
    if (end > pos) out.emplace_back(path.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

ProtectedNames::ProtectedNames(std::vector<std::string> roots,
                               const std::vector<std::string>& names,
                               const std::vector<std::string>& files,
                               const std::vector<std::string>& creatable, bool bare_repositories)
    : roots_(std::move(roots)),
      names_(parse(names)),
      files_(parse(files)),
      creatable_(parse(creatable)),
      bare_repositories_(bare_repositories) {}

NameVerdict ProtectedNames::classify(std::string_view path) const {
  NameVerdict v;
  // SECURITY: from the outermost root holding the path, so that a root nested in another
  // (`sub/.git` beside `.`) cannot hide names below it; and from that root's own name on, so
  // that a root inside a protected place (`repo/.git`) does not make it writable.
  const std::string* root = nullptr;
  for (const auto& r : roots_)
    if (ipc::is_within(path, r) && (!root || r.size() < root->size())) root = &r;
  if (!root) return v;
  v.in_writable_root = true;
  const std::size_t anchor = *root == "/" ? 0 : root->rfind('/');
  const std::vector<std::string> below = split_components(path.substr(anchor));
  if (below.empty()) return v;
  for (const auto& p : names_) {
    const Fit f = fit_anywhere(p, below);
    v.protected_tree |= f.whole;
    v.ancestor |= f.path_ended;
  }
  for (const auto& p : files_) {
    const Fit f = fit_anywhere(p, below);
    v.protected_file |= f.exact;
    v.ancestor |= f.path_ended;
  }
  for (const auto& p : creatable_) v.creatable |= fit_anywhere(p, below).exact;
  return v;
}

}  // namespace fence::launcher
