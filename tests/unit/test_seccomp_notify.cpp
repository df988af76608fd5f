// Which syscalls the seccomp profile sends to its user-notification listener, per option. Each
// check runs in a forked child: a thread started before the filter (so it is not filtered)
// answers the listener and records what it saw, the main thread makes the calls.
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cerrno>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "launcher/command_seccomp.hpp"
#include "platform/capabilities.hpp"
#include "temp_tree.hpp"

namespace {

using fence::launcher::classify_notified_syscall;
using fence::launcher::install_seccomp_filter;
using fence::launcher::NotifiedSyscall;
using fence::launcher::refusal_errno;
using fence::launcher::SeccompOptions;
using fence::testing::Expect;
using fence::testing::expect_clean_exit;
using fence::testing::kBothUsers;
using fence::testing::run_in_child;
using fence::testing::RunAs;
using fence::testing::TempTree;
using fence::testing::user_name;

// What a notified call returns in these tests (anything the real calls never return).
constexpr int kNotifiedErrno = EHOSTDOWN;

// Answers the listener from a thread that is not filtered: refusals with the profile's errno,
// everything else with kNotifiedErrno. Records the syscall numbers it saw.
class Answerer {
 public:
  Answerer() : thread_([this] { run(); }) {}
  ~Answerer() {
    if (!started_) listener_.set_value(-1);
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  void start(int listener) {
    started_ = true;
    listener_.set_value(listener);
  }
  bool saw(long nr) {
    std::lock_guard lock(mutex_);
    return std::find(seen_.begin(), seen_.end(), static_cast<int>(nr)) != seen_.end();
  }

 private:
  void run() {
    const int fd = listener_.get_future().get();
    if (fd < 0) return;
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0 || !(p.revents & POLLIN)) continue;
      seccomp_notif req{};
      if (::ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) continue;
      {
        std::lock_guard lock(mutex_);
        seen_.push_back(req.data.nr);
      }
      seccomp_notif_resp resp{};
      resp.id = req.id;
      const int refusal = refusal_errno(req.data.nr);
      resp.error = -(refusal ? refusal : kNotifiedErrno);
      ::ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
    }
  }

  std::promise<int> listener_;
  bool started_ = false;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<int> seen_;
  std::thread thread_;
};

// Loads the profile on this (single) filtered thread, the answerer serving its listener.
void filter_with(Answerer& answerer, const SeccompOptions& options) {
  fence::platform::set_no_new_privs();
  auto listener = install_seccomp_filter(options);
  answerer.start(listener.release());
}

// A second filter asking for its own listener: EBUSY when the chain already has one.
long add_listener_filter() {
  sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  sock_fprog prog{1, &allow};
  return ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
}

long open_with(const std::string& path, int flags) {
  const long fd = ::syscall(SYS_openat, AT_FDCWD, path.c_str(), flags, 0644);
  if (fd >= 0) ::close(static_cast<int>(fd));
  return fd;
}

}  // namespace

TEST_CASE("seccomp: no listener and no notification without options", "[seccomp][notify]") {
  for (RunAs as : kBothUsers) {
    INFO(user_name(as));
    expect_clean_exit(run_in_child(as, [&](Expect& expect) {
      fence::platform::set_no_new_privs();
      auto listener = install_seccomp_filter({});
      expect.that(!listener, "no listener fd returned");
      // The chain has no listener: a later filter may still ask for one.
      const long fd = add_listener_filter();
      expect.succeeds(fd, "a later NEW_LISTENER filter is accepted");
    }));
  }
}

