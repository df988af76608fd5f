// The notifier end to end, in a forked child playing init: a grandchild with the profile
// (report_violations + check_exec) writes where Landlock refuses, writes where it may, calls a
// denied syscall and execs twice; the child answers through the Notifier and refuses the
// first exec, allows the second.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "launcher/command_seccomp.hpp"
#include "launcher/notify/filesystem_guard.hpp"
#include "launcher/notify/notifier.hpp"
#include "launcher/notify/restricted_thread.hpp"
#include "platform/capabilities.hpp"
#include "platform/fd_passing.hpp"
#include "platform/landlock.hpp"
#include "temp_tree.hpp"

namespace {

using fence::launcher::FilesystemGuard;
using fence::launcher::Notifier;
using fence::launcher::NotifierSink;
using fence::launcher::RestrictedThread;
using fence::testing::Expect;
using fence::testing::expect_clean_exit;
using fence::testing::kBothUsers;
using fence::testing::run_in_child;
using fence::testing::RunAs;
using fence::testing::TempTree;
using fence::testing::user_name;

class RecordingSink final : public NotifierSink {
 public:
  void send_violation(const fence::ipc::Violation& v) override { violations.push_back(v); }
  void send_unix_connect(const fence::ipc::UnixConnect& c) override { connects.push_back(c); }
  void send_exec_check(const fence::ipc::ExecCheck& c) override { checks.push_back(c); }
  std::vector<fence::ipc::Violation> violations;
  std::vector<fence::ipc::UnixConnect> connects;
  std::vector<fence::ipc::ExecCheck> checks;
};

// The grandchild: filter, hand the listener over, then the attempts. Exit code: the number of
// the first attempt that did not go as expected (0: all did, and the last exec ran /bin/true).
[[noreturn]] void sandboxed(int sock, const std::string& denied, const std::string& allowed) {
  fence::platform::set_no_new_privs();
  auto listener =
      fence::launcher::install_seccomp_filter({.report_violations = true, .check_exec = true});
  fence::platform::send_fd(sock, listener.get());
  listener.reset();
  ::close(sock);
  int fd = ::open(denied.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0 || errno != EACCES) ::_exit(1);
  fd = ::open(allowed.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0 || ::write(fd, "ok", 2) != 2) ::_exit(2);
  ::close(fd);
  if (::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) != -1 || errno != EPERM) ::_exit(3);
  char* const argv[] = {const_cast<char*>("true"), const_cast<char*>("first"), nullptr};
  char* const envp[] = {nullptr};
  if (::execve("/bin/true", argv, envp) != -1 || errno != EPERM) ::_exit(4);
  char* const again[] = {const_cast<char*>("true"), const_cast<char*>("second"), nullptr};
  ::execve("/bin/true", again, envp);
  ::_exit(5);
}

// Plays init's loop for one process: answers its notifications (and runs `between` after each
// turn) until no process uses the filter any more, then reaps it. Bounded: 20 s.
template <typename Between>
int serve_until_exit(Notifier& notifier, pid_t pid, Between between) {
  bool exited = false;
  for (int round = 0; round < 2000 && !exited; ++round) {
    pollfd p{notifier.notify_fd(), POLLIN, 0};
    if (::poll(&p, 1, 10) > 0) {
      if (p.revents & POLLIN)
        notifier.handle_one();
      else if (p.revents & (POLLHUP | POLLERR))
        exited = true;  // nobody uses the filter
    }
    between();
  }
  if (!exited) ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

}  // namespace

