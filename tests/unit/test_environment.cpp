// The command's environment: sanitized (environment.hpp) and repaired to work inside.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>

#include "supervisor/config/environment.hpp"
#include "tests/unit/temp_tree.hpp"

namespace fence::supervisor {
namespace {

bool has(const std::vector<std::string>& env, const std::string& entry) {
  return std::find(env.begin(), env.end(), entry) != env.end();
}

TEST_CASE("environment: loader variables removed, TMPDIR kept for the repair", "[environment]") {
  std::vector<std::string> removed;
  const auto env = sandbox_environment(
      {"LD_PRELOAD=/x.so", "GLIBC_TUNABLES=a", "TMPDIR=/tmp/a", "FENCE_SANDBOX=0", "PATH=/bin"},
      &removed);
  CHECK(has(env, "TMPDIR=/tmp/a"));
  CHECK(has(env, "PATH=/bin"));
  CHECK(has(env, "FENCE_SANDBOX=1"));
  CHECK_FALSE(has(env, "FENCE_SANDBOX=0"));
  CHECK(removed == std::vector<std::string>{"LD_PRELOAD", "GLIBC_TUNABLES"});
}

TEST_CASE("environment: runtime and temporary directories made to work inside", "[environment]") {
  testing::TempTree tree("environment");
  const std::string root = tree.path();
  std::filesystem::create_directory(tree / "rt");
  std::filesystem::create_directory(tree / "tmp");
  const std::vector<std::string> writable = {root};
  std::vector<std::string> changes;
  std::vector<std::string> env = {"XDG_RUNTIME_DIR=" + root + "/rt", "TMPDIR=" + root + "/tmp"};
  repair_environment(env, writable, "/run/user/7", &changes);
  CHECK(env ==
        std::vector<std::string>{"XDG_RUNTIME_DIR=" + root + "/rt", "TMPDIR=" + root + "/tmp"});
  CHECK(changes.empty());

  // Outside every writable root, missing, relative or not normalized: replaced, and said.
  for (const std::string& bad :
       {std::string("/nonexistent"), root + "/rt/../rt", std::string("rt"), std::string("")}) {
    env = {"XDG_RUNTIME_DIR=" + bad, "TMPDIR=" + bad};
    changes.clear();
    repair_environment(env, {}, "/run/user/7", &changes);
    CHECK(env == std::vector<std::string>{"XDG_RUNTIME_DIR=/run/user/7", "TMPDIR=/tmp"});
    CHECK(changes.size() == 2);
  }
  env = {"XDG_RUNTIME_DIR=" + root + "/rt"};
  repair_environment(env, {}, "/run/user/7", nullptr);
  CHECK(env == std::vector<std::string>{"XDG_RUNTIME_DIR=/run/user/7"});
  // The private runtime directory and /tmp are always usable; unset stays unset.
  env = {"XDG_RUNTIME_DIR=/run/user/7", "TMPDIR=/tmp", "XDG_RUNTIME_DIRX=1"};
  changes.clear();
  repair_environment(env, {}, "/run/user/7", &changes);
  CHECK(changes.empty());
  env = {"PATH=/bin"};
  repair_environment(env, writable, "/run/user/7", &changes);
  CHECK(env == std::vector<std::string>{"PATH=/bin"});
}

}  // namespace
}  // namespace fence::supervisor
