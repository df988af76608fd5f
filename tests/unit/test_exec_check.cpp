// Reading a notified process's memory (strings, argv arrays) with bounds, and the ExecCheck
// built from an execve's arguments: it always fits one IPC message.
#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cerrno>
#include <cstring>
#include <string>
#include <variant>
#include <vector>
#include "platform/process.hpp"

#include "child_process.hpp"
#include "ipc/dispatch.hpp"
#include "ipc/frame.hpp"
#include "ipc/messages.hpp"
#include "launcher/notify/exec_check.hpp"
#include "launcher/notify/process_memory.hpp"

namespace {

using fence::launcher::read_exec_check;
using fence::launcher::read_pointer_array;
using fence::launcher::read_string;

std::uint64_t addr(const void* p) {
  return reinterpret_cast<std::uint64_t>(p);
}

struct SelfMemory {
  fence::launcher::ProcessMemory fd = fence::launcher::ProcessMemory::open(::getpid());
};

// An execve notification as the kernel would fill it, pointing into this process.
seccomp_notif exec_request(const char* path, char* const* argv) {
  seccomp_notif req{};
  req.id = 1;
  req.pid = static_cast<std::uint32_t>(::getpid());
  req.data.nr = SCMP_SYS(execve);
  req.data.args[0] = addr(path);
  req.data.args[1] = addr(argv);
  return req;
}

}  // namespace