TEST_CASE("notifier: refused writes and syscalls reported, execs asked and answered",
          "[notifier]") {
  const TempTree tree("notifier", "/tmp");
  ::chmod(tree.path().c_str(), 0777);
  const std::string rw = tree / "rw";
  ::mkdir(rw.c_str(), 0777);
  ::chmod(rw.c_str(), 0777);
  const std::string denied = tree / "denied.txt";
  const std::string allowed = rw + "/allowed.txt";
  fence::platform::LandlockPolicy policy;
  policy.paths = {{"/", fence::platform::PathAccess::Read},
                  {rw, fence::platform::PathAccess::Write}};
  policy.restrict_bind = policy.restrict_connect = false;

  for (RunAs as : kBothUsers) {
    INFO(user_name(as));
    ::unlink(allowed.c_str());
    expect_clean_exit(run_in_child(as, [&](Expect& expect) {
      // Like the sandbox's init: root of its own user namespace when unprivileged.
      if (as == RunAs::Nobody) {
        expect.succeeds(::unshare(CLONE_NEWUSER), "unshare(CLONE_NEWUSER)");
        const std::string problem = fence::testing::map_root_to(fence::testing::kNobody);
        expect.that(problem.empty(), problem);
      }
      RestrictedThread worker(policy);
      FilesystemGuard guard({}, {}, worker, nullptr, true);
      RecordingSink sink;
      int sv[2];
      expect.succeeds(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), "socketpair");
      const pid_t pid = ::fork();
      if (pid == 0) {
        ::close(sv[0]);
        sandboxed(sv[1], denied, allowed);
      }
      ::close(sv[1]);
      auto listener = fence::platform::receive_fd(sv[0]);
      ::close(sv[0]);
      expect.that(listener.valid(), "listener received");
      if (!listener) return;
      Notifier notifier(std::move(listener), {.report_violations = true, .check_exec = true},
                        &guard, sink);
      std::size_t answered = 0;
      const int status = serve_until_exit(notifier, pid, [&] {
        while (answered < sink.checks.size()) {
          const auto& check = sink.checks[answered];
          // Refuse the first exec, allow the second.
          expect.that(notifier.on_verdict({check.id, answered == 1}), "verdict for a pending id");
          ++answered;
        }
      });
      expect.that(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "grandchild: status " + std::to_string(status));
      expect.that(!notifier.on_verdict({999, true}), "unknown verdict id refused");
      expect.that(notifier.pending_execs() == 0, "nothing left pending");

      bool fs = false, sys = false;
      for (const auto& v : sink.violations) {
        if (v.kind == fence::ipc::ViolationKind::Filesystem && v.detail == denied &&
            v.operation == "create" && v.error == EACCES &&
            v.pid == static_cast<std::uint32_t>(pid))
          fs = true;
        if (v.kind == fence::ipc::ViolationKind::Syscall && v.operation == "ptrace" &&
            v.error == EPERM)
          sys = true;
        expect.that(v.detail != allowed, "the allowed write was not reported");
      }
      expect.that(fs, "the refused write was reported with its path");
      expect.that(sys, "the refused ptrace was reported");
      expect.that(sink.checks.size() == 2, "two execs asked about");
      if (sink.checks.size() == 2) {
        expect.that(sink.checks[0].path == "/bin/true", "exec path");
        expect.that(sink.checks[0].argv == std::vector<std::string>{"true", "first"}, "argv 1");
        expect.that(sink.checks[1].argv == std::vector<std::string>{"true", "second"}, "argv 2");
        expect.that(sink.checks[0].id != sink.checks[1].id, "distinct ids");
      }
    }));
    std::ifstream in(allowed);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(content == "ok");
    struct stat st {};
    CHECK(::lstat(denied.c_str(), &st) != 0);
  }
}

namespace {

class UnreachableSink final : public NotifierSink {
 public:
  void send_violation(const fence::ipc::Violation&) override {}
  void send_unix_connect(const fence::ipc::UnixConnect&) override {}
  void send_exec_check(const fence::ipc::ExecCheck&) override {
    throw std::runtime_error("supervisor gone");
  }
};

}  // namespace

TEST_CASE("notifier: with nobody to ask, an exec is refused", "[notifier]") {
  expect_clean_exit(run_in_child(RunAs::Nobody, [&](Expect& expect) {
    UnreachableSink sink;
    int sv[2];
    expect.succeeds(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), "socketpair");
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(sv[0]);
      fence::platform::set_no_new_privs();
      auto listener = fence::launcher::install_seccomp_filter({.check_exec = true});
      fence::platform::send_fd(sv[1], listener.get());
      listener.reset();
      char* const argv[] = {const_cast<char*>("true"), nullptr};
      ::execve("/bin/true", argv, argv);
      ::_exit(errno == EPERM ? 42 : 1);
    }
    ::close(sv[1]);
    auto listener = fence::platform::receive_fd(sv[0]);
    ::close(sv[0]);
    expect.that(listener.valid(), "listener received");
    if (!listener) return;
    Notifier notifier(std::move(listener), {.check_exec = true}, nullptr, sink);
    const int status = serve_until_exit(notifier, pid, [] {});
    expect.that(WIFEXITED(status) && WEXITSTATUS(status) == 42,
                "exec refused with EPERM: status " + std::to_string(status));
    expect.that(notifier.pending_execs() == 0, "nothing left pending");
  }));
}
