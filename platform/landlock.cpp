#include "platform/landlock.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "platform/sys_error.hpp"
#include "platform/unique_fd.hpp"

namespace fence::platform {

namespace landlock {

std::uint64_t fs_rights_for_abi(int abi) {
  if (abi < 1) return 0;
  std::uint64_t rights = (kAccessFsMakeSym << 1) - 1;  // ABI 1: bits 0..12
  if (abi >= 2) rights |= kAccessFsRefer;
  if (abi >= 3) rights |= kAccessFsTruncate;
  if (abi >= 5) rights |= kAccessFsIoctlDev;
  return rights;
}

std::uint64_t net_rights_for_abi(int abi) {
  return abi >= 4 ? (kAccessNetBindTcp | kAccessNetConnectTcp) : 0;
}

std::uint64_t scopes_for_abi(int abi) {
  return abi >= 6 ? (kScopeAbstractUnixSocket | kScopeSignal) : 0;
}

}  // namespace landlock

namespace {

namespace ll = landlock;

int create_ruleset(const ll::RulesetAttr* attr, std::size_t size, std::uint32_t flags) {
  return static_cast<int>(::syscall(ll::kSysCreateRuleset, attr, size, flags));
}

int add_rule(int ruleset_fd, int rule_type, const void* rule_attr) {
  return static_cast<int>(::syscall(ll::kSysAddRule, ruleset_fd, rule_type, rule_attr, 0U));
}

int restrict_self(int ruleset_fd, std::uint32_t flags) {
  return static_cast<int>(::syscall(ll::kSysRestrictSelf, ruleset_fd, flags));
}

const char* tier_name(PathAccess access) {
  switch (access) {
    case PathAccess::Read:
      return "read";
    case PathAccess::Execute:
      return "execute";
    case PathAccess::Write:
      return "write";
    case PathAccess::Device:
      return "device";
  }
  return "?";
}

std::string join_ports(const std::vector<std::uint16_t>& ports) {
  std::string out;
  for (auto port : ports) {
    if (!out.empty()) out += ", ";
    out += std::to_string(port);
  }
  return out;
}

// Adds one path rule. Returns false when the path does not exist (the caller reports it).
bool add_path_rule(int ruleset_fd, const std::string& path, PathAccess access, int abi,
                   std::uint64_t handled_fs) {
  // SECURITY: a write grant never follows a symlink in its last component: a previous
  // sandboxed run could have planted `allowed -> ~/.ssh` to widen its own write access.
  const int flags = O_PATH | O_CLOEXEC | (access == PathAccess::Write ? O_NOFOLLOW : 0);
  UniqueFd fd(::open(path.c_str(), flags));
  if (!fd) {
    if (errno == ENOENT || errno == ENOTDIR) return false;
    throw SysError("landlock: open " + path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw SysError("landlock: fstat " + path);
  if (S_ISLNK(st.st_mode)) throw SysError("landlock: write path is a symlink: " + path, ELOOP);

  std::uint64_t rights = landlock_rights_for(access, abi) & handled_fs;
  // The kernel rejects directory-only rights on a non-directory with EINVAL.
  if (!S_ISDIR(st.st_mode)) rights &= ll::kAccessFsFileRights;
  if (rights == 0) return true;  // e.g. Execute on a socket: nothing to grant

  ll::PathBeneathAttr rule{};
  rule.allowed_access = rights;
  rule.parent_fd = fd.get();
  if (add_rule(ruleset_fd, ll::kRulePathBeneath, &rule) != 0) {
    throw SysError("landlock: add rule for " + path);
  }
  return true;
}

// The rights an open descriptor already carries, as a rule on its inode (LandlockPolicy::
// held_files). Returns false for a descriptor that is not a regular file or a character device,
// or that Landlock does not take (a memfd or another file of an internal mount: EBADFD). Never
// throws: a rule not added only means the file cannot be reopened by path.
bool add_held_file_rule(int ruleset_fd, int fd, std::uint64_t handled_fs) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return false;
  if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode)) return false;
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) return false;
  if (flags & O_PATH) return false;  // holds no access to the file
  const int mode = flags & O_ACCMODE;
  std::uint64_t rights = 0;
  if (mode == O_RDONLY || mode == O_RDWR) rights |= ll::kAccessFsReadFile;
  if (mode == O_WRONLY || mode == O_RDWR) rights |= ll::kAccessFsWriteFile | ll::kAccessFsTruncate;
  if (S_ISCHR(st.st_mode)) rights |= ll::kAccessFsIoctlDev;
  rights &= handled_fs & ll::kAccessFsFileRights;
  if (rights == 0) return false;
  ll::PathBeneathAttr rule{};
  rule.allowed_access = rights;
  rule.parent_fd = fd;  // any descriptor of the file names its inode
  return add_rule(ruleset_fd, ll::kRulePathBeneath, &rule) == 0;
}

void add_port_rules(int ruleset_fd, const std::vector<std::uint16_t>& ports, std::uint64_t right) {
  for (auto port : ports) {
    ll::NetPortAttr rule{};
    rule.allowed_access = right;
    rule.port = port;
    if (add_rule(ruleset_fd, ll::kRuleNetPort, &rule) != 0) {
      throw SysError("landlock: add rule for tcp port " + std::to_string(port));
    }
  }
}

}  // namespace

int landlock_abi() {
  const int abi = create_ruleset(nullptr, 0, ll::kCreateRulesetVersion);
  return abi > 0 ? abi : 0;
}

