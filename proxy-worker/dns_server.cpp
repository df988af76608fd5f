#include "proxy-worker/dns_server.hpp"

#include <arpa/inet.h>

#include <array>
#include <cerrno>

#include "ipc/errors.hpp"
#include "platform/sys_error.hpp"
#include "platform/tcp_listener.hpp"
#include "proxy-worker/dns_stream.hpp"
#include "proxy-worker/supervisor_client.hpp"

namespace fence::proxy_worker {
namespace {

// Datagrams read per wake-up before the loop serves others.
constexpr int kReadBurst = 64;
// The synthetic addresses stay bound for the session; a short TTL still keeps caches honest.
constexpr std::uint32_t kAnswerTtl = 60;

}  // namespace

DnsServer::DnsServer(boost::asio::io_context& io, SupervisorClient& supervisor,
                     platform::UniqueFd datagrams)
    : io_(io), supervisor_(supervisor), datagrams_(io, datagrams.release()) {}

void DnsServer::start() {
  wait_datagram();
}

void DnsServer::wait_datagram() {
  datagrams_.async_wait(boost::asio::posix::descriptor_base::wait_read,
                        [this](const boost::system::error_code& ec) {
                          if (ec) throw platform::SysError("DNS socket wait", ec.value());
                          datagrams_ready();
                        });
}

void DnsServer::add_stream(platform::UniqueFd client) {
  // SECURITY: a bounded number of connections; one more is reset at once.
  if (live_streams_ >= kMaxDnsStreams) {
    platform::reset_on_close(client.get());
    return;
  }
  ++live_streams_;
  std::make_shared<DnsStream>(*this, std::move(client))->start();
}

bool DnsServer::ask_for_stream(DnsQuery query, std::weak_ptr<DnsStream> stream) {
  if (pending_.size() >= kMaxPendingDns) return false;
  const std::uint64_t id = next_id_++;
  supervisor_.ask_dns(ipc::DnsQuery{id, query.name, query.type});
  Pending p;
  p.stream = std::move(stream);
  p.query = std::move(query);
  pending_.emplace(id, std::move(p));
  return true;
}

void DnsServer::datagrams_ready() {
  std::array<std::uint8_t, kMaxDnsQuerySize + 1> buf{};
  for (int i = 0; i < kReadBurst; ++i) {
    Pending p;
    p.client_len = sizeof p.client;
    const ssize_t n = ::recvfrom(datagrams_.native_handle(), buf.data(), buf.size(), MSG_DONTWAIT,
                                 reinterpret_cast<sockaddr*>(&p.client), &p.client_len);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR || errno == ECONNREFUSED) continue;
      throw platform::SysError("DNS socket recvfrom");
    }
    DnsParse parse = parse_dns_query(std::span(buf.data(), static_cast<std::size_t>(n)));
    if (!parse.query) {
      if (!parse.refusal.empty()) send_to(parse.refusal, p.client, p.client_len);
      continue;
    }
    if (pending_.size() >= kMaxPendingDns) {
      send_to(dns_answer(*parse.query, DnsRcode::ServFail, {}, 0), p.client, p.client_len);
      continue;
    }
    const std::uint64_t id = next_id_++;
    p.query = std::move(*parse.query);
    supervisor_.ask_dns(ipc::DnsQuery{id, p.query.name, p.query.type});
    pending_.emplace(id, std::move(p));
  }
  wait_datagram();
}

void DnsServer::answer(const ipc::DnsAnswer& answer) {
  const auto it = pending_.find(answer.id);
  if (it == pending_.end())
    throw ipc::ProtocolError("DnsAnswer for id " + std::to_string(answer.id) + ", not pending");
  const Pending& p = it->second;
  std::vector<std::array<std::uint8_t, 4>> addresses;
  if (answer.address != 0)
    addresses.push_back({static_cast<std::uint8_t>(answer.address >> 24),
                         static_cast<std::uint8_t>(answer.address >> 16),
                         static_cast<std::uint8_t>(answer.address >> 8),
                         static_cast<std::uint8_t>(answer.address)});
  const std::vector<std::uint8_t> bytes =
      dns_answer(p.query, static_cast<DnsRcode>(answer.rcode), addresses, kAnswerTtl);
  if (p.client_len != 0) {
    send_to(bytes, p.client, p.client_len);
  } else if (const std::shared_ptr<DnsStream> stream = p.stream.lock()) {
    stream->send(bytes, true);
  }
  pending_.erase(it);
}

void DnsServer::send_to(const std::vector<std::uint8_t>& bytes, const sockaddr_storage& to,
                        socklen_t len) {
  // Best effort, never waits: a program that does not read its answers loses them.
  [[maybe_unused]] const auto n =
      ::sendto(datagrams_.native_handle(), bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
               reinterpret_cast<const sockaddr*>(&to), len);
}

}  // namespace fence::proxy_worker