TEST_CASE("seccomp report_violations: EPERM refusals and writes notified, reads not",
          "[seccomp][notify]") {
  const TempTree tree("notify", "/tmp");
  const std::string file = tree / "file";
  fence::testing::write_file(file, "x");
  ::chmod(tree.path().c_str(), 0777);
  ::chmod(file.c_str(), 0666);
  for (RunAs as : kBothUsers) {
    INFO(user_name(as));
    expect_clean_exit(run_in_child(as, [&](Expect& expect) {
      Answerer answerer;
      filter_with(answerer, {.report_violations = true});
      expect.fails_with(add_listener_filter(), EBUSY, "the chain already has a listener");
      // Reads stay in the kernel.
      expect.succeeds(open_with(file, O_RDONLY), "read-only open");
      expect.succeeds(open_with(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), "read-only open, flags");
      expect.that(!answerer.saw(SYS_openat), "read-only opens were not notified");
      // Write intent goes to the listener, whichever flag carries it.
      for (int flags :
           {O_WRONLY, O_RDWR, O_RDONLY | O_CREAT, O_RDONLY | O_TRUNC, O_WRONLY | O_APPEND})
        expect.fails_with(open_with(file, flags), kNotifiedErrno,
                          "open flags " + std::to_string(flags));
      expect.fails_with(::syscall(SYS_open, file.c_str(), O_WRONLY), kNotifiedErrno, "open(2)");
      expect.fails_with(::syscall(SYS_creat, file.c_str(), 0644), kNotifiedErrno, "creat");
      expect.fails_with(::unlink(file.c_str()), kNotifiedErrno, "unlink");
      expect.fails_with(::rmdir((tree / "d").c_str()), kNotifiedErrno, "rmdir");
      expect.fails_with(::mkdir((tree / "d").c_str(), 0755), kNotifiedErrno, "mkdir");
      expect.fails_with(::rename(file.c_str(), (tree / "g").c_str()), kNotifiedErrno, "rename");
      expect.fails_with(::symlink("x", (tree / "s").c_str()), kNotifiedErrno, "symlink");
      expect.fails_with(::link(file.c_str(), (tree / "h").c_str()), kNotifiedErrno, "link");
      expect.fails_with(::mkfifo((tree / "p").c_str(), 0644), kNotifiedErrno, "mknod");
      expect.fails_with(::truncate(file.c_str(), 0), kNotifiedErrno, "truncate");
      // Refusals keep their errno and are notified.
      expect.fails_with(::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr), EPERM, "ptrace");
      expect.that(answerer.saw(SYS_ptrace), "ptrace notified");
      expect.fails_with(::unshare(CLONE_NEWUSER), EPERM, "unshare(CLONE_NEWUSER)");
      expect.that(answerer.saw(SYS_unshare), "unshare notified");
      expect.fails_with(::socket(AF_UNIX, SOCK_STREAM, 0), EPERM, "socket(AF_UNIX)");
      expect.that(answerer.saw(SYS_socket), "socket notified");
      expect.fails_with(::syscall(SYS_keyctl, 0, 0, 0, 0, 0), EPERM, "keyctl");
      expect.that(answerer.saw(SYS_keyctl), "keyctl notified");
      // ENOSYS answers exist for libc fallbacks: they stay in the filter.
      expect.fails_with(::syscall(SYS_clone3, nullptr, 0), ENOSYS, "clone3");
      expect.that(!answerer.saw(SYS_clone3), "clone3 not notified");
      expect.fails_with(::syscall(SYS_openat2, AT_FDCWD, file.c_str(), nullptr, 0), ENOSYS,
                        "openat2");
      expect.that(!answerer.saw(SYS_openat2), "openat2 not notified");
      // Without check_exec, execve is the kernel's business.
      char* const argv[] = {nullptr};
      expect.fails_with(::execve("/nonexistent/fence-test", argv, argv), ENOENT, "execve");
      expect.that(!answerer.saw(SYS_execve), "execve not notified");
      // Allowed syscalls are untouched.
      expect.succeeds(::getpid(), "getpid");
      int pair[2];
      expect.succeeds(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), "socketpair");
    }));
  }
}

TEST_CASE("seccomp check_exec alone: only execve/execveat notified", "[seccomp][notify]") {
  const TempTree tree("notify-exec", "/tmp");
  const std::string file = tree / "file";
  fence::testing::write_file(file, "x");
  ::chmod(tree.path().c_str(), 0777);
  for (RunAs as : kBothUsers) {
    INFO(user_name(as));
    expect_clean_exit(run_in_child(as, [&](Expect& expect) {
      Answerer answerer;
      filter_with(answerer, {.check_exec = true});
      char* const argv[] = {const_cast<char*>("true"), nullptr};
      expect.fails_with(::execve("/bin/true", argv, argv), kNotifiedErrno, "execve");
      expect.fails_with(::syscall(SYS_execveat, AT_FDCWD, "/bin/true", argv, argv, 0),
                        kNotifiedErrno, "execveat");
      // Refusals are plain ERRNO actions again: same errno, no notification.
      expect.fails_with(::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr), EPERM, "ptrace");
      expect.that(!answerer.saw(SYS_ptrace), "ptrace not notified");
      expect.succeeds(open_with(tree / ("new-" + std::to_string(::getuid())), O_WRONLY | O_CREAT),
                      "write-open stays in the kernel");
      expect.that(!answerer.saw(SYS_openat), "openat not notified");
      // openat2 is only ENOSYS when filesystem syscalls are notified.
      expect.that(
          ::syscall(SYS_openat2, AT_FDCWD, file.c_str(), nullptr, 0) == -1 && errno != ENOSYS,
          "openat2 is the kernel's");
    }));
  }
}

