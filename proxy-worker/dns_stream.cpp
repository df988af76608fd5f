#include "proxy-worker/dns_stream.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "proxy-worker/dns_message.hpp"
#include "proxy-worker/dns_server.hpp"

namespace fence::proxy_worker {

namespace asio = boost::asio;

DnsStream::DnsStream(DnsServer& server, platform::UniqueFd client)
    : server_(server), socket_(server.io(), client.release()), idle_(server.io()) {}

DnsStream::~DnsStream() {
  server_.stream_closed();
}

void DnsStream::start() {
  arm_idle();
  read_length();
}

// SECURITY: reading stops while kMaxStreamPending answers are owed or unsent, so a program that
// never reads its answers holds a bounded amount of the worker's memory.
void DnsStream::read_length() {
  if (closed_ || waiting_ + out_.size() >= kMaxStreamPending) {
    reading_ = false;
    return;
  }
  reading_ = true;
  asio::async_read(socket_, asio::buffer(length_),
                   [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                     if (ec) return self->close();
                     const std::size_t length =
                         (std::size_t{self->length_[0]} << 8) | self->length_[1];
                     if (length == 0 || length > kMaxDnsQuerySize) return self->close();
                     self->read_message(length);
                   });
}

void DnsStream::read_message(std::size_t length) {
  message_.resize(length);
  asio::async_read(socket_, asio::buffer(message_),
                   [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                     if (ec) return self->close();
                     self->on_message();
                   });
}

void DnsStream::on_message() {
  arm_idle();
  DnsParse parse = parse_dns_query(message_);
  if (!parse.query) {
    if (parse.refusal.empty()) return close();  // not even a readable DNS header
    send(parse.refusal, false);
    return read_length();
  }
  const DnsQuery query = *parse.query;
  ++waiting_;
  if (!server_.ask_for_stream(std::move(*parse.query), weak_from_this())) {
    --waiting_;
    send(dns_answer(query, DnsRcode::ServFail, {}, 0), false);
  }
  read_length();
}

void DnsStream::send(const std::vector<std::uint8_t>& message, bool answers_a_query) {
  if (answers_a_query && waiting_ > 0) --waiting_;
  if (closed_) return;
  std::vector<std::uint8_t> framed;
  framed.reserve(message.size() + 2);
  framed.push_back(static_cast<std::uint8_t>(message.size() >> 8));
  framed.push_back(static_cast<std::uint8_t>(message.size()));
  framed.insert(framed.end(), message.begin(), message.end());
  out_.push_back(std::move(framed));
  if (!writing_) write_next();
}

void DnsStream::write_next() {
  if (closed_) return;
  if (out_.empty()) {
    writing_ = false;
    if (!reading_) read_length();  // room again for queries
    return;
  }
  writing_ = true;
  asio::async_write(socket_, asio::buffer(out_.front()),
                    [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                      if (ec) return self->close();
                      self->out_.pop_front();
                      self->write_next();
                    });
}

// The idle deadline holds the connection alive while it waits for the supervisor (no read or
// write is in flight then); expiring closes it, a message re-arms it.
void DnsStream::arm_idle() {
  idle_.expires_after(kDnsStreamIdle);
  idle_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) self->close();
  });
}

void DnsStream::close() {
  if (closed_) return;
  closed_ = true;
  idle_.cancel();
  boost::system::error_code ignored;
  socket_.close(ignored);
}

}  // namespace fence::proxy_worker
