// One TCP connection to the transparent path's DNS (RFC 7766): each message is preceded by its
// length in two bytes; a program may send several before reading answers, and answers may go
// out in any order (each carries its query's id).
//
// Trust: the bytes are hostile. A length of 0 or above kMaxDnsQuerySize, or a message whose
// header cannot be read, ends the connection. At most kMaxStreamPending queries wait; the
// connection is then not read until answers go out. kDnsStreamIdle without a message ends it.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "platform/unique_fd.hpp"

namespace fence::proxy_worker {

class DnsServer;

class DnsStream : public std::enable_shared_from_this<DnsStream> {
 public:
  DnsStream(DnsServer& server, platform::UniqueFd client);
  ~DnsStream();
  DnsStream(const DnsStream&) = delete;
  DnsStream& operator=(const DnsStream&) = delete;

  void start();
  // An answer (or a refusal) for one of this connection's queries.
  void send(const std::vector<std::uint8_t>& message, bool answers_a_query);

 private:
  void read_length();
  void read_message(std::size_t length);
  void on_message();
  void write_next();
  void arm_idle();
  void close();

  DnsServer& server_;
  boost::asio::posix::stream_descriptor socket_;
  boost::asio::steady_timer idle_;
  std::array<std::uint8_t, 2> length_{};
  std::vector<std::uint8_t> message_;
  std::deque<std::vector<std::uint8_t>> out_;
  std::size_t waiting_ = 0;  // queries the supervisor has not answered yet
  bool reading_ = false;
  bool writing_ = false;
  bool closed_ = false;
};

}  // namespace fence::proxy_worker
