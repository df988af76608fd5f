#include "supervisor/policy/filesystem_rules.hpp"

#include <algorithm>
#include <utility>

#include "ipc/grammar.hpp"

namespace fence::supervisor {
namespace {

void sort_unique(std::vector<std::string>& list) {
  std::sort(list.begin(), list.end());
  list.erase(std::unique(list.begin(), list.end()), list.end());
}

}  // namespace

void settle_tiers(PathTiers& tiers) {
  sort_unique(tiers.hidden);
  // Sorted order puts a directory right before its descendants: keep only outermost entries.
  std::vector<std::string> outermost;
  for (std::string& h : tiers.hidden) {
    if (outermost.empty() || !ipc::is_within(h, outermost.back())) {
      outermost.push_back(std::move(h));
    }
  }
  tiers.hidden = std::move(outermost);
  // SECURITY-RULES 9: nothing may be bound at or beneath a hidden path, or it would re-expose
  // what denyRead masks.
  auto under_hidden = [&tiers](const std::string& p) {
    return std::any_of(tiers.hidden.begin(), tiers.hidden.end(),
                       [&](const std::string& h) { return ipc::is_within(p, h); });
  };
  for (std::vector<std::string>* list :
       {&tiers.readable, &tiers.executable, &tiers.writable, &tiers.read_only}) {
    sort_unique(*list);
    list->erase(std::remove_if(list->begin(), list->end(), under_hidden), list->end());
  }
  sort_unique(tiers.creatable);
  auto within_any = [](const std::string& p, const std::vector<std::string>& roots) {
    return std::any_of(roots.begin(), roots.end(),
                       [&](const std::string& r) { return ipc::is_within(p, r); });
  };
  std::vector<std::string> creatable;
  for (std::string& c : tiers.creatable) {
    if (under_hidden(c) || within_any(c, tiers.writable) || within_any(c, tiers.read_only))
      continue;
    if (!creatable.empty() && ipc::is_within(c, creatable.back())) continue;
    creatable.push_back(std::move(c));
  }
  tiers.creatable = std::move(creatable);
}

ProtectedNamePatterns protected_name_patterns(bool allow_git_config) {
  ProtectedNamePatterns out;
  for (std::string_view name : kAlwaysProtectedNames) out.names.emplace_back(name);
  for (std::string_view name : kProtectedGitNames) out.names.emplace_back(name);
  if (!allow_git_config)
    for (std::string_view name : kProtectedGitConfigNames) out.names.emplace_back(name);
  for (std::string_view name : kProtectedFileNames) out.files.emplace_back(name);
  for (std::string_view name : kCreatableProtectedNames) out.creatable.emplace_back(name);
  out.bare_repositories = !allow_git_config;
  return out;
}

}  // namespace fence::supervisor
