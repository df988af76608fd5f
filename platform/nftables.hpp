// The transparent network path's kernel side, inside the sandbox's own user and network
// namespaces (where an unprivileged user holds CAP_NET_ADMIN): default routes over lo, and
// nftables rules, sent with libnftnl over one netlink batch (no rule text to parse, no nft
// binary, about a tenth of a millisecond).
//
//   table ip fence / table ip6 fence
//     chain nat_out   (nat, output, priority -100)
//       TCP to port 53, any address (IPv4)              redirect to :dns_port
//       TCP to any address outside 127.0.0.0/8 (::1)   redirect to :tcp_port
//       UDP to port 53, any address (IPv4)              redirect to :dns_port
//     chain filter_out (filter, output, priority 0: after the redirects)
//       UDP to any other port outside loopback          reject (port unreachable: ECONNREFUSED)
//       anything but TCP and UDP outside loopback       reject (administratively prohibited)
//
// A redirected connection's original destination is platform::original_destination
// (tcp_listener.hpp) on the accepted socket; a redirected datagram's answer, sent from the socket
// it arrived on, reaches the program as if from the address it asked.
#pragma once

#include <cstdint>
#include <string>

namespace fence::platform {

// A default route over lo, for IPv4 and IPv6, in this network namespace: every address is then
// reachable as far as the output hooks above. Throws SysError.
void add_default_routes_over_loopback();

// Installs the tables above in this network namespace. Throws SysError (EPERM without
// CAP_NET_ADMIN here, EOPNOTSUPP or ENOENT without nf_tables or its nat support).
void install_transparent_rules(std::uint16_t tcp_port, std::uint16_t dns_port);

// Whether this kernel lets a sandbox install those rules: tried in a child process in fresh
// user and network namespaces (nothing of the caller's changes). Empty when it does, else why
// not (for --linux-features).
std::string probe_transparent_rules();

}  // namespace fence::platform
