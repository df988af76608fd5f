// Process hygiene (platform/process.hpp) and the kernel feature probe. Each check that
// changes process state runs in a forked child that reports through its exit code.
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <csignal>

#include "child_process.hpp"
#include "platform/kernel_features.hpp"
#include "platform/landlock.hpp"
#include "platform/process.hpp"
#include "platform/sys_error.hpp"

namespace {

using namespace fence::platform;

using fence::testing::drop_to_nobody;
using fence::testing::exit_code_of;

bool is_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1;
}

}  // namespace

TEST_CASE("close_fds_from closes everything at and above the bound", "[process]") {
  CHECK(exit_code_of([] {
          if (::dup2(0, 40) != 40 || ::dup2(0, 50) != 50 || ::dup2(0, 1000) != 1000) return 1;
          close_fds_from(45);
          if (!is_open(40) || is_open(50) || is_open(1000)) return 2;
          if (!is_open(0) || !is_open(1) || !is_open(2)) return 3;
          return 0;
        }) == 0);
}

TEST_CASE("close_fds_except keeps exactly the listed fds", "[process]") {
  CHECK(exit_code_of([] {
          for (int fd : {3, 7, 8, 9, 30, 31, 200}) {
            if (::dup2(0, fd) != fd) return 1;
          }
          close_fds_except({2, 31, 8, 0, 1, -1, 8});
          for (int fd : {0, 1, 2, 8, 31}) {
            if (!is_open(fd)) return 10 + fd % 10;
          }
          for (int fd : {3, 7, 9, 30, 200}) {
            if (is_open(fd)) return 20;
          }
          return 0;
        }) == 0);
}

TEST_CASE("set_non_dumpable clears the dumpable flag", "[process]") {
  CHECK(exit_code_of([] {
          if (::prctl(PR_GET_DUMPABLE) != 1) return 1;  // control
          set_non_dumpable();
          return ::prctl(PR_GET_DUMPABLE) == 0 ? 0 : 2;
        }) == 0);
}

TEST_CASE("set_parent_death_signal kills the child when its parent dies", "[process]") {
  CHECK(exit_code_of([] {
          // We are a subreaper, so the orphaned grandchild is re-parented to us and we can
          // see how it ended.
          if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return 1;
          int ready[2];
          if (::pipe(ready) != 0) return 2;
          const pid_t middle = ::fork();
          if (middle == 0) {
            const pid_t self = ::getpid();
            if (::fork() == 0) {
              set_parent_death_signal(SIGKILL, self);
              (void)!::write(ready[1], "r", 1);
              ::pause();
              ::_exit(0);
            }
            char c;
            (void)!::read(ready[0], &c, 1);
            ::_exit(0);  // the grandchild must now receive SIGKILL
          }
          ::close(ready[1]);
          int status = 0;
          ::waitpid(middle, &status, 0);
          const pid_t orphan = ::wait(&status);  // the re-parented grandchild
          if (orphan <= 0) return 3;
          return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? 0 : 4;
        }) == 0);
}

TEST_CASE("set_parent_death_signal detects an already re-parented process", "[process]") {
  CHECK(exit_code_of([] {
          try {
            set_parent_death_signal(SIGKILL, ::getppid() + 1);
          } catch (const SysError& e) {
            return e.error_code() == ESRCH ? 0 : 1;
          }
          return 2;
        }) == 0);
  CHECK(exit_code_of([] {
          set_parent_death_signal(SIGKILL, ::getppid());
          int sig = 0;
          return ::prctl(PR_GET_PDEATHSIG, &sig) == 0 && sig == SIGKILL ? 0 : 1;
        }) == 0);
}

TEST_CASE("probe_kernel_features sees this machine's kernel", "[kernel_features]") {
  const auto features = probe_kernel_features();
  CHECK(!features.kernel_release.empty());
  CHECK(features.landlock_abi == landlock_abi());
  CHECK(features.seccomp_filter);
  CHECK(features.seccomp_user_notif);
  INFO(features.user_namespaces_detail);
  CHECK(features.user_namespaces);
  CHECK(features.network_namespaces);
  CHECK(features.user_namespaces_detail == "available");
  CHECK(fix_hint_for_user_namespaces(features).empty());

  KernelFeatures broken = features;
  broken.user_namespaces = false;
  broken.user_namespaces_detail = "unshare(CLONE_NEWUSER) failed: Operation not permitted";
  CHECK(!fix_hint_for_user_namespaces(broken).empty());
}

TEST_CASE("probe_kernel_features as uid 65534 finds user namespaces", "[kernel_features]") {
  CHECK(exit_code_of([] {
          if (!drop_to_nobody().empty()) return 1;
          const auto features = probe_kernel_features();
          return features.user_namespaces && features.network_namespaces ? 0 : 2;
        }) == 0);
}
