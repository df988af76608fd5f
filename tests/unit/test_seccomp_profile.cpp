// seccomp profile: every check applies the filter in a forked child (never in the test
// process) and first shows the call works without the filter, so a removed rule fails.
#include <fcntl.h>
#include <linux/sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>

#include "child_process.hpp"
#include "launcher/command_seccomp.hpp"
#include "platform/capabilities.hpp"
#include "temp_tree.hpp"

namespace {

using fence::launcher::install_seccomp_filter;
using fence::launcher::SeccompOptions;

using fence::testing::Expect;
using fence::testing::expect_clean_exit;
using fence::testing::in_grandchild;
using fence::testing::kBothUsers;
using fence::testing::map_root_to;
using fence::testing::run_in_child;
using fence::testing::RunAs;
using fence::testing::TempTree;
using fence::testing::user_name;

void filter(const SeccompOptions& options = {}) {
  fence::platform::set_no_new_privs();
  install_seccomp_filter(options);
}

constexpr unsigned long kHighBit = 1UL << 32;

}  // namespace

TEST_CASE("seccomp denies TIOCSTI and TIOCLINUX, also with high bits in cmd", "[seccomp]") {
  for (RunAs as : kBothUsers) {
    INFO(user_name(as));
    expect_clean_exit(run_in_child(as, [&](Expect& expect) {
      const int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
      expect.succeeds(master, "posix_openpt");
      expect.succeeds(::grantpt(master) | ::unlockpt(master), "grantpt/unlockpt");
      // Make the slave our controlling tty: TIOCSTI then works without CAP_SYS_ADMIN too.
      expect.succeeds(::setsid(), "setsid");
      const int slave = ::open(::ptsname(master), O_RDWR | O_CLOEXEC);
      expect.succeeds(slave, "open pty slave");
      char c = 'x';
      expect.succeeds(::ioctl(slave, TIOCSTI, &c), "control: TIOCSTI");
      expect.succeeds(::syscall(SYS_ioctl, slave, kHighBit | TIOCSTI, &c),
                      "control: TIOCSTI with high bits (kernel ignores them)");
      errno = 0;
      expect.that(::ioctl(slave, TIOCLINUX, &c) == 0 || errno != EPERM,
                  "control: TIOCLINUX is not EPERM without the filter");
      filter();
      expect.fails_with(::ioctl(slave, TIOCSTI, &c), EPERM, "TIOCSTI on slave");
      expect.fails_with(::ioctl(master, TIOCSTI, &c), EPERM, "TIOCSTI on master");
      expect.fails_with(::syscall(SYS_ioctl, slave, kHighBit | TIOCSTI, &c), EPERM,
                        "TIOCSTI with high bits");
      expect.fails_with(::ioctl(slave, TIOCLINUX, &c), EPERM, "TIOCLINUX");
      expect.fails_with(::syscall(SYS_ioctl, slave, kHighBit | TIOCLINUX, &c), EPERM,
                        "TIOCLINUX with high bits");
      int avail = 0;
      expect.succeeds(::ioctl(slave, FIONREAD, &avail), "other ioctls still work");
    }));
  }
}

TEST_CASE("seccomp denies new namespaces and setns; clone3 is ENOSYS", "[seccomp]") {
  for (RunAs as : kBothUsers) {
    INFO(user_name(as));
    expect_clean_exit(run_in_child(as, [&](Expect& expect) {
      expect.that(in_grandchild([] { return ::unshare(CLONE_NEWUSER) == 0 ? 0 : 1; }) == 0,
                  "control: unshare(CLONE_NEWUSER) works without the filter");
      expect.fails_with(::syscall(SYS_clone3, nullptr, 0), EINVAL, "control: clone3");
      const int netns = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
      filter();
      for (unsigned long flag : {CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWPID,
                                 CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWCGROUP, CLONE_NEWTIME}) {
        expect.fails_with(::unshare(static_cast<int>(flag)), EPERM,
                          "unshare flag " + std::to_string(flag));
      }
      expect.fails_with(::syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0), EPERM,
                        "clone(CLONE_NEWUSER)");
      expect.fails_with(::syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0), EPERM,
                        "clone(CLONE_NEWNET)");
      expect.fails_with(::setns(netns, 0), EPERM, "setns");
      expect.fails_with(::syscall(SYS_clone3, nullptr, 0), ENOSYS, "clone3");
      // libc falls back to clone(): fork and threads keep working.
      expect.that(in_grandchild([] { return 7; }) == 7, "fork after filter");
      bool ran = false;
      std::thread([&] { ran = true; }).join();
      expect.that(ran, "std::thread after filter");
    }));
  }
}

