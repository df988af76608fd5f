// Which unix sockets are bound in a network namespace, asked of the kernel's socket diagnostics
// (NETLINK_SOCK_DIAG, unix_diag) rather than guessed from paths.
//
// Why it matters: connect(2) to a pathname socket reaches whichever socket is bound to that
// file, whatever mount or namespace the file is seen through. A socket file that a process of
// the sandbox bound belongs to a socket in the sandbox's network namespace; a host service's
// socket (gpg-agent, docker, D-Bus) belongs to a socket of another namespace. The kernel
// reports, per network namespace, the (device, inode) of the file each socket is bound to.
#pragma once

#include <sys/types.h>

namespace fence::platform {

// True when a unix socket of the calling thread's network namespace is bound to the socket
// file whose stat(2) gives st_dev == dev and st_ino == ino. Throws SysError when the kernel
// cannot be asked (callers treat that as "not bound here").
bool unix_socket_bound_here(dev_t dev, ino_t ino);

}  // namespace fence::platform
