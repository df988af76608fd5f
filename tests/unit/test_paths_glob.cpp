// Globs: the matching table, and expansion over a real temporary tree.
#include <catch2/catch.hpp>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "supervisor/config/paths.hpp"
#include "temp_tree.hpp"

namespace fs = std::filesystem;
using fence::supervisor::expand_glob;
using fence::supervisor::glob_literal_prefix;
using fence::supervisor::glob_match;
using fence::supervisor::has_glob;
using fence::testing::TempTree;

namespace {

// A file whose content is its own relative name.
void add_file(const TempTree& t, const std::string& rel) {
  t.write(rel, rel);
}

}  // namespace

TEST_CASE("glob: has_glob and literal prefix", "[paths][glob]") {
  CHECK(has_glob("*.key"));
  CHECK(has_glob("a?c"));
  CHECK_FALSE(has_glob("/plain/path[1]{x}"));
  CHECK(glob_literal_prefix("/a/b/*.key") == "/a/b");
  CHECK(glob_literal_prefix("/a/**/x/*.key") == "/a");
  CHECK(glob_literal_prefix("/*/x") == "/");
  CHECK(glob_literal_prefix("/a/b") == "/a/b");
}

TEST_CASE("glob: matching table", "[paths][glob]") {
  struct Row {
    const char* pattern;
    const char* path;
    bool match;
  };
  const Row rows[] = {
      // '*' stays inside one component
      {"/a/*.key", "/a/x.key", true},
      {"/a/*.key", "/a/.key", true},
      {"/a/*.key", "/a/.hidden.key", true},  // '*' matches dotfiles
      {"/a/*.key", "/a/b/x.key", false},
      {"/a/*", "/a", false},
      {"/a/*", "/a/b", true},
      {"/a/*", "/a/b/c", false},
      {"/*", "/etc", true},
      {"/a*c/d", "/abc/d", true},
      {"/a*c/d", "/ab/c/d", false},
      {"/a/*b*c*", "/a/xbyc", true},
      {"/a/*b*c*", "/a/xcyb", false},
      // '?' is exactly one character, never '/'
      {"/a/?.txt", "/a/b.txt", true},
      {"/a/?.txt", "/a/.txt", false},
      {"/a/?.txt", "/a/bc.txt", false},
      {"/a?b", "/a/b", false},
      {"/a/?", "/a/\xC3\xA9", true},  // one UTF-8 character
      // '**' = zero or more whole components, anywhere
      {"src/**/*.key", "src/a.key", true},
      {"src/**/*.key", "src/x/a.key", true},
      {"src/**/*.key", "src/x/y/a.key", true},
      {"src/**/*.key", "src/x/y/a.pem", false},
      {"src/**/*.key", "other/a.key", false},
      {"/h/**/.git/hooks", "/h/.git/hooks", true},
      {"/h/**/.git/hooks", "/h/p/q/.git/hooks", true},
      {"/h/**/.git/hooks", "/h/p/q/.git/hooks/pre-commit", false},
      {"/h/**", "/h", true},
      {"/h/**", "/h/a/b/c", true},
      {"/**/id_rsa", "/id_rsa", true},
      {"/**/id_rsa", "/home/u/.ssh/id_rsa", true},
      {"**", "a/b", true},
      {"/a/**/b/**/c", "/a/b/c", true},
      {"/a/**/b/**/c", "/a/x/b/y/z/c", true},
      {"/a/**/b/**/c", "/a/x/y/c", false},
      {"/a/x**y/z", "/a/xqqy/z", true},  // '**' inside a component acts as '*'
      {"/a/x**y/z", "/a/x/y/z", false},
      // literal parts, absolute vs relative, trailing slashes
      {"/a/b", "/a/b", true},
      {"/a/b/", "/a/b", true},
      {"/a/b", "/a/b/", true},
      {"/a/b", "a/b", false},
      {"a/*", "/a/b", false},
      {"/a/[b]", "/a/[b]", true},  // brackets are literal
      {"/a/[b]", "/a/b", false},
      {"/a/b", "/a/bc", false},
  };
  for (const Row& row : rows) {
    INFO(row.pattern << " vs " << row.path);
    CHECK(glob_match(row.pattern, row.path) == row.match);
  }
}