TEST_CASE("seccomp denies io_uring, ptrace, process_vm_*, bpf, keyctl", "[seccomp]") {
  for (RunAs as : kBothUsers) {
    INFO(user_name(as));
    expect_clean_exit(run_in_child(as, [&](Expect& expect) {
      char params[120] = {};  // struct io_uring_params
      const long ring = ::syscall(SYS_io_uring_setup, 1, params);
      expect.that(ring >= 0 || errno != EPERM, "control: io_uring_setup is not EPERM natively");
      if (ring >= 0) ::close(static_cast<int>(ring));
      filter();
      expect.fails_with(::syscall(SYS_io_uring_setup, 1, params), EPERM, "io_uring_setup");
      expect.fails_with(::syscall(SYS_io_uring_enter, 0, 0, 0, 0, nullptr, 0), EPERM,
                        "io_uring_enter");
      expect.fails_with(::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr), EPERM, "ptrace");
      char buf[8];
      iovec local{buf, sizeof(buf)}, remote{buf, sizeof(buf)};
      expect.fails_with(::process_vm_readv(::getpid(), &local, 1, &remote, 1, 0), EPERM,
                        "process_vm_readv");
      expect.fails_with(::syscall(SYS_bpf, 0, nullptr, 0), EPERM, "bpf");
      expect.fails_with(::syscall(SYS_keyctl, 0, 0, 0, 0, 0), EPERM, "keyctl");
      expect.fails_with(::syscall(SYS_userfaultfd, 0), EPERM, "userfaultfd");
      expect.fails_with(::syscall(SYS_perf_event_open, nullptr, 0, -1, -1, 0), EPERM,
                        "perf_event_open");
    }));
  }
}

TEST_CASE("seccomp denies mount, the new mount API, pivot_root and chroot", "[seccomp]") {
  const TempTree scratch("seccomp", "/tmp");
  const std::string dir = scratch.path();
  for (RunAs as : kBothUsers) {
    INFO(user_name(as));
    expect_clean_exit(run_in_child(as, [&](Expect& expect) {
      // A private mount namespace (inside a user namespace when unprivileged) where mount
      // works without the filter, so EPERM afterwards comes from seccomp.
      const uid_t uid = ::getuid();
      expect.succeeds(::unshare(uid == 0 ? CLONE_NEWNS : (CLONE_NEWUSER | CLONE_NEWNS)), "unshare");
      if (uid != 0) {
        const std::string problem = map_root_to(uid);
        expect.that(problem.empty(), problem);
      }
      expect.succeeds(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr),
                      "control: make / private");
      expect.succeeds(::mount("none", dir.c_str(), "tmpfs", 0, "size=64k"), "control: mount");
      expect.succeeds(::umount2(dir.c_str(), 0), "control: umount2");
      constexpr long kOpenTreeAttr = 467;  // newer than libseccomp 2.5.4
      expect.fails_with(::syscall(kOpenTreeAttr, -1, "", 0, nullptr, 0), ENOENT,
                        "control: open_tree_attr");
      filter();
      expect.fails_with(::mount("none", dir.c_str(), "tmpfs", 0, "size=64k"), EPERM, "mount");
      expect.fails_with(::umount2("/proc", MNT_DETACH), EPERM, "umount2");
      expect.fails_with(::syscall(SYS_fsopen, "tmpfs", 0), EPERM, "fsopen");
      expect.fails_with(::syscall(SYS_open_tree, AT_FDCWD, "/tmp", 1 /*OPEN_TREE_CLONE*/), EPERM,
                        "open_tree");
      expect.fails_with(::syscall(SYS_move_mount, -1, "", -1, "", 0), EPERM, "move_mount");
      expect.fails_with(::syscall(kOpenTreeAttr, -1, "", 0, nullptr, 0), EPERM, "open_tree_attr");
      expect.fails_with(::syscall(SYS_pivot_root, dir.c_str(), dir.c_str()), EPERM, "pivot_root");
      expect.fails_with(::chroot(dir.c_str()), EPERM, "chroot");
      expect.fails_with(::syscall(SYS_open_by_handle_at, AT_FDCWD, nullptr, 0), EPERM,
                        "open_by_handle_at");
    }));
  }
}

