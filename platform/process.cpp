#include "platform/process.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "platform/sys_error.hpp"

namespace fence::platform {

namespace {

constexpr long kSysCloseRange = 436;       // Linux 5.9, same number on every architecture
constexpr long kSysPidfdOpen = 434;        // Linux 5.3, same number on every architecture
constexpr long kSysPidfdGetfd = 438;       // Linux 5.6, same number on every architecture
constexpr unsigned kPidfdThread = O_EXCL;  // PIDFD_THREAD, Linux 6.9

// Fallback for kernels without close_range: list /proc/self/fd first, then close, so the
// directory's own fd is not closed under the iteration.
void close_range_by_walk(unsigned first, unsigned last) {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) throw SysError("close fds: opendir /proc/self/fd");
  std::vector<int> fds;
  const int dir_fd = ::dirfd(dir);
  while (const dirent* entry = ::readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (*end != '\0' || end == entry->d_name || fd == dir_fd) continue;
    if (fd >= first && fd <= last) fds.push_back(static_cast<int>(fd));
  }
  ::closedir(dir);
  for (int fd : fds) ::close(fd);
}

void close_range_compat(unsigned first, unsigned last) {
  if (first > last) return;
  if (::syscall(kSysCloseRange, first, last, 0U) == 0) return;
  if (errno != ENOSYS) throw SysError("close_range");
  close_range_by_walk(first, last);
}

}  // namespace

void set_non_dumpable() {
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) throw SysError("prctl(PR_SET_DUMPABLE)");
}

void set_parent_death_signal(int sig, pid_t expected_parent) {
  if (::prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0) throw SysError("prctl(PR_SET_PDEATHSIG)");
  // SECURITY: if the parent exited before the prctl, no signal will ever come and we
  // would outlive the supervisor; we are re-parented by now, so getppid() tells.
  if (::getppid() != expected_parent) throw SysError("parent exited before PDEATHSIG", ESRCH);
}

void become_child_subreaper() {
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
    throw SysError("prctl(PR_SET_CHILD_SUBREAPER)");
}

std::vector<pid_t> child_processes() {
  std::vector<pid_t> children;
  DIR* tasks = ::opendir("/proc/self/task");
  if (!tasks) return children;
  while (const dirent* e = ::readdir(tasks)) {
    if (e->d_name[0] == '.') continue;
    // Raw reads: a thread that exits meanwhile makes read(2) fail with ESRCH, which
    // std::ifstream would turn into an exception.
    const std::string file = std::string("/proc/self/task/") + e->d_name + "/children";
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    std::string text;
    char buf[4096];
    for (ssize_t n; fd && (n = retry_eintr([&] { return ::read(fd.get(), buf, sizeof buf); })) > 0;)
      text.append(buf, static_cast<std::size_t>(n));
    std::istringstream in(text);
    for (pid_t pid; in >> pid;) children.push_back(pid);
  }
  ::closedir(tasks);
  return children;
}

void reap_children_except(const std::vector<pid_t>& keep) {
  for (;;) {
    bool waited = false;
    for (pid_t pid : child_processes()) {
      if (std::find(keep.begin(), keep.end(), pid) != keep.end()) continue;
      // SECURITY: whatever is left is what the run left: a sandbox's init on its way out, or
      // the processes of a nested run whose launcher was killed. None may outlive fence.
      ::kill(pid, SIGKILL);
      int status = 0;
      if (retry_eintr([&] { return ::waitpid(pid, &status, 0); }) == pid) waited = true;
    }
    // A child reaped may have left its own orphans to us meanwhile: look again.
    if (!waited) return;
  }
}

bool mark_cloexec_from(int lowest) noexcept {
  constexpr unsigned kCloseRangeCloexec = 1U << 2;  // CLOSE_RANGE_CLOEXEC
  return ::syscall(SYS_close_range, static_cast<unsigned>(std::max(lowest, 0)), ~0U,
                   kCloseRangeCloexec) == 0;
}

bool is_own_thread(pid_t tid) noexcept {
  return ::syscall(SYS_tgkill, ::getpid(), tid, 0) == 0;
}

void close_fds_from(int lowest) {
  close_range_compat(static_cast<unsigned>(std::max(lowest, 0)), UINT_MAX);
}

void close_fds_except(std::initializer_list<int> keep) {
  std::vector<int> sorted;
  for (int fd : keep) {
    if (fd >= 0) sorted.push_back(fd);
  }
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  unsigned next = 0;
  for (int fd : sorted) {
    if (static_cast<unsigned>(fd) > next) close_range_compat(next, static_cast<unsigned>(fd) - 1);
    next = static_cast<unsigned>(fd) + 1;
  }
  close_range_compat(next, UINT_MAX);
}

std::optional<std::string> read_proc_text(pid_t pid, const char* entry) {
  const std::string path = "/proc/" + std::to_string(pid) + "/" + entry;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  char buf[4096];
  const ssize_t n = retry_eintr([&] { return ::read(fd.get(), buf, sizeof buf); });
  if (n <= 0) return std::nullopt;
  return std::string(buf, static_cast<std::size_t>(n));
}

std::optional<std::string> proc_status_field(pid_t pid, std::string_view key) {
  const std::optional<std::string> status = read_proc_text(pid, "status");
  if (!status) return std::nullopt;
  const std::string needle = "\n" + std::string(key) + ":";
  std::size_t at = status->find(needle);
  if (at == std::string::npos) return std::nullopt;
  at += needle.size();
  const std::size_t end = status->find('\n', at);
  return status->substr(at, end == std::string::npos ? std::string::npos : end - at);
}

pid_t thread_group_of(pid_t tid) {
  const std::optional<std::string> value = proc_status_field(tid, "Tgid");
  const long tgid = value ? std::strtol(value->c_str(), nullptr, 10) : -1;
  return tgid > 0 ? static_cast<pid_t>(tgid) : -1;
}

UniqueFd open_pidfd(pid_t tid) {
  long pidfd = ::syscall(kSysPidfdOpen, tid, kPidfdThread);
  // Older kernels: only a thread-group leader has a pidfd, and its fd table is the one shared
  // by every thread that did not unshare it.
  if (pidfd < 0 && errno == EINVAL) {
    const pid_t tgid = thread_group_of(tid);
    pidfd = tgid > 0 ? ::syscall(kSysPidfdOpen, tgid, 0U) : -1;
    if (tgid <= 0) errno = ESRCH;
  }
  return UniqueFd(pidfd < 0 ? -1 : static_cast<int>(pidfd));
}

bool pidfd_exited(int pidfd) {
  pollfd p{pidfd, POLLIN, 0};
  const int n = retry_eintr([&] { return ::poll(&p, 1, 0); });
  return n != 0;  // readable (exited), or an error: treat as gone
}

UniqueFd duplicate_fd_of(pid_t tid, int fd, int& error) {
  UniqueFd process = open_pidfd(tid);
  if (!process) {
    error = errno;
    return UniqueFd();
  }
  const long dup = ::syscall(kSysPidfdGetfd, process.get(), fd, 0U);  // the copy is O_CLOEXEC
  if (dup < 0) {
    error = errno;
    return UniqueFd();
  }
  return UniqueFd(static_cast<int>(dup));
}

}  // namespace fence::platform
