#include "launcher/root_filesystem.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "launcher/step_error.hpp"
#include "launcher/writable_roots.hpp"
#include "platform/mounts.hpp"
#include "platform/namespaces.hpp"
#include "platform/sys_error.hpp"

namespace fence::launcher {
namespace {

using platform::UniqueFd;

// The staging area lives on a tmpfs mounted over /tmp in OUR mount namespace only; the host
// never sees it and nothing is created on the host.
constexpr const char* kStaging = "/tmp";
constexpr const char* kNewRoot = "/newroot";
constexpr const char* kOldRoot = "/oldroot";
constexpr const char* kMaskFile = "/mask-file";
// The transparent path's name service: every name goes to DNS (fence answers it), none to the
// host's hosts file, and the resolver asks a loopback address (any :53 is redirected anyway).
constexpr const char* kHostsFile = "/hosts";
constexpr const char* kResolvFile = "/resolv.conf";
constexpr std::string_view kHostsText =
    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
constexpr std::string_view kResolvText = "nameserver 127.0.0.53\noptions edns0\n";

constexpr std::uint64_t kReadOnly =
    platform::kMountAttrRdonly | platform::kMountAttrNosuid | platform::kMountAttrNodev;

void make_dir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST)
    throw platform::SysError("mkdir " + path);
}

void make_file(const std::string& path, mode_t mode) {
  UniqueFd fd(::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode));
  if (!fd) throw platform::SysError("create " + path);
}

void write_staged(const std::string& path, std::string_view text) {
  UniqueFd fd(::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644));
  if (!fd || ::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    throw platform::SysError("create " + path);
}

void make_symlink(const std::string& target, const std::string& link) {
  if (::symlink(target.c_str(), link.c_str()) != 0) throw platform::SysError("symlink " + link);
}

bool exists_beneath(int root_fd, const std::string& path) {
  try {
    platform::open_beneath(root_fd, path, O_PATH | O_CLOEXEC);
    return true;
  } catch (const platform::SysError& e) {
    if (e.error_code() == ENOENT || e.error_code() == ENOTDIR) return false;
    throw;
  }
}

// Sorted parents-first so a later bind never hides an earlier, deeper one.
std::vector<std::string> parents_first(std::vector<std::string> paths) {
  std::sort(paths.begin(), paths.end());
  paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
  return paths;
}

class RootBuilder {
 public:
  RootBuilder(const ipc::LaunchSpec& spec, std::span<const int> stdio,
              std::vector<CreatableRoot>& creatable, UniqueFd& nest_listener)
      : spec_(spec), stdio_(stdio), creatable_(creatable), nest_listener_(nest_listener) {}

  std::vector<std::string> build() {
    // Why first: nothing we mount may propagate back to the host's mount namespace.
    run_step(Stage::Filesystem, "mount: make / private", [] { platform::make_mounts_private(); });
    // Why a staging tmpfs: the new root and masks need directories and files that must not be
    // created on the host.
    run_step(Stage::Filesystem, "mount: staging tmpfs", [] {
      platform::mount_fs("tmpfs", kStaging, MS_NOSUID | MS_NODEV, "mode=0755,size=1m");
      make_dir(std::string(kStaging) + kNewRoot, 0755);
      make_dir(std::string(kStaging) + kOldRoot, 0755);
      make_file(std::string(kStaging) + kMaskFile, 0000);
      write_staged(std::string(kStaging) + kHostsFile, kHostsText);
      write_staged(std::string(kStaging) + kResolvFile, kResolvText);
      if (::chdir(kStaging) != 0) throw platform::SysError("chdir staging");
      platform::pivot_root(".", std::string(".") + kOldRoot);
      if (::chdir("/") != 0) throw platform::SysError("chdir /");
    });
    old_root_ = open_dir(kOldRoot);
    new_root_dir_ = open_dir(kNewRoot);
    copy_host_tree();
    mount_proc();
    mount_dev();
    mount_tmp_and_run();
    bind_readable_in_private_dirs();
    bind_writable();
    bind_unix_sockets();
    pin_protected_parents();
    bind_read_only();
    if (spec_.transparent) replace_name_service();
    mask_hidden();
    // Why after the masks: a creatable entry's nearest directory must be the host's as the
    // command will see it (not under a mask or a private tmpfs).
    hold_creatable();
    // Why last: pivot_root detaches the host tree; from here on only the new root exists.
    run_step(Stage::Filesystem, "mount: pivot_root into sandbox root",
             [] { platform::pivot_into(kNewRoot); });
    plan_lines_.push_back("[fence:fs] pivot_root: host tree detached");
    return plan_lines_;
  }