TEST_CASE("read_string reads up to a NUL, also at the edge of a mapping", "[exec_check]") {
  SelfMemory mem;
  REQUIRE(mem.fd.valid());
  int error = 0;
  const char text[] = "hello";
  CHECK(read_string(mem.fd, addr(text), 4096, error) == std::optional<std::string>("hello"));

  // Two pages, the second unmapped: a string ending at the end of the first still reads.
  const long page = ::sysconf(_SC_PAGESIZE);
  auto* map = static_cast<char*>(
      ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  REQUIRE(map != MAP_FAILED);
  REQUIRE(::munmap(map + page, page) == 0);
  char* edge = map + page - 4;
  std::memcpy(edge, "abc", 4);
  CHECK(read_string(mem.fd, addr(edge), 4096, error) == std::optional<std::string>("abc"));
  // Unterminated before the hole: EFAULT, as the kernel would say.
  std::memcpy(edge, "abcd", 4);
  CHECK_FALSE(read_string(mem.fd, addr(edge), 4096, error));
  CHECK(error == EFAULT);
  ::munmap(map, page);

  // Too long: ENAMETOOLONG; exactly the bound still reads.
  const std::string longer(100, 'x');
  CHECK_FALSE(read_string(mem.fd, addr(longer.c_str()), 10, error));
  CHECK(error == ENAMETOOLONG);
  const std::string exact(10, 'y');
  CHECK(read_string(mem.fd, addr(exact.c_str()), 10, error) == std::optional<std::string>(exact));
  CHECK_FALSE(read_string(fence::launcher::ProcessMemory(), addr(text), 10, error));
}

TEST_CASE("read_pointer_array stops at NULL and at the count bound", "[exec_check]") {
  SelfMemory mem;
  const char* a = "a";
  const char* b = "b";
  const char* argv[] = {a, b, a, nullptr};
  bool cut = false;
  auto p = read_pointer_array(mem.fd, addr(argv), 16, cut);
  REQUIRE(p);
  CHECK(p->size() == 3);
  CHECK((*p)[1] == addr(b));
  CHECK_FALSE(cut);
  p = read_pointer_array(mem.fd, addr(argv), 2, cut);
  REQUIRE(p);
  CHECK(p->size() == 2);
  CHECK(cut);
}

TEST_CASE("read_exec_check reads path and argv of an execve", "[exec_check]") {
  SelfMemory mem;
  const char* path = "/bin/sh";
  char* const argv[] = {const_cast<char*>("git"), const_cast<char*>("push"),
                        const_cast<char*>("origin"), nullptr};
  auto req = exec_request(path, argv);
  auto result = read_exec_check(req, mem.fd, "sh");
  REQUIRE(std::holds_alternative<fence::ipc::ExecCheck>(result));
  const auto& check = std::get<fence::ipc::ExecCheck>(result);
  CHECK(check.path == "/bin/sh");
  CHECK(check.argv == std::vector<std::string>{"git", "push", "origin"});
  CHECK(check.comm == "sh");
  CHECK(check.pid == static_cast<std::uint32_t>(::getpid()));

  // argv NULL: empty.
  auto empty = read_exec_check(exec_request(path, nullptr), mem.fd, "sh");
  REQUIRE(std::holds_alternative<fence::ipc::ExecCheck>(empty));
  CHECK(std::get<fence::ipc::ExecCheck>(empty).argv.empty());

  // A file that does not exist: answered at once, nothing to ask.
  auto missing = read_exec_check(exec_request("/nonexistent/git", argv), mem.fd, "sh");
  REQUIRE(std::holds_alternative<int>(missing));
  CHECK(std::get<int>(missing) == ENOENT);
  auto notdir = read_exec_check(exec_request("/etc/passwd/git", argv), mem.fd, "sh");
  REQUIRE(std::holds_alternative<int>(notdir));
  CHECK(std::get<int>(notdir) == ENOTDIR);

  // Unreadable pointers: the errno the kernel would give.
  auto bad = exec_request(path, argv);
  bad.data.args[0] = 8;
  auto fault = read_exec_check(bad, mem.fd, "sh");
  REQUIRE(std::holds_alternative<int>(fault));
  CHECK(std::get<int>(fault) == EFAULT);
}

TEST_CASE("read_exec_check reads a huge argv whole, and refuses what no execve carries",
          "[exec_check]") {
  SelfMemory mem;
  // 3000 file names, one 64 KiB script and a refused word at the very end.
  std::vector<std::string> storage(3000, "src/some/deep/path/file-name.c");
  storage[1] = std::string(64 * 1024, 'z');
  storage.push_back("push");
  std::vector<char*> argv;
  for (auto& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::string path = "/usr/bin";
  while (path.size() < 3990) path += "/.";
  path += "/true";
  auto req = exec_request(path.c_str(), argv.data());
  auto result = read_exec_check(req, mem.fd, "attacker");
  REQUIRE(std::holds_alternative<fence::ipc::ExecCheck>(result));
  auto check = std::get<fence::ipc::ExecCheck>(result);
  CHECK(check.argv == storage);  // every word, every byte
  check.id = 7;
  CHECK_FALSE(fence::ipc::validate(check));
  // Over a datagram: it travels as a large message.
  CHECK(fence::ipc::is_large_type(fence::ipc::MessageType::ExecCheck));
  const auto payload = fence::ipc::encode_payload(check, fence::ipc::kMaxLargePayload);
  CHECK(payload.size() > fence::ipc::kMaxPayload);
  CHECK(fence::ipc::decode_payload<fence::ipc::ExecCheck>(payload).argv == storage);

  // One string over MAX_ARG_STRLEN, or more than ARG_MAX in all: E2BIG, as from the kernel.
  std::string huge(fence::ipc::kMaxArgLen + 1, 'h');
  char* const too_long[] = {const_cast<char*>("echo"), huge.data(), nullptr};
  auto e2big = read_exec_check(exec_request(path.c_str(), too_long), mem.fd, "attacker");
  REQUIRE(std::holds_alternative<int>(e2big));
  CHECK(std::get<int>(e2big) == E2BIG);
  std::vector<std::string> big(60, std::string(fence::ipc::kMaxArgLen, 'b'));
  std::vector<char*> many;
  for (auto& s : big) many.push_back(s.data());
  many.push_back(nullptr);
  auto total = read_exec_check(exec_request(path.c_str(), many.data()), mem.fd, "attacker");
  REQUIRE(std::holds_alternative<int>(total));
  CHECK(std::get<int>(total) == E2BIG);
  // The longest string the kernel takes is read whole.
  std::string longest(fence::ipc::kMaxArgLen, 'l');
  char* const at_limit[] = {const_cast<char*>("echo"), longest.data(), nullptr};
  auto ok = read_exec_check(exec_request(path.c_str(), at_limit), mem.fd, "attacker");
  REQUIRE(std::holds_alternative<fence::ipc::ExecCheck>(ok));
  CHECK(std::get<fence::ipc::ExecCheck>(ok).argv[1] == longest);
}

TEST_CASE("read_comm and thread_group_of read this process", "[exec_check]") {
  CHECK(fence::platform::thread_group_of(::getpid()) == ::getpid());
  CHECK(fence::platform::thread_group_of(static_cast<pid_t>(::gettid())) == ::getpid());
  CHECK(fence::platform::thread_group_of(0) == -1);
  CHECK_FALSE(fence::launcher::read_comm(::getpid()).empty());
  CHECK(fence::launcher::read_comm(::getpid()).size() <= 16);
}

TEST_CASE("a non-dumpable process's memory is read without /proc/PID/mem", "[exec_check]") {
  using fence::testing::Expect;
  // ssh, ssh-agent and gpg-agent make themselves non-dumpable; their /proc/PID/mem then
  // belongs to root, which a user namespace of an unprivileged user does not map.
  for (auto as : fence::testing::kBothUsers) {
    INFO(fence::testing::user_name(as));
    fence::testing::expect_clean_exit(fence::testing::run_in_child(as, [&](Expect& expect) {
      expect.succeeds(::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl(PR_SET_DUMPABLE, 0)");
      const char text[] = "non-dumpable";
      auto mem = fence::launcher::ProcessMemory::open(::getpid());
      expect.that(mem.valid(), "memory opened");
      int error = 0;
      expect.that(read_string(mem, addr(text), 4096, error) == std::optional<std::string>(text),
                  "string read");
      char byte = 0;
      expect.that(mem.read(&byte, 1, 0) < 0, "address 0 unreadable");
    }));
  }
  // A process that is gone: nothing is read, whichever path is used.
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    ::pause();
    ::_exit(0);
  }
  auto mem = fence::launcher::ProcessMemory::open(child);
  REQUIRE(mem.valid());
  static const char text[] = "inherited";
  char buf[sizeof text] = {};
  CHECK(mem.read(buf, sizeof buf, addr(text)) == static_cast<ssize_t>(sizeof text));
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  CHECK(mem.read(buf, sizeof buf, addr(text)) <= 0);
}
