// The command's environment: sanitized (environment.hpp) and repaired to work inside.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>

#include "supervisor/config/environment.hpp"
#include "tests/unit/temp_tree.hpp"

namespace fence::supervisor {
namespace {

TEST_CASE("environment: loader variables and glibc's unsecure ones removed", "[environment]") {
  std::vector<std::string> removed;
  const auto env = sandbox_environment({"LD_PRELOAD=/x.so", "GLIBC_TUNABLES=a", "TMPDIR=/tmp/a",
                                        "FENCE_SANDBOX=0", "PATH=/bin", "1BAD=x", "A-B=y"},
                                       &removed);
  CHECK(env == std::vector<std::string>{"PATH=/bin", "FENCE_SANDBOX=1"});
  CHECK(removed ==
        std::vector<std::string>{"LD_PRELOAD", "GLIBC_TUNABLES", "TMPDIR", "1BAD", "A-B"});
}

TEST_CASE("environment: runtime and temporary directories made to work inside", "[environment]") {
  testing::TempTree tree("environment");
  const std::string root = tree.path();
  std::filesystem::create_directory(tree / "rt");
  std::filesystem::create_directory(tree / "tmp");
  const std::vector<std::string> writable = {root};
  std::vector<std::string> changes;
  std::vector<std::string> env = {"XDG_RUNTIME_DIR=" + root + "/rt"};
  repair_environment(env, root + "/tmp", writable, "/run/user/7", &changes);
  CHECK(env ==
        std::vector<std::string>{"XDG_RUNTIME_DIR=" + root + "/rt", "TMPDIR=" + root + "/tmp"});
  CHECK(changes ==
        std::vector<std::string>{"TMPDIR=" + root + "/tmp kept: a writable directory inside"});

  // Inside the writable root but missing, not normalized, relative or empty; or outside every
  // writable root: replaced, and said.
  for (const auto& [bad, roots] :
       std::vector<std::pair<std::string, std::vector<std::string>>>{{root + "/missing", writable},
                                                                     {root + "/rt/../rt", writable},
                                                                     {"rt", writable},
                                                                     {"", writable},
                                                                     {root + "/rt", {}},
                                                                     {"/nonexistent", writable}}) {
    env = {"XDG_RUNTIME_DIR=" + bad};
    changes.clear();
    repair_environment(env, bad, roots, "/run/user/7", &changes);
    CHECK(env == std::vector<std::string>{"XDG_RUNTIME_DIR=/run/user/7", "TMPDIR=/tmp"});
    CHECK(changes.size() == 2);
  }
  // The private runtime directory and /tmp are always usable; unset stays unset.
  env = {"XDG_RUNTIME_DIR=/run/user/7", "XDG_RUNTIME_DIRX=1"};
  changes.clear();
  repair_environment(env, std::string("/tmp"), {}, "/run/user/7", &changes);
  CHECK(env == std::vector<std::string>{"XDG_RUNTIME_DIR=/run/user/7", "XDG_RUNTIME_DIRX=1",
                                        "TMPDIR=/tmp"});
  CHECK(changes == std::vector<std::string>{"TMPDIR=/tmp kept: a writable directory inside"});
  env = {"PATH=/bin"};
  repair_environment(env, std::nullopt, writable, "/run/user/7", nullptr);
  CHECK(env == std::vector<std::string>{"PATH=/bin"});
}

}  // namespace
}  // namespace fence::supervisor