TEST_CASE("glob: pathological patterns stay fast", "[paths][glob]") {
  const std::string name(200, 'a');
  CHECK_FALSE(glob_match("/*a*a*a*a*a*a*a*a*a*a*a*b", "/" + name));
  std::string deep_pattern;
  std::string deep_path;
  for (int i = 0; i < 50; ++i) {
    deep_pattern += "/**/a";
    deep_path += "/a";
  }
  CHECK_FALSE(glob_match(deep_pattern + "/b", deep_path));
  CHECK(glob_match(deep_pattern, deep_path));
}

TEST_CASE("glob: expansion over a temporary tree", "[paths][glob]") {
  const TempTree t("glob");
  add_file(t, "src/a.key");
  add_file(t, "src/b.txt");
  add_file(t, "src/x/c.key");
  add_file(t, "src/x/y/d.key");
  add_file(t, "src/.hidden.key");
  add_file(t, "outside/secret.key");
  fs::create_directory_symlink(t / "outside", t / "src/link-dir");
  fs::create_symlink(t / "outside/secret.key", t / "src/x/link.key");

  SECTION("'**' in the middle, no descent into symlinked directories") {
    CHECK(expand_glob(t / "src/**/*.key", 100) ==
          std::vector<std::string>{t / "src/.hidden.key", t / "src/a.key", t / "src/x/c.key",
                                   t / "src/x/link.key", t / "src/x/y/d.key"});
  }
  SECTION("'*' in one component") {
    CHECK(expand_glob(t / "src/*.key", 100) ==
          std::vector<std::string>{t / "src/.hidden.key", t / "src/a.key"});
    CHECK(expand_glob(t / "*/x", 100) == std::vector<std::string>{t / "src/x"});
  }
  SECTION("'?' and literal components after a glob") {
    CHECK(expand_glob(t / "src/?/y/d.key", 100) == std::vector<std::string>{t / "src/x/y/d.key"});
    CHECK(expand_glob(t / "src/?/nope", 100).empty());
  }
  SECTION("a symlinked directory can match but is not entered") {
    CHECK(expand_glob(t / "src/link-*", 100) == std::vector<std::string>{t / "src/link-dir"});
    CHECK(expand_glob(t / "src/link-*/*.key", 100).empty());
  }
  SECTION("trailing '**' includes the directory itself") {
    const auto all = expand_glob(t / "src/x/**", 100);
    CHECK(all == std::vector<std::string>{t / "src/x", t / "src/x/c.key", t / "src/x/link.key",
                                          t / "src/x/y", t / "src/x/y/d.key"});
  }
  SECTION("literal patterns and missing bases") {
    CHECK(expand_glob(t / "src/a.key", 100) == std::vector<std::string>{t / "src/a.key"});
    CHECK(expand_glob(t / "src/none", 100).empty());
    CHECK(expand_glob(t / "missing/**/*.key", 100).empty());
  }
  SECTION("the result cap throws") {
    CHECK_THROWS_WITH(expand_glob(t / "src/**/*.key", 3),
                      Catch::Contains("matches more than 3 paths"));
  }
  SECTION("bad patterns") {
    CHECK_THROWS_AS(expand_glob("relative/*.key", 10), std::invalid_argument);
    CHECK_THROWS_AS(expand_glob(std::string("/a\0/*", 5), 10), std::invalid_argument);
  }
}

TEST_CASE("glob: the visit cap throws instead of walking forever", "[paths][glob]") {
  const TempTree t("glob");
  for (int i = 0; i < 30; ++i) add_file(t, "d" + std::to_string(i / 10) + "/f" + std::to_string(i));
  CHECK(expand_glob(t / "**/nothing", 10, 33).empty());  // 3 dirs + 30 files
  CHECK_THROWS_WITH(expand_glob(t / "**/nothing", 10, 32),
                    Catch::Contains("visits more than 32 filesystem entries; use a narrower "
                                    "pattern"));
  CHECK(fence::supervisor::kMaxGlobEntriesVisited == 100000);
}
