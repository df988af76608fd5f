#include "proxy-worker/dns_server.hpp"

#include <arpa/inet.h>

#include <array>
#include <cerrno>

#include "ipc/errors.hpp"
#include "platform/sys_error.hpp"
#include "proxy-worker/supervisor_client.hpp"

namespace fence::proxy_worker {
namespace {

// Datagrams read per wake-up before the loop serves others.
constexpr int kReadBurst = 64;
// The synthetic addresses stay bound for the session; a short TTL still keeps caches honest.
constexpr std::uint32_t kAnswerTtl = 60;

}  // namespace

DnsServer::DnsServer(boost::asio::io_context& io, SupervisorClient& supervisor,
                     platform::UniqueFd socket)
    : supervisor_(supervisor), socket_(io, socket.release()) {}

void DnsServer::start() {
  wait();
}

void DnsServer::wait() {
  socket_.async_wait(boost::asio::posix::descriptor_base::wait_read,
                     [this](const boost::system::error_code& ec) {
                       if (ec) throw platform::SysError("DNS socket wait", ec.value());
                       read_ready();
                     });
}

void DnsServer::read_ready() {
  std::array<std::uint8_t, kMaxDnsQuerySize + 1> buf{};
  for (int i = 0; i < kReadBurst; ++i) {
    Pending p;
    p.client_len = sizeof p.client;
    const ssize_t n = ::recvfrom(socket_.native_handle(), buf.data(), buf.size(), MSG_DONTWAIT,
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
  wait();
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
  send_to(dns_answer(p.query, static_cast<DnsRcode>(answer.rcode), addresses, kAnswerTtl),
          p.client, p.client_len);
  pending_.erase(it);
}

void DnsServer::send_to(const std::vector<std::uint8_t>& bytes, const sockaddr_storage& to,
                        socklen_t len) {
  // Best effort, never waits: a program that does not read its answers loses them.
  [[maybe_unused]] const auto n =
      ::sendto(socket_.native_handle(), bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
               reinterpret_cast<const sockaddr*>(&to), len);
}

}  // namespace fence::proxy_worker
