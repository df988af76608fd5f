#include "platform/kernel_features.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string_view>
#include <vector>

#include "platform/landlock.hpp"
#include "platform/sys_error.hpp"
#include "platform/unique_fd.hpp"

namespace fence::platform {

namespace {

// Which step of the namespace probe failed, reported by the child through a pipe.
enum class ProbeStage : int { Ok = 0, UnshareUser, UidMap, UnshareNet, Fork };

struct ProbeReport {
  ProbeStage stage;
  int error;
};

std::optional<long> read_sysctl(const char* path) {
  std::ifstream in(path);
  long value = 0;
  if (!(in >> value)) return std::nullopt;
  return value;
}

std::string read_text(const char* path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs in the forked child: only async-signal-safe calls, no allocation.
bool write_file(const char* path, const char* text, std::size_t len) {
  UniqueFd fd(::open(path, O_WRONLY | O_CLOEXEC));
  return fd && ::write(fd.get(), text, len) == static_cast<ssize_t>(len);
}

bool write_id_map(const char* path, unsigned id) {
  char buf[32] = "0 ";
  auto [end, ec] = std::to_chars(buf + 2, buf + sizeof(buf) - 3, id);
  if (ec != std::errc()) return false;
  std::memcpy(end, " 1", 2);
  return write_file(path, buf, static_cast<std::size_t>(end + 2 - buf));
}

ProbeReport probe_in_child(uid_t uid, gid_t gid) {
  // The caller may be non-dumpable (every fence process is); its /proc/self files would then
  // belong to root and the map writes below fail for an unprivileged user. The probe child
  // touches no secrets and exits right after.
  ::prctl(PR_SET_DUMPABLE, 1);
  if (::unshare(CLONE_NEWUSER) != 0) return {ProbeStage::UnshareUser, errno};
  static constexpr char kDeny[] = "deny";
  if (!write_file("/proc/self/setgroups", kDeny, sizeof(kDeny) - 1) ||
      !write_id_map("/proc/self/uid_map", uid) || !write_id_map("/proc/self/gid_map", gid)) {
    return {ProbeStage::UidMap, errno};
  }
  if (::unshare(CLONE_NEWNET) != 0) return {ProbeStage::UnshareNet, errno};
  return {ProbeStage::Ok, 0};
}

ProbeReport run_namespace_probe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return {ProbeStage::Fork, errno};
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  const uid_t uid = ::getuid();
  const gid_t gid = ::getgid();
  const pid_t pid = ::fork();
  if (pid < 0) return {ProbeStage::Fork, errno};
  if (pid == 0) {
    const ProbeReport report = probe_in_child(uid, gid);
    (void)!::write(write_end.get(), &report, sizeof(report));
    ::_exit(0);
  }
  write_end.reset();
  ProbeReport report{ProbeStage::Fork, EPROTO};
  const auto n = retry_eintr([&] { return ::read(read_end.get(), &report, sizeof(report)); });
  if (n != static_cast<ssize_t>(sizeof(report))) report = {ProbeStage::Fork, EPROTO};
  int status = 0;
  retry_eintr([&] { return ::waitpid(pid, &status, 0); });
  return report;
}

// True inside a fence sandbox, whose init set user.max_user_namespaces to 0 in its own
// namespace (FENCE_SANDBOX=1 is only a hint here: it changes a message, never a decision).
bool inside_fence_sandbox() {
  const char* in_fence = std::getenv("FENCE_SANDBOX");
  return in_fence && std::string_view(in_fence) == "1" &&
         read_sysctl("/proc/sys/user/max_user_namespaces") == 0;
}

// The value of "KEY:" in /proc/self/status, without its whitespace; empty if absent.
std::string own_status_field(std::string_view key) {
  std::istringstream in(read_text("/proc/self/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() <= key.size() || line.compare(0, key.size(), key) != 0 ||
        line[key.size()] != ':')
      continue;
    const std::size_t start = line.find_first_not_of(" \t", key.size() + 1);
    return start == std::string::npos ? std::string() : line.substr(start);
  }
  return {};
}

// The interfaces of this process's network namespace (/proc/self/net/dev: two header lines,
// then "NAME: counters" per interface).
std::vector<std::string> own_interfaces() {
  std::istringstream in(read_text("/proc/self/net/dev"));
  std::vector<std::string> names;
  std::string line;
  for (int n = 0; std::getline(in, line); ++n) {
    const std::size_t colon = line.find(':');
    if (n < 2 || colon == std::string::npos) continue;
    const std::size_t start = line.find_first_not_of(' ');
    names.push_back(line.substr(start, colon - start));
  }
  return names;
}

// Names the host setting that explains a failed user namespace, if any.
std::string explain_userns_failure() {
  if (inside_fence_sandbox()) return "inside a fence sandbox, which allows no new namespaces";
  if (read_sysctl("/proc/sys/user/max_user_namespaces") == 0) {
    return "user.max_user_namespaces is 0";
  }
  if (read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1) {
    return "AppArmor restricts unprivileged user namespaces "
           "(kernel.apparmor_restrict_unprivileged_userns = 1)";
  }
  if (read_sysctl("/proc/sys/kernel/unprivileged_userns_clone") == 0) {
    return "kernel.unprivileged_userns_clone is 0";
  }
  return {};
}

const char* stage_name(ProbeStage stage) {
  switch (stage) {
    case ProbeStage::Ok:
      return "ok";
    case ProbeStage::UnshareUser:
      return "unshare(CLONE_NEWUSER)";
    case ProbeStage::UidMap:
      return "writing uid_map/gid_map";
    case ProbeStage::UnshareNet:
      return "unshare(CLONE_NEWNET) in the user namespace";
    case ProbeStage::Fork:
      return "probe process";
  }
  return "?";
}

}  // namespace

std::string nested_sandbox_evidence() {
  const char* in_fence = std::getenv("FENCE_SANDBOX");
  if (!in_fence || std::string_view(in_fence) != "1") return "FENCE_SANDBOX is not 1";
  if (read_sysctl("/proc/sys/user/max_user_namespaces") != 0)
    return "user namespaces can still be created here";
  if (own_status_field("NoNewPrivs") != "1") return "no_new_privs is not set";
  if (own_status_field("Seccomp") != "2") return "no seccomp filter is in force";
  const std::vector<std::string> interfaces = own_interfaces();
  if (interfaces != std::vector<std::string>{"lo"})
    return "the network namespace has interfaces other than lo";
  return {};
}

KernelFeatures probe_kernel_features() {
  KernelFeatures features;
  utsname uts{};
  if (::uname(&uts) == 0) features.kernel_release = uts.release;

  const ProbeReport report = run_namespace_probe();
  features.user_namespaces =
      report.stage == ProbeStage::Ok || report.stage == ProbeStage::UnshareNet;
  features.network_namespaces = report.stage == ProbeStage::Ok;
  if (report.stage == ProbeStage::Ok) {
    features.user_namespaces_detail = "available";
  } else {
    std::string detail =
        std::string(stage_name(report.stage)) + " failed: " + std::strerror(report.error);
    const std::string why = explain_userns_failure();
    if (!why.empty()) detail += "; " + why;
    features.user_namespaces_detail = detail;
  }

  features.landlock_abi = landlock_abi();
  // PR_GET_SECCOMP fails with EINVAL without CONFIG_SECCOMP; actions_avail exists only
  // with CONFIG_SECCOMP_FILTER.
  const std::string actions = read_text("/proc/sys/kernel/seccomp/actions_avail");
  features.seccomp_filter = ::prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 &&
                            actions.find("errno") != std::string::npos &&
                            actions.find("kill_process") != std::string::npos;
  features.seccomp_user_notif =
      features.seccomp_filter && actions.find("user_notif") != std::string::npos;
  return features;
}

std::string fix_hint_for_user_namespaces(const KernelFeatures& features) {
  if (features.user_namespaces) return {};
  // Inside a fence sandbox no sysctl of the host helps.
  if (inside_fence_sandbox()) {
    return "this fence runs inside another sandbox that allows no new namespaces, and a nested "
           "run (a further restriction of the outer sandbox) needs proof that it confines this "
           "process: " +
           nested_sandbox_evidence() +
           " (the outer sandbox's policy still applies: run the command without the inner "
           "fence)";
  }
  if (read_sysctl("/proc/sys/user/max_user_namespaces") == 0) {
    return "sudo sysctl -w user.max_user_namespaces=15000  (persist: echo "
           "'user.max_user_namespaces=15000' | sudo tee /etc/sysctl.d/60-fence-userns.conf)";
  }
  if (read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1) {
    // The process that calls unshare(CLONE_NEWUSER) is fence-launcher, so it is the one that
    // needs the AppArmor profile.
    return "allow fence-launcher in AppArmor: printf 'abi <abi/4.0>,\\ninclude <tunables/global>\\n"
           "profile fence-launcher %s flags=(unconfined) {\\n  userns,\\n}\\n' "
           "\"$(dirname \"$(readlink -f \"$(command -v fence)\")\")/fence-launcher\" | "
           "sudo tee /etc/apparmor.d/fence && sudo apparmor_parser -r /etc/apparmor.d/fence  "
           "(or, system-wide: sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0)";
  }
  if (read_sysctl("/proc/sys/kernel/unprivileged_userns_clone") == 0) {
    return "sudo sysctl -w kernel.unprivileged_userns_clone=1  (persist: echo "
           "'kernel.unprivileged_userns_clone=1' | sudo tee /etc/sysctl.d/60-fence-userns.conf)";
  }
  return "user namespaces are unavailable (" + features.user_namespaces_detail +
         "); check that the kernel has CONFIG_USER_NS=y and no LSM or container runtime "
         "blocks unshare(CLONE_NEWUSER) (inside Docker: run with --security-opt "
         "seccomp=unconfined or use the host)";
}

}  // namespace fence::platform