std::uint64_t landlock_rights_for(PathAccess access, int abi) {
  switch (access) {
    case PathAccess::Read:
      return ll::kAccessFsReadFile | ll::kAccessFsReadDir | ll::kAccessFsExecute;
    case PathAccess::Execute:
      return ll::kAccessFsReadFile | ll::kAccessFsExecute;
    case PathAccess::Write:
      return ll::fs_rights_for_abi(abi);
    case PathAccess::Device:
      return (ll::kAccessFsReadFile | ll::kAccessFsWriteFile | ll::kAccessFsReadDir |
              ll::kAccessFsIoctlDev) &
             ll::fs_rights_for_abi(abi);
  }
  return 0;
}

LandlockResult apply_landlock(const LandlockPolicy& policy) {
  // A newer kernel is driven at the newest ABI whose rights we know how to name.
  const int abi = std::min(landlock_abi(), ll::kMaxKnownAbi);
  if (abi == 0) throw SysError("landlock: not supported or disabled by the kernel", EOPNOTSUPP);
  for (const auto& [path, access] : policy.paths) {
    if (path.empty() || path.front() != '/') {
      throw SysError("landlock: path is not absolute: " + path, EINVAL);
    }
  }

  // SECURITY: handle every right the ABI knows; an unhandled right is an allowed right
  // (TRUNCATE unhandled = `open(O_TRUNC)` empties a read-only file).
  ll::RulesetAttr attr{};
  attr.handled_access_fs = ll::fs_rights_for_abi(abi);
  const std::uint64_t net_rights = ll::net_rights_for_abi(abi);
  if (policy.restrict_bind) attr.handled_access_net |= net_rights & ll::kAccessNetBindTcp;
  if (policy.restrict_connect) attr.handled_access_net |= net_rights & ll::kAccessNetConnectTcp;
  if (abi >= 6) {
    if (policy.scope_abstract_unix) attr.scoped |= ll::kScopeAbstractUnixSocket;
    if (policy.scope_signal) attr.scoped |= ll::kScopeSignal;
  }
  UniqueFd ruleset(create_ruleset(&attr, sizeof(attr), 0));
  if (!ruleset) throw SysError("landlock: create ruleset");

  LandlockResult result;
  result.abi = abi;
  for (const auto& [path, access] : policy.paths) {
    if (!add_path_rule(ruleset.get(), path, access, abi, attr.handled_access_fs)) {
      result.skipped_paths.push_back(path);
    }
  }
  for (int fd : policy.held_files) add_held_file_rule(ruleset.get(), fd, attr.handled_access_fs);
  if (attr.handled_access_net & ll::kAccessNetBindTcp)
    add_port_rules(ruleset.get(), policy.bind_ports, ll::kAccessNetBindTcp);
  if (attr.handled_access_net & ll::kAccessNetConnectTcp)
    add_port_rules(ruleset.get(), policy.connect_ports, ll::kAccessNetConnectTcp);

  // restrict_self needs no_new_privs (or CAP_SYS_ADMIN); setting it again is harmless.
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) throw SysError("landlock: no_new_privs");
  if (restrict_self(ruleset.get(), 0) != 0) throw SysError("landlock: restrict self");

  return result;
}

std::vector<std::string> describe_landlock(const LandlockPolicy& policy, int abi) {
  std::vector<std::string> lines;
  if (abi <= 0) {
    lines.emplace_back("landlock: unavailable (kernel ABI 0); fence refuses to run without it");
    return lines;
  }
  const int used = std::min(abi, ll::kMaxKnownAbi);
  lines.push_back("landlock: kernel ABI " + std::to_string(abi) + ", enforcing ABI " +
                  std::to_string(used) + " (every filesystem right it knows is handled)");
  for (const auto& [path, access] : policy.paths) {
    lines.push_back(std::string("landlock: ") + tier_name(access) + " " + path);
  }
  if (!policy.held_files.empty())
    lines.emplace_back(
        "landlock: the command's stdin, stdout and stderr (a file or a terminal) can be reopened "
        "by path (/dev/stdout, /dev/stderr, /dev/pts/N) with the access they were opened with");
  if (used < 4) {
    lines.emplace_back("landlock: tcp bind/connect not restricted (needs ABI 4)");
  } else {
    lines.push_back("landlock: tcp bind allowed on ports: " +
                    (!policy.restrict_bind       ? std::string("any on the sandbox's loopback")
                     : policy.bind_ports.empty() ? std::string("none")
                                                 : join_ports(policy.bind_ports)));
    lines.push_back("landlock: tcp connect allowed on ports: " +
                    (!policy.restrict_connect       ? std::string("any on the sandbox's loopback")
                     : policy.connect_ports.empty() ? std::string("none")
                                                    : join_ports(policy.connect_ports)));
  }
  lines.emplace_back(
      "landlock: udp/sctp/mptcp are not covered; isolation is the network namespace");
  const char* scope_note = used >= 6 ? "" : " (needs ABI 6: not enforced)";
  if (policy.scope_abstract_unix) {
    lines.push_back(std::string("landlock: abstract unix sockets scoped to the sandbox") +
                    scope_note);
  }
  if (policy.scope_signal) {
    lines.push_back(std::string("landlock: signals scoped to the sandbox") + scope_note);
  }
  return lines;
}

}  // namespace fence::platform
