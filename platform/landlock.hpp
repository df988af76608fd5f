// Landlock: unprivileged filesystem, TCP and IPC-scope restriction (launcher step 5).
//
// SECURITY: we ship our own ABI constants. The distribution's linux/landlock.h is older than
// the kernel we run on; using it would silently leave rights such as TRUNCATE or IOCTL_DEV
// unhandled, i.e. allowed.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace fence::platform {

namespace landlock {

// Syscall numbers (identical on every architecture since they were added after the unification).
inline constexpr long kSysCreateRuleset = 444;
inline constexpr long kSysAddRule = 445;
inline constexpr long kSysRestrictSelf = 446;

// landlock_create_ruleset() flags.
inline constexpr std::uint32_t kCreateRulesetVersion = 1U << 0;
inline constexpr std::uint32_t kCreateRulesetErrata = 1U << 1;

// Rule types for landlock_add_rule().
inline constexpr int kRulePathBeneath = 1;
inline constexpr int kRuleNetPort = 2;

// Filesystem rights. ABI 1 unless noted.
inline constexpr std::uint64_t kAccessFsExecute = 1ULL << 0;
inline constexpr std::uint64_t kAccessFsWriteFile = 1ULL << 1;
inline constexpr std::uint64_t kAccessFsReadFile = 1ULL << 2;
inline constexpr std::uint64_t kAccessFsReadDir = 1ULL << 3;
inline constexpr std::uint64_t kAccessFsRemoveDir = 1ULL << 4;
inline constexpr std::uint64_t kAccessFsRemoveFile = 1ULL << 5;
inline constexpr std::uint64_t kAccessFsMakeChar = 1ULL << 6;
inline constexpr std::uint64_t kAccessFsMakeDir = 1ULL << 7;
inline constexpr std::uint64_t kAccessFsMakeReg = 1ULL << 8;
inline constexpr std::uint64_t kAccessFsMakeSock = 1ULL << 9;
inline constexpr std::uint64_t kAccessFsMakeFifo = 1ULL << 10;
inline constexpr std::uint64_t kAccessFsMakeBlock = 1ULL << 11;
inline constexpr std::uint64_t kAccessFsMakeSym = 1ULL << 12;
inline constexpr std::uint64_t kAccessFsRefer = 1ULL << 13;     // ABI 2
inline constexpr std::uint64_t kAccessFsTruncate = 1ULL << 14;  // ABI 3
inline constexpr std::uint64_t kAccessFsIoctlDev = 1ULL << 15;  // ABI 5

// Network rights (ABI 4).
inline constexpr std::uint64_t kAccessNetBindTcp = 1ULL << 0;
inline constexpr std::uint64_t kAccessNetConnectTcp = 1ULL << 1;

// IPC scopes (ABI 6).
inline constexpr std::uint64_t kScopeAbstractUnixSocket = 1ULL << 0;
inline constexpr std::uint64_t kScopeSignal = 1ULL << 1;

// landlock_restrict_self() flags (ABI 7): audit logging control.
inline constexpr std::uint32_t kRestrictSelfLogSameExecOff = 1U << 0;
inline constexpr std::uint32_t kRestrictSelfLogNewExecOn = 1U << 1;
inline constexpr std::uint32_t kRestrictSelfLogSubdomainsOff = 1U << 2;

// The highest ABI whose rights this file knows. A newer kernel is used at this level.
inline constexpr int kMaxKnownAbi = 7;

// Rights that make sense on a non-directory; the kernel rejects a file rule with any other.
inline constexpr std::uint64_t kAccessFsFileRights = kAccessFsExecute | kAccessFsWriteFile |
                                                     kAccessFsReadFile | kAccessFsTruncate |
                                                     kAccessFsIoctlDev;

struct RulesetAttr {
  std::uint64_t handled_access_fs;
  std::uint64_t handled_access_net;  // ABI 4
  std::uint64_t scoped;              // ABI 6
};

struct PathBeneathAttr {
  std::uint64_t allowed_access;
  std::int32_t parent_fd;
} __attribute__((packed));

struct NetPortAttr {
  std::uint64_t allowed_access;
  std::uint64_t port;
};

// Every filesystem / network right / scope that `abi` knows (0 for an ABI below the feature).
std::uint64_t fs_rights_for_abi(int abi);
std::uint64_t net_rights_for_abi(int abi);
std::uint64_t scopes_for_abi(int abi);

}  // namespace landlock

// The running kernel's Landlock ABI version; 0 when Landlock is unsupported or disabled.
int landlock_abi();

// Access tiers a policy grants on a path (and everything beneath it).
enum class PathAccess {
  Read,     // read files, list directories, execute
  Execute,  // read and execute files, but no directory listing
  Write,    // every filesystem right the ABI knows
  Device,   // read/write files, list directories, device ioctls (ttys need them)
};

struct LandlockPolicy {
  // Absolute paths. A path that does not exist is skipped and reported; a Write path whose
  // last component is a symlink is an error (never followed).
  std::vector<std::pair<std::string, PathAccess>> paths;
  // Files this process already holds open (the command's stdin, stdout, stderr): a regular file
  // or a character device (a terminal) gets, on its own inode, the rights its open mode allows
  // (reading; writing and truncating; device ioctls for a device), so reopening it by path
  // (/dev/stdout, /dev/stderr, /proc/self/fd/N, /dev/pts/N) works as outside. Nothing more
  // than the descriptor itself grants. Pipes and sockets are skipped (Landlock does not govern
  // them).
  std::vector<int> held_files;
  // Handle BIND_TCP / CONNECT_TCP: only the listed ports are then allowed. Unhandled: any port.
  bool restrict_bind = true, restrict_connect = true;
  std::vector<std::uint16_t> bind_ports, connect_ports;
  bool scope_abstract_unix = true, scope_signal = true;
};

struct LandlockResult {
  int abi = 0;
  std::vector<std::string> skipped_paths;  // for the caller to report; -d lines: describe_landlock
};

// The rights a tier grants at `abi`, before masking for non-directories.
std::uint64_t landlock_rights_for(PathAccess access, int abi);

// Restricts the calling thread (and its future children) irreversibly. Sets no_new_privs.
// Throws SysError on any failure, including an unsupported kernel (fail closed).
LandlockResult apply_landlock(const LandlockPolicy& policy);

// Human-readable lines for `fence -d`.
std::vector<std::string> describe_landlock(const LandlockPolicy& policy, int abi);

}  // namespace fence::platform
