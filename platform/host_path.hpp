// Paths on the host that fence itself writes to or connects to: the audit log, the syslog
// socket, and every later file fence creates (trust store, config written for the user).
//
// Threat: an earlier sandboxed run could write wherever its policy let it (the project,
// ~/.npm, /tmp...). There it can plant `./audit.jsonl -> ~/.bashrc`, a directory symlink
// `./logs -> ~/.config/autostart`, or a hard link to a file outside every writable tree.
// A later run that opens such a path for writing would append text the command controls to a
// file that runs the next time a shell starts: an escape to the host.
//
// SECURITY: so these paths are resolved component by component, each step an
// openat(O_PATH | O_NOFOLLOW) on the directory reached so far (a swap after a check changes
// nothing: the next step starts from the fd). A symlink is followed only when no sandbox can
// have made it:
//   - it is owned by root, in a directory owned by root that group and others cannot write;
//   - and fence runs as a user other than root: a sandbox runs as the invoking user with no
//     capability over host files, so it can neither create nor replace such a link, whatever
//     its policy bound read-write. A sandbox of root could (its allowWrite may name any
//     directory), so as root no symlink is followed at all.
// Anything else stops with HostPathError naming the symlink and where it points, so the user
// can give the real location. The last component is opened with O_NOFOLLOW, and a regular file
// with more than one link (a hard link planted next to a file elsewhere) is refused.
#pragma once

#include <sys/types.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "platform/unique_fd.hpp"

namespace fence::platform {

class HostPathError : public std::runtime_error {
 public:
  HostPathError(std::string_view path, const std::string& reason)
      : std::runtime_error(std::string(path) + ": " + reason), reason_(reason) {}
  // What is wrong, without the path that was asked for ("refusing to follow the symlink ...").
  const std::string& reason() const noexcept { return reason_; }

 private:
  std::string reason_;
};

// Where `path` leads: the directory that holds its last component (reached as above) and that
// component. `path` is absolute or relative to the working directory.
struct HostPath {
  UniqueFd directory;  // O_PATH | O_DIRECTORY
  std::string name;    // the last component (never "", "." or "..")
  std::string path;    // the absolute path reached, with every followed symlink replaced
};

// Throws HostPathError: an untrusted symlink on the way, a component that is not a directory,
// a missing directory, a path that ends in "/", "." or "..".
HostPath resolve_host_path(std::string_view path);
// The same, creating missing directories on the way with `create_directories` (0: none).
HostPath resolve_host_path(std::string_view path, mode_t create_directories);

// Replaces the file at `path` with `content` (mode `mode` for a new file): written to a
// temporary file next to it, synced, renamed over it. Missing directories are created (0700).
// Resolved as above. Throws HostPathError.
void replace_host_file(std::string_view path, std::string_view content, mode_t mode);

// The descriptor a path names when it is one fence inherited from its caller rather than a file
// (`--audit-log >(jq .)` passes /dev/fd/63): /dev/fd/N, /proc/self/fd/N, /dev/stdout (1),
// /dev/stderr (2). nullopt for any other path.
std::optional<int> inherited_fd_of(std::string_view path);

struct HostFile {
  UniqueFd fd;
  std::string path;  // as resolved (for messages, and to protect it from the sandbox); "" for
                     // an inherited descriptor
};

// Opens `path` for appending (O_WRONLY | O_APPEND, created with `mode` if missing), resolved as
// above. Accepts a regular file with a single link, or a character device (the sandbox cannot
// create device nodes: /dev/null). A path naming an inherited descriptor (inherited_fd_of)
// gets a close-on-exec duplicate of it, whatever it is (a pipe, a terminal). Never blocks:
// a FIFO at the path is refused, not waited on. Throws HostPathError.
HostFile open_host_file_for_append(std::string_view path, mode_t mode);

// An O_PATH descriptor of the unix socket at `path`, resolved as above (connect to it through
// /proc/self/fd/N). Throws HostPathError, also when the file is not a socket.
UniqueFd open_host_socket(std::string_view path);

}  // namespace fence::platform
