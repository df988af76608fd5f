// The transparent path's DNS socket in the worker: reads each query a program in the sandbox
// sends to port 53 (redirected here by the sandbox's nftables rules), answers malformed ones
// itself (dns_message.hpp), and asks the supervisor about the one name of each well-formed
// query (DnsQuery); the supervisor's DnsAnswer becomes the answer. Nothing is ever forwarded.
//
// Trust: every datagram is hostile. At most kMaxPendingDns queries wait for the supervisor;
// more are answered SERVFAIL at once. Answers go back from the socket the query arrived on, to
// the address it came from (the kernel's connection tracking makes it come from the address
// the program asked).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "ipc/protocol.hpp"
#include "platform/unique_fd.hpp"
#include "proxy-worker/dns_message.hpp"

namespace fence::proxy_worker {

class SupervisorClient;

inline constexpr std::size_t kMaxPendingDns = 256;

class DnsServer {
 public:
  DnsServer(boost::asio::io_context& io, SupervisorClient& supervisor, platform::UniqueFd socket);
  DnsServer(const DnsServer&) = delete;
  DnsServer& operator=(const DnsServer&) = delete;

  void start();
  // The supervisor's answer to one of our DnsQuery ids; throws ipc::ProtocolError for an id
  // that is not pending.
  void answer(const ipc::DnsAnswer& answer);

 private:
  struct Pending {
    sockaddr_storage client{};
    socklen_t client_len = 0;
    DnsQuery query;
  };

  void wait();
  void read_ready();
  void send_to(const std::vector<std::uint8_t>& bytes, const sockaddr_storage& to, socklen_t len);

  SupervisorClient& supervisor_;
  boost::asio::posix::stream_descriptor socket_;
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, Pending> pending_;
};

}  // namespace fence::proxy_worker
