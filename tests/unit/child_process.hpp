// Test scaffolding for checks that must not touch the test process: run a body in a forked
// child (as root, as uid 65534, or as root of a fresh user namespace), collect failed
// expectations there, and hand them to the parent through a pipe together with the wait status.
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>

namespace fence::testing {

enum class RunAs { Root, Nobody };
inline constexpr RunAs kBothUsers[] = {RunAs::Root, RunAs::Nobody};
inline constexpr uid_t kNobody = 65534;

inline const char* user_name(RunAs as) {
  return as == RunAs::Root ? "root" : "uid 65534";
}

// Collects failed expectations inside the child; the text travels to the parent via a pipe.
struct Expect {
  std::string failures;
  void that(bool cond, const std::string& what) {
    if (!cond) failures += what + "\n";
  }
  void fails_with(long rc, int err, const std::string& what) {
    const int saved = errno;
    if (rc != -1 || saved != err) {
      failures += what + ": expected " + std::strerror(err) + ", got rc=" + std::to_string(rc) +
                  " (" + std::strerror(saved) + ")\n";
    }
  }
  void succeeds(long rc, const std::string& what) {
    if (rc < 0) failures += what + " failed: " + std::strerror(errno) + "\n";
  }
};

// What a child wrote to its pipe, and its waitpid() status.
struct ChildResult {
  int status = 0;
  std::string failures;
};

// Drops to uid/gid 65534 without supplementary groups; "" on success, else what failed.
// The process stays dumpable so that /proc/self (uid_map, gid_map, ...) remains writable.
inline std::string drop_to_nobody() {
  if (::setgroups(0, nullptr) != 0 || ::setresgid(kNobody, kNobody, kNobody) != 0 ||
      ::setresuid(kNobody, kNobody, kNobody) != 0) {
    return std::string("drop to 65534: ") + std::strerror(errno);
  }
  ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  return "";
}

inline bool write_proc_file(const std::string& file, const std::string& text) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  const bool ok =
      fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  if (fd >= 0) ::close(fd);
  return ok;
}

// After unshare(CLONE_NEWUSER): maps uid and gid 0 of the new namespace to `outside`.
inline std::string map_root_to(uid_t outside) {
  const std::string map = "0 " + std::to_string(outside) + " 1";
  for (const auto& [file, text] : {std::pair<const char*, std::string>{"setgroups", "deny"},
                                   {"uid_map", map},
                                   {"gid_map", map}}) {
    if (!write_proc_file(std::string("/proc/self/") + file, text)) {
      return std::string("write /proc/self/") + file + ": " + std::strerror(errno);
    }
  }
  return "";
}

// uid 65534 becomes uid 0 with full capabilities in a new user namespace.
inline std::string enter_user_namespace_as_nobody() {
  if (std::string problem = drop_to_nobody(); !problem.empty()) return problem;
  if (::unshare(CLONE_NEWUSER) != 0) return std::string("unshare: ") + std::strerror(errno);
  return map_root_to(kNobody);
}

inline std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

// Forks; the child runs `child(write_fd)` and exits 0 if it returns (it may also exec). The
// parent gets everything written to the pipe and the wait status.
inline ChildResult fork_with_pipe(const std::function<void(int)>& child) {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    child(fds[1]);
    ::_exit(0);
  }
  ::close(fds[1]);
  ChildResult result;
  result.failures = read_all(fds[0]);
  ::close(fds[0]);
  ::waitpid(pid, &result.status, 0);
  return result;
}

// Runs `body` in a forked child, as `as`; exceptions count as failures.
inline ChildResult run_in_child(RunAs as, const std::function<void(Expect&)>& body) {
  return fork_with_pipe([&](int out) {
    Expect expect;
    try {
      if (as == RunAs::Nobody) {
        if (const std::string problem = drop_to_nobody(); !problem.empty()) {
          throw std::runtime_error(problem);
        }
      }
      body(expect);
    } catch (const std::exception& e) {
      expect.failures += std::string("exception: ") + e.what() + "\n";
    }
    (void)!::write(out, expect.failures.data(), expect.failures.size());
  });
}

// The child's failures, plus a note if it did not exit normally: "" means all went well.
inline std::string failures_of(const ChildResult& r) {
  std::string failures = r.failures;
  if (!WIFEXITED(r.status))
    failures += "child died with signal " + std::to_string(WTERMSIG(r.status));
  return failures;
}

inline void expect_clean_exit(const ChildResult& r) {
  CHECK(r.failures == "");
  CHECK(WIFEXITED(r.status));
}

// Forks a process that exits with fn()'s result (98 if it threw); -1 if fork failed.
inline pid_t fork_running(const std::function<int()>& fn) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    int code = 99;
    try {
      code = fn();
    } catch (...) {
      code = 98;
    }
    ::_exit(code);
  }
  return pid;
}

// Exit code of a process from fork_running(); 128 + signal if it was killed, -1 for no process.
inline int wait_exit_code(pid_t pid) {
  if (pid < 0) return -1;
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// From inside a child (no Catch assertions there): exit code of `fn` in a grandchild, for
// calls that would change the child itself.
inline int in_grandchild(const std::function<int()>& fn) {
  return wait_exit_code(fork_running(fn));
}

// From the test process: exit code of `fn` run in a forked child.
inline int exit_code_of(const std::function<int()>& fn) {
  const pid_t pid = fork_running(fn);
  REQUIRE(pid >= 0);
  return wait_exit_code(pid);
}

}  // namespace fence::testing
