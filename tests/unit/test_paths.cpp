// Path normalization: "~", relative paths, "." / "..", trailing slashes, symlink resolution.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <string>

#include "ipc/grammar.hpp"
#include "supervisor/config/paths.hpp"
#include "temp_tree.hpp"

namespace fs = std::filesystem;
using fence::ipc::is_within;
using fence::supervisor::absolute_path;
using fence::supervisor::lexically_normalize;
using fence::supervisor::normalize_path;
using fence::supervisor::resolve_path;
using fence::supervisor::validate_path_syntax;
using fence::testing::TempTree;

namespace {

std::string invalid_reason(const std::string& raw) {
  try {
    normalize_path(raw, "/work", "/home/u");
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  FAIL("expected std::invalid_argument for " << raw);
  return {};
}

}  // namespace

TEST_CASE("paths: lexical normalization", "[paths]") {
  CHECK(lexically_normalize("/") == "/");
  CHECK(lexically_normalize("//") == "/");
  CHECK(lexically_normalize("/a/b/") == "/a/b");
  CHECK(lexically_normalize("/a//b///") == "/a/b");
  CHECK(lexically_normalize("/a/./b/.") == "/a/b");
  CHECK(lexically_normalize("/a/b/../c") == "/a/c");
  CHECK(lexically_normalize("/../..") == "/");
  CHECK(lexically_normalize("/a/../../b") == "/b");
}

TEST_CASE("paths: ~, relative and absolute inputs (no filesystem needed)", "[paths]") {
  // /nonexistent-fence-* does not exist, so nothing is resolved and results are lexical.
  const std::string cwd = "/nonexistent-fence-cwd/proj";
  const std::string home = "/nonexistent-fence-home/u";
  CHECK(normalize_path("~", cwd, home) == home);
  CHECK(normalize_path("~/", cwd, home) == home);
  CHECK(normalize_path("~/.ssh/", cwd, home) == home + "/.ssh");
  CHECK(normalize_path(".", cwd, home) == cwd);
  CHECK(normalize_path("./", cwd, home) == cwd);
  CHECK(normalize_path("build", cwd, home) == cwd + "/build");
  CHECK(normalize_path("build///", cwd, home) == cwd + "/build");
  CHECK(normalize_path("../other", cwd, home) == "/nonexistent-fence-cwd/other");
  CHECK(normalize_path("a/../../../../x", cwd, home) == "/x");
  CHECK(normalize_path("/nonexistent-fence-x/./y/../z/", cwd, home) == "/nonexistent-fence-x/z");
  CHECK(normalize_path("~/../v", cwd, home) == "/nonexistent-fence-home/v");
  CHECK(absolute_path("./a~b", cwd, home) == cwd + "/a~b");
  CHECK(absolute_path("/", cwd, home) == "/");
}

TEST_CASE("paths: invalid inputs throw with a clear message", "[paths]") {
  CHECK(invalid_reason("") == "path is empty");
  CHECK(invalid_reason(std::string("/a\0b", 4)) == "path contains a NUL byte");
  CHECK(invalid_reason("~bob") ==
        "\"~user\" paths are not supported; use \"~/...\" or an absolute path: \"~bob\"");
  CHECK(invalid_reason("~bob/x").find("~user") != std::string::npos);
  CHECK(invalid_reason("a/*/../b") ==
        "\"..\" after a glob component is not supported: \"a/*/../b\"");
  CHECK_NOTHROW(validate_path_syntax("../*/b"));
  CHECK_THROWS_AS(normalize_path("~/x", "/work", ""), std::invalid_argument);
  CHECK_THROWS_AS(normalize_path("x", "relative-cwd", "/home/u"), std::invalid_argument);
  CHECK_THROWS_WITH(normalize_path("x", "", "/home/u"),
                    "cannot resolve relative path \"x\": working directory is not an absolute "
                    "path");
}

TEST_CASE("paths: symlinks are resolved for the existing prefix", "[paths]") {
  const TempTree t("paths");
  fs::create_directories(t / "real/sub");
  fs::create_directory_symlink(t / "real", t / "abs-link");    // absolute target
  fs::create_directory_symlink("real/sub", t / "rel-link");    // relative target
  fs::create_directory_symlink("..", t / "real/sub/up-link");  // ".." as the target
  fs::create_symlink("chain2", t / "chain1");
  fs::create_symlink("real", t / "chain2");
  fs::create_symlink("missing-target", t / "dangling");
  t.write("real/file", "x");

  const std::string home = "/nonexistent-home";
  CHECK(normalize_path(t / "abs-link", "/", home) == t / "real");
  CHECK(normalize_path(t / "abs-link/sub/", "/", home) == t / "real/sub");
  CHECK(normalize_path("rel-link", t.path(), home) == t / "real/sub");
  CHECK(normalize_path(t / "rel-link/up-link/file", "/", home) == t / "real/file");
  CHECK(normalize_path(t / "chain1/sub", "/", home) == t / "real/sub");
  // A missing tail is kept as written, after the resolved existing prefix.
  CHECK(normalize_path(t / "abs-link/new/dir", "/", home) == t / "real/new/dir");
  CHECK(normalize_path(t / "dangling/x", "/", home) == t / "missing-target/x");
  // A path through a regular file keeps the rest lexically (ENOTDIR is "does not exist").
  CHECK(normalize_path(t / "real/file/x", "/", home) == t / "real/file/x");
  // ".." is lexical on the input, as documented: abs-link/.. is the temp dir, not real/..
  CHECK(normalize_path(t / "rel-link/..", "/", home) == t.path());
  // "~" goes through the same resolution.
  CHECK(normalize_path("~/sub", "/", t / "abs-link") == t / "real/sub");

  const auto resolved = resolve_path(t / "chain1/sub", "/", home);
  CHECK(resolved.path == t / "real/sub");
  CHECK(resolved.symlinks == std::vector<std::string>{t / "chain1", t / "chain2"});
  CHECK(resolve_path(t / "real/sub", "/", home).symlinks.empty());
}

TEST_CASE("paths: symlink loops are errors", "[paths]") {
  const TempTree t("paths");
  fs::create_symlink("loop-b", t / "loop-a");
  fs::create_symlink("loop-a", t / "loop-b");
  fs::create_symlink("self", t / "self");
  CHECK_THROWS_WITH(normalize_path(t / "loop-a/x", "/", "/h"),
                    Catch::StartsWith("too many levels of symbolic links"));
  CHECK_THROWS_AS(normalize_path(t / "self", "/", "/h"), std::invalid_argument);
}

TEST_CASE("paths: is_within compares whole components", "[paths]") {
  CHECK(is_within("/a/b", "/a/b"));
  CHECK(is_within("/a/b/c", "/a/b"));
  CHECK_FALSE(is_within("/a/bc", "/a/b"));
  CHECK_FALSE(is_within("/a", "/a/b"));
  CHECK(is_within("/anything", "/"));
  CHECK(is_within("/", "/"));
}
