#include "proxy-worker/socks5.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace fence::proxy_worker {

namespace {

constexpr std::uint8_t kCommandConnect = 0x01;
constexpr std::uint8_t kAddressIpv4 = 0x01;
constexpr std::uint8_t kAddressDomain = 0x03;
constexpr std::uint8_t kAddressIpv6 = 0x04;
constexpr std::size_t kGreetingPrefix = 2;  // VER NMETHODS
constexpr std::size_t kRequestPrefix = 5;   // VER CMD RSV ATYP + first address byte
constexpr std::size_t kPortSize = 2;

std::uint8_t byte_at(const std::string& s, std::size_t i) {
  return static_cast<std::uint8_t>(s[i]);
}

}  // namespace

std::size_t Socks5Parser::needed() const {
  if (stage_ == Stage::Greeting) {
    if (pending_.size() < kGreetingPrefix) return kGreetingPrefix;
    return kGreetingPrefix + byte_at(pending_, 1);
  }
  // Request: VER CMD RSV ATYP ADDR PORT. The fifth byte is the domain length for DOMAINNAME.
  if (pending_.size() < kRequestPrefix) return kRequestPrefix;
  switch (byte_at(pending_, 3)) {
    case kAddressIpv4:
      return 4 + 4 + kPortSize;
    case kAddressIpv6:
      return 4 + 16 + kPortSize;
    case kAddressDomain:
      return 4 + 1 + byte_at(pending_, 4) + kPortSize;
    default:
      return kRequestPrefix;  // rejected in feed() before this matters
  }
}

ParseStatus Socks5Parser::fail(std::uint8_t code) {
  status_ = ParseStatus::Bad;
  error_reply_code_ = code;
  stage_ = Stage::Finished;
  pending_.clear();
  host_.clear();
  port_ = 0;
  return status_;
}

ParseStatus Socks5Parser::feed(std::string_view bytes) {
  while (status_ == ParseStatus::NeedMore && !bytes.empty()) {
    const std::size_t want = needed() - pending_.size();
    const std::size_t take = std::min(want, bytes.size());
    pending_.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    consumed_ += take;

    // Early checks on the fixed prefix, so a bad client is refused before it sends the rest.
    if (stage_ == Stage::Greeting) {
      if (byte_at(pending_, 0) != kSocksVersion) return fail(kSocksGeneralFailure);
      if (pending_.size() >= kGreetingPrefix && byte_at(pending_, 1) == 0) {
        return fail(kSocksGeneralFailure);
      }
    } else {
      const std::size_t n = pending_.size();
      if (byte_at(pending_, 0) != kSocksVersion) return fail(kSocksGeneralFailure);
      if (n >= 2 && byte_at(pending_, 1) != kCommandConnect) {
        return fail(kSocksCommandNotSupported);  // BIND, UDP ASSOCIATE, anything else
      }
      if (n >= 3 && byte_at(pending_, 2) != 0) return fail(kSocksGeneralFailure);
      const std::uint8_t atyp = n >= 4 ? byte_at(pending_, 3) : kAddressIpv4;
      if (atyp != kAddressIpv4 && atyp != kAddressIpv6 && atyp != kAddressDomain) {
        return fail(kSocksAddressTypeNotSupported);
      }
      if (n >= kRequestPrefix && atyp == kAddressDomain && byte_at(pending_, 4) == 0) {
        return fail(kSocksGeneralFailure);
      }
    }

    if (pending_.size() < needed()) continue;
    if (stage_ == Stage::Greeting) {
      finish_greeting();
    } else {
      finish_request();
    }
  }
  return status_;
}

ParseStatus Socks5Parser::finish_greeting() {
  greeting_complete_ = true;
  for (std::size_t i = kGreetingPrefix; i < pending_.size(); ++i) {
    if (byte_at(pending_, i) == kSocksMethodNoAuth) no_auth_offered_ = true;
  }
  pending_.clear();
  if (!no_auth_offered_) return fail(kSocksGeneralFailure);
  stage_ = Stage::Request;
  return status_;
}

ParseStatus Socks5Parser::finish_request() {
  const std::uint8_t atyp = byte_at(pending_, 3);
  const std::size_t port_at = pending_.size() - kPortSize;
  const auto port = static_cast<std::uint16_t>((byte_at(pending_, port_at) << 8) |
                                               byte_at(pending_, port_at + 1));
  if (port == 0) return fail(kSocksGeneralFailure);

  std::string host;
  if (atyp == kAddressIpv4 || atyp == kAddressIpv6) {
    const int family = atyp == kAddressIpv4 ? AF_INET : AF_INET6;
    unsigned char addr[16] = {};
    std::memcpy(addr, pending_.data() + 4, atyp == kAddressIpv4 ? 4 : 16);
    char text[INET6_ADDRSTRLEN] = {};
    if (::inet_ntop(family, addr, text, sizeof text) == nullptr) return fail(kSocksGeneralFailure);
    host = text;
  } else {
    const std::string_view name(pending_.data() + 5, byte_at(pending_, 4));
    // SECURITY: a DOMAINNAME is untrusted text that becomes a resolver query and a policy
    // subject: NUL, ':' outside an IPv6 literal, '/', '@', spaces etc. are all refused.
    // Clients such as curl --socks5-hostname send IP literals as DOMAINNAME, so a literal
    // IPv6 address is accepted and printed canonically.
    auto normalized = normalize_target_host(name, true);
    if (!normalized) return fail(kSocksGeneralFailure);
    host = std::move(*normalized);
  }
  host_ = std::move(host);
  port_ = port;
  pending_.clear();
  stage_ = Stage::Finished;
  status_ = ParseStatus::Done;
  return status_;
}

std::string Socks5Parser::greeting_reply() const {
  std::string reply(2, '\0');
  reply[0] = static_cast<char>(kSocksVersion);
  reply[1] = static_cast<char>(no_auth_offered_ ? kSocksMethodNoAuth : kSocksMethodNone);
  return reply;
}

std::string socks5_reply(std::uint8_t code) {
  std::string reply(10, '\0');
  reply[0] = static_cast<char>(kSocksVersion);
  reply[1] = static_cast<char>(code);
  reply[3] = static_cast<char>(kAddressIpv4);
  return reply;
}

}  // namespace fence::proxy_worker