TEST_CASE("seccomp allows only PER_LINUX and the personality query", "[seccomp]") {
  for (RunAs as : kBothUsers) {
    INFO(user_name(as));
    expect_clean_exit(run_in_child(as, [&](Expect& expect) {
      expect.that(in_grandchild([] { return ::personality(READ_IMPLIES_EXEC) == -1 ? 1 : 0; }) == 0,
                  "control: personality(READ_IMPLIES_EXEC) works without the filter");
      filter();
      expect.fails_with(::personality(READ_IMPLIES_EXEC), EPERM, "READ_IMPLIES_EXEC");
      expect.fails_with(::personality(ADDR_NO_RANDOMIZE), EPERM, "ADDR_NO_RANDOMIZE");
      expect.fails_with(::personality(PER_LINUX32), EPERM, "PER_LINUX32");
      for (unsigned long value :
           {0x1UL, 0x80000000UL, 0x7fffffffUL, 0xfffffffeUL, 0xffff0000UL, kHighBit,
            kHighBit | READ_IMPLIES_EXEC, kHighBit | 0xffffffffUL}) {
        expect.fails_with(::syscall(SYS_personality, value), EPERM,
                          "personality " + std::to_string(value));
      }
      expect.that(::personality(0xffffffff) == PER_LINUX, "query allowed");
      expect.that(::personality(PER_LINUX) == PER_LINUX, "PER_LINUX allowed");
    }));
  }
}