 private:
  static UniqueFd open_dir(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!fd) throw StepError(Stage::Filesystem, "mount: open " + path, errno, path);
    return fd;
  }

  std::string in_new_root(const std::string& path) const { return std::string(kNewRoot) + path; }

  // Why read-only everywhere first: Landlock does not cover metadata (chmod, utimes, xattrs),
  // so everything not explicitly writable is also a read-only mount (SECURITY-RULES 6).
  void copy_host_tree() {
    run_step(Stage::Filesystem, "mount: read-only copy of host /", [&] {
      UniqueFd tree = platform::clone_mount(old_root_.get(), true);
      platform::set_mount_attributes(tree.get(), true, kReadOnly, 0);
      UniqueFd target = platform::open_beneath(new_root_dir_.get(), "/", O_PATH | O_CLOEXEC);
      platform::attach_mount(tree.get(), target.get());
    });
    new_root_ = open_dir(kNewRoot);
    plan_lines_.push_back("[fence:fs] ro-bind / (recursive, nosuid, nodev)");
  }

  // Why a fresh /proc: the host's would show host processes; this one shows only the sandbox's
  // pid namespace. /proc/sys is then made read-only after limiting nested user namespaces.
  void mount_proc() {
    run_step(Stage::Filesystem, "mount: /proc", [&] {
      platform::mount_fs("proc", in_new_root("/proc"), MS_NOSUID | MS_NODEV | MS_NOEXEC, "");
      // SECURITY: no nested user namespaces inside, even if seccomp were bypassed.
      platform::write_sysctl(in_new_root("/proc/sys/user/max_user_namespaces"), "0");
      loopback_congestion_control_ = set_loopback_congestion_control();
      UniqueFd sys = platform::open_beneath(new_root_.get(), "/proc/sys", O_PATH | O_CLOEXEC);
      UniqueFd tree = platform::clone_mount(sys.get(), true);
      platform::set_mount_attributes(tree.get(), true, kReadOnly, 0);
      platform::attach_mount(tree.get(), sys.get());
    });
    plan_lines_.push_back(
        "[fence:fs] proc on /proc (own pid namespace); /proc/sys read-only; "
        "user.max_user_namespaces=0");
    if (loopback_congestion_control_)
      plan_lines_.push_back(
          "[fence:net] TCP congestion control in the sandbox: reno (lo only: no pacing)");
    // Why a fresh /sys: the host's shows the host's network interfaces (addresses, counters);
    // a sysfs mounted from inside the network namespace shows only lo.
    run_step(Stage::Filesystem, "mount: /sys", [&] {
      platform::mount_fs("sysfs", in_new_root("/sys"), MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                         "");
    });
    plan_lines_.push_back("[fence:fs] sysfs on /sys (read-only, this network namespace)");
  }

  // Why reno: this network namespace has only lo, so every TCP connection made in it (the
  // command's to the proxies, the worker's to the command, init's for -p) crosses a link with
  // no queue and no loss. The host's default algorithm is inherited; if that is a pacing one
  // such as BBR, each send waits for a pacing timer and a bulk transfer through the proxy
  // loses about a quarter of its throughput (docs/benchmarks.md). reno is the one algorithm a
  // namespace other than the initial one may always choose. Performance only, so best effort:
  // the sandbox is the same without it. Written before /proc/sys becomes read-only.
  bool set_loopback_congestion_control() const {
    try {
      platform::write_sysctl(in_new_root("/proc/sys/net/ipv4/tcp_congestion_control"), "reno");
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }

  // Why a minimal /dev: only harmless devices, a private devpts (no host terminals), shm.
  void mount_dev() {
    std::vector<std::string> devices_bound;
    std::vector<HostTerminal> terminals;
    bool has_tty = false;
    run_step(Stage::Filesystem, "mount: /dev", [&] {
      const std::string dev = in_new_root("/dev");
      platform::mount_fs("tmpfs", dev, MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k");
      // SECURITY: /dev/tty is the session's terminal whatever the stdio are: only a command
      // whose stdin, stdout or stderr is that terminal gets it (`fence cmd </dev/null >log`
      // must not read the user's keystrokes).
      has_tty = stdio_is_controlling_terminal();
      for (const char* node : {"null", "zero", "full", "random", "urandom", "tty"}) {
        const std::string host = std::string("/dev/") + node;
        if (!exists_beneath(old_root_.get(), host)) continue;
        if (std::string_view(node) == "tty" && !has_tty) continue;
        make_file(dev + "/" + node, 0666);
        UniqueFd source = platform::open_beneath(old_root_.get(), host, O_PATH | O_CLOEXEC);
        UniqueFd tree = platform::clone_mount(source.get(), false);
        UniqueFd target = platform::open_beneath(new_root_.get(), "/dev/" + std::string(node),
                                                 O_PATH | O_CLOEXEC);
        platform::attach_mount(tree.get(), target.get());
      }
      make_dir(dev + "/pts", 0755);
      terminals = host_terminals();
      if (spec_.allow_pty || terminals.empty()) {
        // allowPty: new pseudo-terminals come from this private instance's ptmx; without it
        // ptmx has mode 000 and, with every capability dropped, opening it fails (EACCES).
        platform::mount_fs("devpts", dev + "/pts", MS_NOSUID | MS_NOEXEC,
                           spec_.allow_pty ? "newinstance,ptmxmode=0666,mode=0620"
                                           : "newinstance,ptmxmode=0000,mode=0620");
      } else {
        // The command's terminal under its own name and nothing else: no new ptys (there is
        // no ptmx), no other terminal of the host.
        platform::mount_fs("tmpfs", dev + "/pts", MS_NOSUID | MS_NOEXEC, "mode=0755,size=16k");
        for (const HostTerminal& t : terminals) {
          make_file(dev + "/pts/" + t.number, 0600);
          UniqueFd tree = platform::clone_mount(t.node.get(), false);
          // Read-only: the terminal is used through it, never chmod-ed (its mode is the host's).
          platform::set_mount_attributes(tree.get(), false, kReadOnly, 0);
          UniqueFd target =
              platform::open_beneath(new_root_.get(), "/dev/pts/" + t.number, O_PATH | O_CLOEXEC);
          platform::attach_mount(tree.get(), target.get());
        }
      }
      // devices.allow: each host node (or directory of nodes, with what is mounted beneath)
      // at its own place; nothing else of the host's /dev.
      for (const std::string& path : spec_.devices) {
        if (path.starts_with("/dev/pts") || path == "/dev/ptmx" || path.starts_with("/dev/shm"))
          continue;  // the sandbox's own
        if (!exists_beneath(old_root_.get(), path)) continue;
        UniqueFd source = platform::open_beneath(old_root_.get(), path, O_PATH | O_CLOEXEC);
        struct stat st {};
        if (::fstat(source.get(), &st) != 0) throw platform::SysError("fstat " + path);
        if (!S_ISCHR(st.st_mode) && !S_ISDIR(st.st_mode)) continue;
        for (std::size_t pos = path.find('/', 5); pos != std::string::npos;
             pos = path.find('/', pos + 1))
          make_dir(in_new_root(path.substr(0, pos)), 0755);
        if (S_ISDIR(st.st_mode))
          make_dir(in_new_root(path), 0755);
        else if (::access(in_new_root(path).c_str(), F_OK) != 0)
          make_file(in_new_root(path), 0666);
        UniqueFd tree = platform::clone_mount(source.get(), S_ISDIR(st.st_mode));
        UniqueFd target = platform::open_beneath(new_root_.get(), path, O_PATH | O_CLOEXEC);
        platform::attach_mount(tree.get(), target.get());
        devices_bound.push_back(path);
      }
      make_symlink("pts/ptmx", dev + "/ptmx");
      make_dir(dev + "/shm", 01777);
      platform::mount_fs("tmpfs", dev + "/shm", MS_NOSUID | MS_NODEV, "mode=1777");
      make_symlink("/proc/self/fd", dev + "/fd");
      make_symlink("/proc/self/fd/0", dev + "/stdin");
      make_symlink("/proc/self/fd/1", dev + "/stdout");
      make_symlink("/proc/self/fd/2", dev + "/stderr");
    });
    std::string pts = "devpts (newinstance)";
    if (!spec_.allow_pty && !terminals.empty()) {
      pts = "the command's terminal";
      for (const HostTerminal& t : terminals) pts += " /dev/pts/" + t.number;
      pts += " (by its own name)";
    }
    plan_lines_.push_back("[fence:fs] tmpfs /dev: null zero full random urandom" +
                          std::string(has_tty ? " tty" : " (no tty: no stdio is the terminal)") +
                          ", " + pts + ", shm; new ptys " +
                          (spec_.allow_pty ? "allowed (allowPty)" : "refused (allowPty false)"));
    for (const std::string& path : devices_bound)
      plan_lines_.push_back("[fence:fs] device " + path + " passed through (devices.allow)");
  }

  // True when one of the command's stdio is the terminal /dev/tty names for this session (its
  // device number from TIOCGDEV: fstat of /dev/tty shows /dev/tty's own).
  bool stdio_is_controlling_terminal() const {
    UniqueFd ctty;
    try {
      ctty = platform::open_beneath(old_root_.get(), "/dev/tty",
                                    O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    } catch (const std::exception&) {
      return false;  // no session terminal (ENXIO), or no /dev/tty
    }
    unsigned int device = 0;
    if (!ctty || ::ioctl(ctty.get(), TIOCGDEV, &device) != 0) return false;
    return std::any_of(stdio_.begin(), stdio_.end(), [&](int fd) {
      struct stat st {};
      return fd >= 0 && ::fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) &&
             st.st_rdev == static_cast<dev_t>(device);
    });
  }

  struct HostTerminal {
    std::string number;  // N of /dev/pts/N
    UniqueFd node;       // O_PATH of the host's /dev/pts/N
  };

  // The command's stdio that are pseudo-terminals of the host's /dev/pts (UNIX98 slaves,
  // majors 136-143), each once, with the host's node of the same device and inode.
  std::vector<HostTerminal> host_terminals() const {
    std::vector<HostTerminal> out;
    for (int fd : stdio_) {
      struct stat st {};
      if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISCHR(st.st_mode)) continue;
      const unsigned major = ::major(st.st_rdev);
      if (major < 136 || major > 143) continue;
      const std::string number = std::to_string((major - 136) * 256 + ::minor(st.st_rdev));
      if (std::any_of(out.begin(), out.end(), [&](const auto& t) { return t.number == number; }))
        continue;
      UniqueFd node;
      try {
        node = platform::open_beneath(old_root_.get(), "/dev/pts/" + number, O_PATH | O_CLOEXEC);
      } catch (const std::exception&) {
        continue;  // not a terminal of the host's /dev/pts (another devpts instance)
      }
      struct stat host {};
      if (::fstat(node.get(), &host) != 0 || host.st_rdev != st.st_rdev ||
          host.st_ino != st.st_ino || host.st_dev != st.st_dev)
        continue;
      out.push_back({number, std::move(node)});
    }
    return out;
  }

  // Why private /tmp and /run: host unix sockets (D-Bus, ssh-agent, X11, tmux, docker) live
  // there and must be unreachable (SECURITY-RULES 4).
  void mount_tmp_and_run() {
    run_step(Stage::Filesystem, "mount: /tmp", [&] {
      if (has_host_tmp(spec_)) {
        bind_from_host("/tmp");
      } else {
        platform::mount_fs("tmpfs", in_new_root("/tmp"), MS_NOSUID | MS_NODEV, "mode=1777");
      }
    });
    plan_lines_.push_back(has_host_tmp(spec_) ? "[fence:fs] bind host /tmp read-write (allowWrite)"
                                              : "[fence:fs] tmpfs /tmp (private)");
    run_step(Stage::Filesystem, "mount: /run", [&] {
      if (!exists_beneath(new_root_.get(), "/run")) return;
      platform::mount_fs("tmpfs", in_new_root("/run"), MS_NOSUID | MS_NODEV, "mode=0755");
      // The command's XDG_RUNTIME_DIR: on a fresh tmpfs, so no symlink can be on the way.
      const std::string runtime = in_new_root(ipc::private_runtime_dir(::getuid()));
      for (const auto& [dir, mode] :
           {std::pair{in_new_root("/run/user"), 0755}, std::pair{runtime, 0700}}) {
        if (::mkdir(dir.c_str(), mode) != 0 || ::chmod(dir.c_str(), mode) != 0)
          throw StepError(Stage::Filesystem, "mount: create " + dir, errno, dir);
      }
    });
    plan_lines_.push_back("[fence:fs] tmpfs /run (private), with " +
                          ipc::private_runtime_dir(::getuid()) + " (mode 0700, writable)");
    make_nest_dir();
  }

  // /run/fence, for fence runs inside this sandbox (notify/nest_registry.hpp): the command rules
  // checked at every exec (ipc::kExecRulesFile) and the socket nested runs register on.
  // SECURITY: only on the private /run's fresh tmpfs (never the host's), and a read-only bind
  // made before the command exists: nothing inside can change what a nested run relies on.
  void make_nest_dir() {
    if (!exists_beneath(new_root_.get(), "/run")) return;
    const std::string dir = "/run/fence";
    run_step(Stage::Filesystem, "mount: " + dir, [&] {
      make_dir(in_new_root(dir), 0755);
      if (!spec_.exec_rules.empty()) write_file(in_new_root(ipc::kExecRulesFile), spec_.exec_rules);
      UniqueFd listener(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
      if (!listener) throw platform::SysError("socket");
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      const std::string path = in_new_root(ipc::kNestSocket);
      if (path.size() >= sizeof addr.sun_path)
        throw platform::SysError("socket path " + path, ENAMETOOLONG);
      std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
      if (::bind(listener.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
          ::listen(listener.get(), 16) != 0)
        throw platform::SysError("listen on " + path);
      UniqueFd target = platform::open_beneath(new_root_.get(), dir, O_PATH | O_CLOEXEC);
      UniqueFd tree = platform::clone_mount(target.get(), false);
      platform::set_mount_attributes(tree.get(), false, kReadOnly | platform::kMountAttrNoexec, 0);
      platform::attach_mount(tree.get(), target.get());
      nest_listener_ = std::move(listener);
    });
    plan_lines_.push_back("[fence:nested] " + dir +
                          " (read-only): the command rules checked at every exec, and the socket "
                          "fence runs inside register their Landlock rulesets on");
  }

  static void write_file(const std::string& path, const std::string& text) {
    UniqueFd fd(::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0444));
    if (!fd) throw platform::SysError("create " + path);
    for (std::size_t done = 0; done < text.size();) {
      const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
      if (n <= 0) throw platform::SysError("write " + path, n < 0 ? errno : EIO);
      done += static_cast<std::size_t>(n);
    }
  }

  // Binds the host's `path` (with its submounts) at the same place in the new root, read-write
  // unless `read_only`. Inside a private tmpfs (/tmp, /run) the mount point is created there
  // first — in the sandbox's own tmpfs, never on the host.
  void bind_from_host(const std::string& path, bool read_only = false) {
    UniqueFd source = platform::open_beneath(old_root_.get(), path, O_PATH | O_CLOEXEC);
    if (in_private_dir(path)) make_mount_point(path, source.get());
    UniqueFd target = platform::open_beneath(new_root_.get(), path, O_PATH | O_CLOEXEC);
    UniqueFd tree = platform::clone_mount(source.get(), true);
    const std::uint64_t attrs =
        read_only ? kReadOnly : platform::kMountAttrNosuid | platform::kMountAttrNodev;
    platform::set_mount_attributes(tree.get(), true, attrs, 0);
    platform::attach_mount(tree.get(), target.get());
  }

  // Directories the sandbox gets fresh and empty: host paths beneath them (a project in /tmp,
  // HOME under /run/user) are reachable only when the policy names them.
  bool in_private_dir(const std::string& path) const {
    return (!has_host_tmp(spec_) && ipc::is_within(path, "/tmp") && path != "/tmp") ||
           (ipc::is_within(path, "/run") && path != "/run");
  }

  // Creates the directories leading to `path` (and `path` itself, as a directory or an empty
  // file like its source) in the sandbox's private tmpfs.
  void make_mount_point(const std::string& path, int source_fd) {
    struct stat st {};
    if (::fstat(source_fd, &st) != 0) throw platform::SysError("fstat " + path);
    size_t pos = path.find('/', 1);
    while (pos != std::string::npos) {
      make_dir(in_new_root(path.substr(0, pos)), 0755);
      pos = path.find('/', pos + 1);
    }
    const std::string target = in_new_root(path);
    if (S_ISDIR(st.st_mode)) {
      make_dir(target, 0755);
    } else if (::access(target.c_str(), F_OK) != 0) {
      make_file(target, 0644);
    }
  }

  // Readable paths (the working directory, HOME, allowRead, allowExecute) that live under a
  // private directory are bound read-only from the host; writable ones come next.
  void bind_readable_in_private_dirs() {
    std::vector<std::string> paths = spec_.readable;
    paths.insert(paths.end(), spec_.executable.begin(), spec_.executable.end());
    // A working directory that is not readable (defaultDenyRead without allowRead ".") still
    // has to exist for the command's chdir: an empty directory in the private tmpfs, nothing
    // of the host's (Landlock's rule for the private /tmp would make a bind of it readable).
    auto covered = [&](const std::string& p) {
      for (const auto* list : {&spec_.readable, &spec_.executable, &spec_.writable})
        for (const auto& root : *list)
          if (ipc::is_within(p, root)) return true;
      return false;
    };
    if (in_private_dir(spec_.cwd) && !covered(spec_.cwd)) {
      run_step(Stage::Filesystem, "mount: working directory " + spec_.cwd, [&] {
        for (std::size_t pos = spec_.cwd.find('/', 1);; pos = spec_.cwd.find('/', pos + 1)) {
          make_dir(in_new_root(spec_.cwd.substr(0, pos)), 0755);
          if (pos == std::string::npos) break;
        }
      });
      plan_lines_.push_back("[fence:fs] working directory " + spec_.cwd +
                            ": not readable, an empty directory inside");
    }
    for (const auto& path : parents_first(paths)) {
      if (!in_private_dir(path) || in_writable_root(spec_, path)) continue;
      if (!exists_beneath(old_root_.get(), path)) continue;
      run_step(Stage::Filesystem, "mount: read-only bind " + path,
               [&] { bind_from_host(path, true); });
      plan_lines_.push_back("[fence:fs] bind " + path + " read-only (inside a private directory)");
    }
  }

  // The host's /tmp, when writable, is bound in its own step (mount_tmp_and_run).
  void bind_writable() {
    for (const auto& path : parents_first(writable_roots(spec_))) {
      if (path == "/tmp") continue;
      if (!exists_beneath(old_root_.get(), path)) {
        plan_lines_.push_back("[fence:fs] allowWrite " + path + ": does not exist, skipped");
        continue;
      }
      run_step(Stage::Filesystem, "mount: allowWrite bind " + path, [&] { bind_from_host(path); });
      plan_lines_.push_back("[fence:fs] bind " + path + " read-write");
    }
  }

  // allowUnixSockets: each listed host socket appears at its own path, also inside the
  // private /tmp and /run. Anything that is not a socket is refused, so the list cannot be
  // used to expose other files.
  void bind_unix_sockets() {
    for (const auto& path : spec_.unix_sockets) {
      if (!exists_beneath(old_root_.get(), path)) {
        plan_lines_.push_back("[fence:net] allowUnixSockets " + path + ": does not exist, skipped");
        continue;
      }
      run_step(Stage::Filesystem, "mount: unix socket " + path, [&] {
        UniqueFd source = platform::open_beneath(old_root_.get(), path, O_PATH | O_CLOEXEC);
        struct stat st {};
        if (::fstat(source.get(), &st) != 0) throw platform::SysError("fstat " + path);
        if (!S_ISSOCK(st.st_mode))
          throw StepError(Stage::Filesystem, "mount: unix socket " + path, ENOTSOCK, path);
        // A second name appeared since the supervisor's check: not this socket's to expose.
        if (st.st_nlink != 1)
          throw StepError(Stage::Filesystem, "mount: unix socket " + path, EMLINK, path);
        if (in_private_dir(path)) bind_from_host(path, true);
      });
      plan_lines_.push_back("[fence:net] unix socket " + path + " reachable (allowUnixSockets)");
    }
  }

  // SECURITY: a protected path must not be defeated by renaming or removing one of its
  // parents (`mv .git .git_old`). Every directory between a writable root and a protected
  // path becomes a mount point (a bind onto itself), and the kernel refuses to rename or
  // remove a mount point (EBUSY). Done before the read-only binds and masks so that the
  // recursive self-binds carry no stale copy of them.
  void pin_protected_parents() {
    std::set<std::string> pins;
    std::vector<std::string> protected_paths = spec_.read_only;
    protected_paths.insert(protected_paths.end(), spec_.hidden.begin(), spec_.hidden.end());
    for (const auto& path : protected_paths) {
      for (const auto& root : writable_roots(spec_)) {
        if (path == root || !ipc::is_within(path, root)) continue;
        std::string dir = path.substr(0, path.rfind('/'));
        while (dir.size() > root.size() && ipc::is_within(dir, root)) {
          pins.insert(dir);
          dir = dir.substr(0, dir.rfind('/'));
        }
      }
    }
    for (const auto& dir : parents_first({pins.begin(), pins.end()})) {
      if (!exists_beneath(new_root_.get(), dir)) continue;
      run_step(Stage::Filesystem, "mount: pin " + dir, [&] {
        UniqueFd target = platform::open_beneath(new_root_.get(), dir, O_PATH | O_CLOEXEC);
        UniqueFd tree = platform::clone_mount(target.get(), true);
        platform::attach_mount(tree.get(), target.get());
      });
      plan_lines_.push_back("[fence:fs] pin " + dir + " (cannot be renamed or removed)");
    }
  }

  void bind_read_only() {
    for (const auto& path : parents_first(spec_.read_only)) {
      // Outside every writable root the path is already on a read-only mount.
      if (!in_writable_root(spec_, path)) continue;
      UniqueFd target;
      try {
        // O_NOFOLLOW: a protected name that is itself a symlink is opened as the link.
        target = platform::open_beneath(new_root_.get(), path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
      } catch (const platform::SysError& e) {
        if (e.error_code() != ENOENT && e.error_code() != ENOTDIR && e.error_code() != ELOOP)
          throw StepError(Stage::Filesystem, "mount: read-only bind " + path, e.error_code(),
                          e.op());
        // ELOOP: reached through a symlink; the supervisor also sent the resolved target.
        // ENOENT: nothing to mount; init's creation guard keeps the name from being created.
        if (e.error_code() == ELOOP)
          plan_lines_.push_back("[fence:fs] protect " + path +
                                ": reached through a symlink, target protected");
        continue;
      }
      struct stat st {};
      if (::fstatat(target.get(), "", &st, AT_EMPTY_PATH) != 0)
        throw StepError(Stage::Filesystem, "mount: read-only bind " + path, errno, "fstat");
      run_step(Stage::Filesystem, "mount: read-only bind " + path, [&] {
        // SECURITY: a symlink cannot be made read-only, but once it is a mount point it cannot
        // be removed, renamed or replaced (EBUSY), so it keeps pointing at the protected target.
        const bool link = S_ISLNK(st.st_mode);
        UniqueFd tree = platform::clone_mount(target.get(), !link);
        if (!link) platform::set_mount_attributes(tree.get(), true, kReadOnly, 0);
        platform::attach_mount(tree.get(), target.get());
      });
      plan_lines_.push_back("[fence:fs] " +
                            std::string(S_ISLNK(st.st_mode) ? "pin symlink " : "ro-bind ") + path);
    }
  }

  // allowWrite entries missing yet (creatable_roots.hpp): nothing is created here. For each,
  // a read-write clone of the host's mount at the nearest directory that exists is held for
  // init, which makes exactly the entry's path through it when the command asks. Skipped (and
  // said) when that directory is not the host's inside (a private /tmp or /run, a mask), or
  // the entry exists by now (made since fence looked: it is written next run).
  void hold_creatable() {
    for (const auto& path : spec_.creatable) {
      if (path == "/" || in_writable_root(spec_, path)) continue;
      try {
        hold_one_creatable(path);
      } catch (const platform::SysError& e) {
        // Something on the host in the way (a symlink, a directory fence cannot enter): this
        // entry is not writable this run; the others and the sandbox are unaffected.
        plan_lines_.push_back("[fence:fs] allowWrite " + path + ": " + e.what() + "; skipped");
      }
    }
  }

  void hold_one_creatable(const std::string& path) {
    {
      if (exists_beneath(old_root_.get(), path)) {
        plan_lines_.push_back("[fence:fs] allowWrite " + path +
                              ": appeared since fence looked; read-only this run");
        return;
      }
      std::string ancestor = path;
      do {
        ancestor = ancestor.substr(0, ancestor.rfind('/'));
        if (ancestor.empty()) ancestor = "/";
      } while (ancestor != "/" && !exists_beneath(old_root_.get(), ancestor));
      UniqueFd host;
      UniqueFd inside;
      try {
        host = platform::open_beneath(old_root_.get(), ancestor, O_PATH | O_DIRECTORY | O_CLOEXEC);
        inside =
            platform::open_beneath(new_root_.get(), ancestor, O_PATH | O_DIRECTORY | O_CLOEXEC);
      } catch (const platform::SysError&) {
        plan_lines_.push_back("[fence:fs] allowWrite " + path + ": " + ancestor +
                              " cannot be reached as a directory inside the sandbox; skipped");
        return;
      }
      struct stat host_st {};
      struct stat inside_st {};
      if (::fstat(host.get(), &host_st) != 0 || ::fstat(inside.get(), &inside_st) != 0 ||
          host_st.st_dev != inside_st.st_dev || host_st.st_ino != inside_st.st_ino) {
        plan_lines_.push_back("[fence:fs] allowWrite " + path + ": " + ancestor +
                              " is not the host's inside the sandbox; skipped");
        return;
      }
      CreatableRoot root;
      root.path = path;
      root.ancestor = ancestor;
      root.tree = platform::clone_mount(host.get(), true);
      platform::set_mount_attributes(root.tree.get(), true,
                                     platform::kMountAttrNosuid | platform::kMountAttrNodev, 0);
      creatable_.push_back(std::move(root));
      plan_lines_.push_back("[fence:fs] allowWrite " + path +
                            ": missing; the command may create it (through init, beneath " +
                            ancestor + ")");
    }
  }

  // The transparent path: /etc/hosts and /etc/resolv.conf replaced (read-only binds of staged
  // files) so that every name lookup is a DNS query fence decides. A symlinked resolv.conf
  // (systemd-resolved) is left: it dangles inside, and glibc then asks 127.0.0.1:53, which is
  // redirected the same way.
  void replace_name_service() {
    for (const auto& [target, staged] :
         {std::pair{"/etc/hosts", kHostsFile}, std::pair{"/etc/resolv.conf", kResolvFile}}) {
      UniqueFd fd;
      try {
        fd = platform::open_beneath(new_root_.get(), target, O_PATH | O_CLOEXEC);
      } catch (const platform::SysError&) {
        continue;  // missing, or a symlink
      }
      struct stat st {};
      if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      // A named copy: clang before 16 cannot capture a structured binding.
      const char* staged_file = staged;
      run_step(Stage::Filesystem, std::string("mount: ") + target + " (transparent path)", [&] {
        UniqueFd source(::open(staged_file, O_PATH | O_CLOEXEC));
        if (!source) throw platform::SysError(std::string("open ") + staged_file);
        UniqueFd tree = platform::clone_mount(source.get(), false);
        platform::set_mount_attributes(tree.get(), false, kReadOnly, 0);
        platform::attach_mount(tree.get(), fd.get());
      });
      plan_lines_.push_back(std::string("[fence:net] ") + target +
                            " replaced: every name is asked of fence's DNS");
    }
  }

  // SECURITY: masks go last so no later bind can re-expose a denied path (SECURITY-RULES 9).
  // Directories get an empty read-only tmpfs with mode 000, files a read-only empty file with
  // mode 000: reads fail with EACCES instead of returning data.
  void mask_hidden() {
    for (const auto& path : parents_first(spec_.hidden)) {
      if (!exists_beneath(new_root_.get(), path)) continue;
      run_step(Stage::Filesystem, "mount: denyRead mask " + path, [&] {
        UniqueFd target = platform::open_beneath(new_root_.get(), path, O_PATH | O_CLOEXEC);
        struct stat st {};
        if (::fstat(target.get(), &st) != 0) throw platform::SysError("fstat " + path);
        if (S_ISDIR(st.st_mode)) {
          platform::mount_fs("tmpfs", in_new_root("/proc/self/fd/" + std::to_string(target.get())),
                             MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0000,size=4k");
        } else {
          UniqueFd mask(::open(kMaskFile, O_PATH | O_CLOEXEC));
          if (!mask) throw platform::SysError("open mask file");
          UniqueFd tree = platform::clone_mount(mask.get(), false);
          platform::set_mount_attributes(tree.get(), false, kReadOnly, 0);
          platform::attach_mount(tree.get(), target.get());
        }
      });
      plan_lines_.push_back("[fence:fs] mask " + path + " (denyRead)");
    }
  }

  const ipc::LaunchSpec& spec_;
  std::span<const int> stdio_;
  std::vector<CreatableRoot>& creatable_;
  UniqueFd& nest_listener_;
  UniqueFd old_root_;
  UniqueFd new_root_dir_;
  UniqueFd new_root_;
  std::vector<std::string> plan_lines_;
  bool loopback_congestion_control_ = false;
};

}  // namespace

std::vector<std::string> build_root_filesystem(const ipc::LaunchSpec& spec,
                                               std::span<const int> stdio,
                                               std::vector<CreatableRoot>& creatable,
                                               UniqueFd& nest_listener) {
  return RootBuilder(spec, stdio, creatable, nest_listener).build();
}

}  // namespace fence::launcher
