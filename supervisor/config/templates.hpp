// Built-in policy templates, embedded in the binary: `fence -t NAME`, `"extends": "NAME"`,
// `fence --list-templates`. Names and purposes follow the Go tool's; the content is ours (see
// docs/configuration.md, "Templates", for where it is narrower and why). Each is JSONC parsed by
// the same reader and checks as a user's file, with a comment per section saying why.
#pragma once

#include <string_view>
#include <vector>

namespace fence::supervisor {

struct PolicyTemplate {
  std::string_view name;
  std::string_view description;  // one line, for --list-templates
  std::string_view text;         // JSONC
};

const std::vector<PolicyTemplate>& builtin_templates();

// The template named `name` (a ".json" or ".jsonc" suffix is ignored), or nullptr.
const PolicyTemplate* find_template(std::string_view name);

}  // namespace fence::supervisor
