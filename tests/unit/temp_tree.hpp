// Test scaffolding: a fresh temporary directory tree, removed with everything in it at scope exit.
#pragma once

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

namespace fence::testing {

// Writes `content` to `file` (binary, replacing it), creating missing parent directories.
inline void write_file(const std::string& file, const std::string& content = "") {
  std::filesystem::create_directories(std::filesystem::path(file).parent_path());
  std::ofstream(file, std::ios::binary) << content;
}

// <base>/fence-<tag>-XXXXXX made by mkdtemp (mode 0700). path() is canonical: no symlinks.
// base defaults to $TMPDIR (or /tmp); pass "/tmp" where other users must reach the tree.
class TempTree {
 public:
  explicit TempTree(const std::string& tag = "test",
                    const std::filesystem::path& base = std::filesystem::temp_directory_path()) {
    std::string tmpl = (base / ("fence-" + tag + "-XXXXXX")).string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = std::filesystem::canonical(tmpl).string();
  }
  ~TempTree() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempTree(const TempTree&) = delete;
  TempTree& operator=(const TempTree&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

  // Writes `content` to path()/rel, creating parent directories; returns the file's path.
  std::string write(const std::string& rel, const std::string& content = "") const {
    const std::string file = *this / rel;
    write_file(file, content);
    return file;
  }

 private:
  std::string path_;
};

}  // namespace fence::testing
