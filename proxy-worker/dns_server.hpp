// The transparent path's DNS in the worker: every query a program in the sandbox sends to port
// 53 (redirected here by the sandbox's nftables rules), over UDP (one socket) or TCP (a
// listener; RFC 7766 framing, DnsStream). Malformed queries are answered here
// (dns_message.hpp); for the one name of each well-formed query the supervisor is asked
// (DnsQuery) and its DnsAnswer becomes the answer. Nothing is ever forwarded.
//
// Trust: every byte is hostile. At most kMaxPendingDns queries wait for the supervisor; more
// are answered SERVFAIL at once. At most kMaxDnsStreams TCP connections are open (more are
// reset), each with kMaxStreamPending queries waiting (then it is not read until answers go
// out) and an idle deadline. UDP answers go back from the socket the query arrived on, to the
// address it came from (the kernel's connection tracking makes them come from the address the
// program asked).
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "ipc/protocol.hpp"
#include "platform/unique_fd.hpp"
#include "proxy-worker/dns_message.hpp"

namespace fence::proxy_worker {

class SupervisorClient;
class DnsStream;

inline constexpr std::size_t kMaxPendingDns = 256;
inline constexpr std::size_t kMaxDnsStreams = 64;
inline constexpr std::size_t kMaxStreamPending = 8;
inline constexpr std::chrono::seconds kDnsStreamIdle{10};

class DnsServer {
 public:
  // `datagrams`: the UDP socket. TCP connections are accepted by the ProxyServer's listener
  // loop (its pause after EMFILE included) and handed over with add_stream().
  DnsServer(boost::asio::io_context& io, SupervisorClient& supervisor,
            platform::UniqueFd datagrams);
  DnsServer(const DnsServer&) = delete;
  DnsServer& operator=(const DnsServer&) = delete;

  void start();
  // A TCP connection to the DNS port; reset at once while kMaxDnsStreams are open.
  void add_stream(platform::UniqueFd client);
  // The supervisor's answer to one of our DnsQuery ids; throws ipc::ProtocolError for an id
  // that is not pending.
  void answer(const ipc::DnsAnswer& answer);

  // --- for DnsStream ---
  boost::asio::io_context& io() { return io_; }
  // Asks the supervisor about `query` for `stream`; false when too many are pending (the
  // stream answers SERVFAIL itself).
  bool ask_for_stream(DnsQuery query, std::weak_ptr<DnsStream> stream);
  void stream_closed() { --live_streams_; }

 private:
  struct Pending {
    sockaddr_storage client{};  // UDP: where the query came from
    socklen_t client_len = 0;
    std::weak_ptr<DnsStream> stream;  // TCP: the connection it came on
    DnsQuery query;
  };

  void wait_datagram();
  void datagrams_ready();
  void send_to(const std::vector<std::uint8_t>& bytes, const sockaddr_storage& to, socklen_t len);

  boost::asio::io_context& io_;
  SupervisorClient& supervisor_;
  boost::asio::posix::stream_descriptor datagrams_;
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, Pending> pending_;
  std::size_t live_streams_ = 0;
};

}  // namespace fence::proxy_worker