TEST_CASE("seccomp denies socket(AF_UNIX) unless allowed; socketpair keeps working", "[seccomp]") {
  using fence::launcher::UnixSockets;
  for (RunAs as : kBothUsers) {
    INFO(user_name(as));
    expect_clean_exit(run_in_child(as, [&](Expect& expect) {
      expect.succeeds(::syscall(SYS_socket, kHighBit | AF_UNIX, SOCK_STREAM, 0),
                      "control: socket(AF_UNIX with high bits)");
      int pair[2];
      expect.succeeds(::socketpair(AF_UNIX, SOCK_DGRAM, 0, pair), "control: datagram pair");
      filter();
      expect.fails_with(::socket(AF_UNIX, SOCK_STREAM, 0), EPERM, "socket(AF_UNIX)");
      expect.fails_with(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), EPERM,
                        "socket(AF_UNIX, DGRAM)");
      expect.fails_with(::syscall(SYS_socket, kHighBit | AF_UNIX, SOCK_STREAM, 0), EPERM,
                        "socket(AF_UNIX with high bits)");
      expect.succeeds(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), "socketpair");
      expect.succeeds(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair),
                      "socketpair seqpacket");
      // A datagram socket can be pointed at any socket file: no datagram pairs, in any
      // spelling (SOCK_RAW is a datagram socket for AF_UNIX; flags and high bits ignored).
      expect.fails_with(::socketpair(AF_UNIX, SOCK_DGRAM, 0, pair), EPERM, "datagram pair");
      expect.fails_with(::socketpair(AF_UNIX, SOCK_RAW | SOCK_NONBLOCK, 0, pair), EPERM,
                        "raw pair");
      expect.fails_with(::syscall(SYS_socketpair, AF_UNIX, kHighBit | SOCK_DGRAM, 0, pair), EPERM,
                        "datagram pair with high bits");
      expect.succeeds(::socket(AF_INET, SOCK_STREAM, 0), "socket(AF_INET)");
    }));
    expect_clean_exit(run_in_child(as, [&](Expect& expect) {
      filter(SeccompOptions{.unix_sockets = UnixSockets::All});
      expect.succeeds(::socket(AF_UNIX, SOCK_STREAM, 0), "socket(AF_UNIX) when all allowed");
      int pair[2];
      expect.succeeds(::socketpair(AF_UNIX, SOCK_DGRAM, 0, pair), "datagram pair, all allowed");
    }));
    expect_clean_exit(run_in_child(as, [&](Expect& expect) {
      // Listed: the listener is returned (and dropped here: nothing below connects).
      filter(SeccompOptions{.unix_sockets = UnixSockets::Listed});
      expect.succeeds(::socket(AF_UNIX, SOCK_STREAM, 0), "stream socket when listed");
      expect.succeeds(::socket(AF_UNIX, SOCK_SEQPACKET, 0), "seqpacket socket when listed");
      expect.fails_with(::socket(AF_UNIX, SOCK_DGRAM, 0), EPERM, "datagram socket when listed");
      expect.fails_with(::socket(AF_UNIX, SOCK_RAW, 0), EPERM, "raw socket when listed");
      int pair[2];
      expect.fails_with(::socketpair(AF_UNIX, SOCK_DGRAM, 0, pair), EPERM,
                        "datagram pair when listed");
      expect.succeeds(::socket(AF_INET, SOCK_DGRAM, 0), "socket(AF_INET, DGRAM)");
    }));
  }
}

TEST_CASE("seccomp kills x32 syscalls and i386 int 0x80", "[seccomp]") {
  const auto x32_getpid = [] { return ::syscall(0x40000000 | SYS_getpid); };
  const auto int80_getpid = [] {
    long ret = 20;  // __NR_getpid in the i386 table
    asm volatile("int $0x80" : "+a"(ret) : : "memory");
    return ret;
  };
  for (RunAs as : kBothUsers) {
    INFO(user_name(as));
    // Control: without the filter both return to the caller (x32 with ENOSYS on kernels
    // built without x32 support).
    expect_clean_exit(run_in_child(as, [&](Expect& expect) {
      x32_getpid();
      expect.that(int80_getpid() == ::getpid(), "control: int 0x80 getpid");
    }));
    for (const auto& call :
         {std::function<long()>(x32_getpid), std::function<long()>(int80_getpid)}) {
      const auto r = run_in_child(as, [&](Expect& expect) {
        filter();
        const long rc = call();
        expect.that(false, "survived a foreign-ABI syscall, rc=" + std::to_string(rc));
      });
      CHECK(r.failures == "");
      REQUIRE(WIFSIGNALED(r.status));
      CHECK(WTERMSIG(r.status) == SIGSYS);
    }
  }
}

TEST_CASE("describe_seccomp lists the rule groups", "[seccomp]") {
  const auto lines = fence::launcher::describe_seccomp({});
  std::string all;
  for (const auto& line : lines) all += line + "\n";
  CHECK(all.find("TIOCSTI") != std::string::npos);
  CHECK(all.find("io_uring_setup") != std::string::npos);
  CHECK(all.find("socket(AF_UNIX) denied") != std::string::npos);
  CHECK(fence::launcher::describe_seccomp({.unix_sockets = fence::launcher::UnixSockets::All})
            .back()
            .find("allowed") != std::string::npos);
}