TEST_CASE("seccomp notify_creations alone: creation notified, removal and writes not",
          "[seccomp][notify]") {
  const TempTree tree("notify-create", "/tmp");
  const std::string file = tree / "file";
  ::chmod(tree.path().c_str(), 0777);
  for (RunAs as : kBothUsers) {
    INFO(user_name(as));
    fence::testing::write_file(file, "x");
    ::chmod(file.c_str(), 0666);
    expect_clean_exit(run_in_child(as, [&](Expect& expect) {
      Answerer answerer;
      filter_with(answerer, {.notify_creations = true});
      expect.fails_with(open_with(tree / "n", O_WRONLY | O_CREAT), kNotifiedErrno, "O_CREAT");
      expect.fails_with(::mkdir((tree / "d").c_str(), 0755), kNotifiedErrno, "mkdir");
      expect.succeeds(open_with(file, O_WRONLY), "write-open of an existing file");
      expect.succeeds(::truncate(file.c_str(), 0), "truncate");
      expect.fails_with(::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr), EPERM, "ptrace");
      expect.that(!answerer.saw(SYS_ptrace), "ptrace not notified");
      expect.succeeds(::unlink(file.c_str()), "unlink");
    }));
  }
}

TEST_CASE("classify_notified_syscall and refusal_errno agree with the profile",
          "[seccomp][notify]") {
  CHECK(classify_notified_syscall(SYS_openat) == NotifiedSyscall::Filesystem);
  CHECK(classify_notified_syscall(SYS_unlinkat) == NotifiedSyscall::Filesystem);
  CHECK(classify_notified_syscall(SYS_truncate) == NotifiedSyscall::Filesystem);
  CHECK(classify_notified_syscall(SYS_execve) == NotifiedSyscall::Exec);
  CHECK(classify_notified_syscall(SYS_execveat) == NotifiedSyscall::Exec);
  for (long nr : {SYS_ptrace, SYS_mount, SYS_unshare, SYS_clone, SYS_ioctl, SYS_socket, SYS_bpf,
                  SYS_keyctl, SYS_io_uring_setup, SYS_personality, SYS_setns, SYS_chroot}) {
    INFO(nr);
    CHECK(classify_notified_syscall(static_cast<int>(nr)) == NotifiedSyscall::Refusal);
    CHECK(refusal_errno(static_cast<int>(nr)) == EPERM);
  }
  for (long nr : {SYS_read, SYS_write, SYS_clone3, SYS_openat2, SYS_getpid}) {
    INFO(nr);
    CHECK(classify_notified_syscall(static_cast<int>(nr)) != NotifiedSyscall::Refusal);
    CHECK(refusal_errno(static_cast<int>(nr)) == 0);
  }
  CHECK(classify_notified_syscall(SYS_read) == NotifiedSyscall::None);
  CHECK(classify_notified_syscall(-1) == NotifiedSyscall::None);
}

TEST_CASE("syscall_name names native and newer syscalls", "[seccomp][notify]") {
  CHECK(fence::platform::syscall_name(AUDIT_ARCH_X86_64, SYS_ptrace) == "ptrace");
  CHECK(fence::platform::syscall_name(AUDIT_ARCH_X86_64, SYS_unshare) == "unshare");
  CHECK(fence::platform::syscall_name(AUDIT_ARCH_X86_64, 467) == "open_tree_attr");
  CHECK(fence::platform::syscall_name(AUDIT_ARCH_X86_64, 100000) == "syscall 100000");
}

TEST_CASE("describe_seccomp says what is notified", "[seccomp][notify]") {
  auto joined = [](const SeccompOptions& o) {
    std::string all;
    for (const auto& line : fence::launcher::describe_seccomp(o)) all += line + "\n";
    return all;
  };
  const std::string plain = joined({});
  CHECK(plain.find("no user notification") != std::string::npos);
  CHECK(plain.find("notify:") == std::string::npos);
  const std::string report = joined({.report_violations = true});
  CHECK(report.find("reported") != std::string::npos);
  CHECK(report.find("O_WRONLY") != std::string::npos);
  CHECK(report.find("execve") == std::string::npos);
  const std::string exec = joined({.check_exec = true});
  CHECK(exec.find("notify: execve, execveat") != std::string::npos);
  CHECK(exec.find("[EPERM, reported]") == std::string::npos);
}
