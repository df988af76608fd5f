// load_config: -s file, ~/.fence.json lookup, embedded default, file-level errors.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <string>

#include "supervisor/config/config.hpp"
#include "temp_tree.hpp"

namespace fs = std::filesystem;
using fence::supervisor::ConfigError;
using fence::supervisor::load_config;
using fence::testing::TempTree;

namespace {

std::string load_error(const std::optional<std::string>& settings, const std::string& home) {
  try {
    load_config(settings, home);
  } catch (const ConfigError& e) {
    return e.what();
  }
  FAIL("expected a ConfigError");
  return {};
}

}  // namespace

TEST_CASE("load: an explicit settings file is used", "[config][load]") {
  const TempTree h("load");
  h.write(".fence.json", R"({"allowPty": false})");
  const std::string file = h.write("my.json", R"({"network": {"allowedDomains": ["a.com"]}})");
  const auto c = load_config(file, h.path());
  CHECK(c.network.allowed_domains == std::vector<std::string>{"a.com"});
  CHECK(c.source_path == file);
}

TEST_CASE("load: a missing explicit settings file is an error", "[config][load]") {
  const TempTree h("load");
  CHECK(load_error(h.path() + "/nope.json", h.path()) ==
        "settings file not found: \"" + h.path() + "/nope.json\"");
  CHECK(load_error(h.path() + "/nodir/x.json", h.path()) ==
        "settings file not found: \"" + h.path() + "/nodir/x.json\"");
  CHECK(load_error(std::string(), h.path()) == "settings file path is empty");
}

TEST_CASE("load: ~/.fence.json is used when present, else the default", "[config][load]") {
  const TempTree h("load");
  SECTION("absent -> embedded default") {
    const auto c = load_config(std::nullopt, h.path());
    CHECK_FALSE(c.source_path.has_value());
    CHECK(c.network.allowed_domains.empty());
    CHECK(c.filesystem.allow_write.empty());
  }
  SECTION("present -> used") {
    const std::string file = h.write(".fence.json", R"({"allowPty": true})");
    const auto c = load_config(std::nullopt, h.path());
    CHECK(c.allow_pty);
    CHECK(c.source_path == file);
  }
  SECTION("empty home -> default") {
    CHECK_FALSE(load_config(std::nullopt, "").source_path.has_value());
  }
  SECTION("errors name the file") {
    h.write(".fence.json", "{\n  \"allowPty\": 1\n}");
    CHECK(load_error(std::nullopt, h.path()) ==
          h.path() + "/.fence.json:2:15: allowPty: expected true or false, found number");
  }
}

TEST_CASE("load: files that are not regular, too large or unreadable", "[config][load]") {
  const TempTree h("load");
  CHECK(load_error(h.path(), h.path()) ==
        "settings file is not a regular file: \"" + h.path() + "\"");
  const std::string fifo = h.path() + "/fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK(load_error(fifo, h.path()) == "settings file is not a regular file: \"" + fifo + "\"");

  const std::string big = h.write("big.json", "{}" + std::string(1024 * 1024, ' '));
  CHECK(load_error(big, h.path()) == "settings file is larger than 1 MiB: \"" + big + "\"");
  const std::string just_fits = h.write("fits.json", "{}" + std::string(1024 * 1024 - 2, ' '));
  CHECK_NOTHROW(load_config(just_fits, h.path()));

  if (::geteuid() != 0) {  // root reads mode-000 files anyway
    const std::string locked = h.write("locked.json", "{}");
    ::chmod(locked.c_str(), 0);
    CHECK(load_error(locked, h.path()) ==
          "cannot open settings file " + locked + ": Permission denied");
  }
  // A directory at ~/.fence.json is an error, not a silent fallback to the default.
  fs::create_directory(h.path() + "/.fence.json");
  CHECK(load_error(std::nullopt, h.path()) ==
        "settings file is not a regular file: \"" + h.path() + "/.fence.json\"");
}
