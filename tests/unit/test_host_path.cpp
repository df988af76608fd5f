// platform/host_path: files fence writes on the host are never reached through a symlink or a
// hard link that a sandboxed run could have planted.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "platform/host_path.hpp"
#include "tests/unit/child_process.hpp"
#include "tests/unit/temp_tree.hpp"

using namespace fence;
using namespace fence::platform;
using fence::testing::RunAs;
using fence::testing::TempTree;

namespace {

std::string slurp(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const HostPathError& e) {
    return e.what();
  }
  return "";
}

void append(const HostFile& file, const std::string& text) {
  REQUIRE(::write(file.fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size()));
}

}  // namespace

TEST_CASE("host files: a plain path is created with the mode and appended to", "[host_path]") {
  TempTree t("hostpath");
  HostFile f = open_host_file_for_append(t / "log.jsonl", 0600);
  append(f, "one\n");
  HostFile g = open_host_file_for_append(t / "log.jsonl", 0600);
  append(g, "two\n");
  CHECK(slurp(t / "log.jsonl") == "one\ntwo\n");
  CHECK(f.path == t / "log.jsonl");
  struct stat st {};
  REQUIRE(::stat((t / "log.jsonl").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  CHECK((::fcntl(f.fd.get(), F_GETFD) & FD_CLOEXEC) != 0);
  CHECK((::fcntl(f.fd.get(), F_GETFL) & O_NONBLOCK) == 0);
}

TEST_CASE("host files: symlinks a sandbox could have planted are never followed", "[host_path]") {
  TempTree t("hostpath");
  const std::string victim = t.write("home/.bashrc", "# rc\n");
  std::filesystem::create_directories(t / "outside");
  std::filesystem::create_directories(t / "project");
  std::filesystem::create_symlink(victim, t / "project/fence-audit.jsonl");
  std::filesystem::create_directory_symlink(t / "outside", t / "project/logs");
  for (RunAs as : fence::testing::kBothUsers) {
    // As uid 65534 the files must be reachable.
    if (as == RunAs::Nobody) {
      if (::geteuid() != 0) continue;  // the tree is already the test user's
      for (const auto& e : std::filesystem::recursive_directory_iterator(t.path()))
        REQUIRE(::lchown(e.path().c_str(), fence::testing::kNobody, fence::testing::kNobody) == 0);
      REQUIRE(::chown(t.path().c_str(), fence::testing::kNobody, fence::testing::kNobody) == 0);
    }
    const auto r = fence::testing::run_in_child(as, [&](fence::testing::Expect& expect) {
      const std::string last =
          error_of([&] { open_host_file_for_append(t / "project/fence-audit.jsonl", 0600); });
      expect.that(last.find("refusing to follow the symlink " + t / "project/fence-audit.jsonl") !=
                      std::string::npos,
                  "last-component symlink: " + last);
      const std::string dir =
          error_of([&] { open_host_file_for_append(t / "project/logs/a.jsonl", 0600); });
      expect.that(
          dir.find("refusing to follow the symlink " + t / "project/logs") != std::string::npos,
          "directory symlink: " + dir);
      // Relative spellings and ".." reach the same refusals.
      expect.that(::chdir((t / "project").c_str()) == 0, "chdir");
      expect.that(
          !error_of([&] { open_host_file_for_append("./logs/../logs/a.jsonl", 0600); }).empty(),
          "relative directory symlink");
      expect.that(!error_of([&] { open_host_file_for_append("fence-audit.jsonl", 0600); }).empty(),
                  "relative last component");
      expect.that(!error_of([&] { open_host_socket("logs/sock"); }).empty(), "socket path");
    });
    INFO(fence::testing::user_name(as));
    CHECK(fence::testing::failures_of(r) == "");
  }
  CHECK(slurp(victim) == "# rc\n");
  CHECK(std::filesystem::is_empty(t / "outside"));
}

TEST_CASE("host files: a symlink only root could make is followed, except by root", "[host_path]") {
  // /tmp/fence-hostpath-X (root, 0755)/link -> real/ ; real/ is where the file goes.
  if (::geteuid() != 0) {
    WARN("not root: no root-owned symlink to test with");
    return;
  }
  TempTree t("hostpath", "/tmp");
  REQUIRE(::chmod(t.path().c_str(), 0755) == 0);
  std::filesystem::create_directories(t / "real");
  REQUIRE(::chown((t / "real").c_str(), fence::testing::kNobody, fence::testing::kNobody) == 0);
  std::filesystem::create_directory_symlink("real", t / "link");
  const auto as_nobody =
      fence::testing::run_in_child(RunAs::Nobody, [&](fence::testing::Expect& expect) {
        HostFile f = open_host_file_for_append(t / "link/x.log", 0600);
        expect.that(f.fd.valid(), "opened through the root-owned link");
        expect.that(f.path == t / "real/x.log", "resolved path: " + f.path);
      });
  CHECK(fence::testing::failures_of(as_nobody) == "");
  CHECK(std::filesystem::exists(t / "real/x.log"));
  // Root's sandboxes can write root-owned directories: as root nothing is followed.
  CHECK_THAT(error_of([&] { open_host_file_for_append(t / "link/y.log", 0600); }),
             Catch::Contains("refusing to follow the symlink"));
  // A root-owned link in a directory others may write (/tmp itself) is not trusted either.
  REQUIRE(::chmod(t.path().c_str(), 01777) == 0);
  const auto sticky =
      fence::testing::run_in_child(RunAs::Nobody, [&](fence::testing::Expect& expect) {
        expect.that(!error_of([&] { open_host_file_for_append(t / "link/z.log", 0600); }).empty(),
                    "link in a world-writable directory followed");
      });
  CHECK(fence::testing::failures_of(sticky) == "");
}

TEST_CASE("host files: hard links, FIFOs and directories are refused", "[host_path]") {
  TempTree t("hostpath");
  const std::string victim = t.write("victim", "keep\n");
  REQUIRE(::link(victim.c_str(), (t / "audit.jsonl").c_str()) == 0);
  CHECK_THAT(error_of([&] { open_host_file_for_append(t / "audit.jsonl", 0600); }),
             Catch::Contains("2 hard links"));
  CHECK(slurp(victim) == "keep\n");
  REQUIRE(::mkfifo((t / "fifo").c_str(), 0600) == 0);
  CHECK_THAT(error_of([&] { open_host_file_for_append(t / "fifo", 0600); }),
             Catch::Contains("not a regular file"));  // and it did not block
  CHECK_THAT(error_of([&] { open_host_file_for_append(t.path(), 0600); }),
             Catch::Contains("Is a directory"));
  CHECK_THAT(error_of([&] { open_host_file_for_append(t / "sub/", 0600); }),
             Catch::Contains("names a directory"));
  CHECK_THAT(error_of([&] { open_host_file_for_append(t / "missing/x", 0600); }),
             Catch::Contains("No such file or directory"));
  CHECK_THAT(error_of([&] { open_host_file_for_append(t / "victim/x", 0600); }),
             Catch::Contains("Not a directory"));
  // A device node cannot be made inside a sandbox: /dev/null is fine.
  CHECK(open_host_file_for_append("/dev/null", 0600).fd.valid());
}

TEST_CASE("host files: /dev/fd/N and friends name fence's own descriptors", "[host_path]") {
  CHECK(inherited_fd_of("/dev/stdout") == 1);
  CHECK(inherited_fd_of("/dev/stderr") == 2);
  CHECK(inherited_fd_of("/dev/fd/63") == 63);
  CHECK(inherited_fd_of("/proc/self/fd/7") == 7);
  CHECK_FALSE(inherited_fd_of("/dev/fd/"));
  CHECK_FALSE(inherited_fd_of("/dev/fd/7x"));
  CHECK_FALSE(inherited_fd_of("/proc/1/fd/7"));
  CHECK_FALSE(inherited_fd_of("./dev/fd/7"));
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  HostFile f = open_host_file_for_append("/dev/fd/" + std::to_string(p[1]), 0600);
  CHECK(f.path.empty());
  append(f, "via pipe\n");
  char buf[32] = {};
  CHECK(::read(p[0], buf, sizeof buf) == 9);
  CHECK_THAT(error_of([&] { open_host_file_for_append("/dev/fd/" + std::to_string(p[0]), 0600); }),
             Catch::Contains("not open for writing"));
  ::close(p[0]);
  ::close(p[1]);
  CHECK_THAT(error_of([&] { open_host_file_for_append("/dev/fd/999", 0600); }),
             Catch::Contains("not an open descriptor"));
}
