// SOCKS5 server side (RFC 1928), no-auth method and CONNECT only. Pure and incremental: no
// I/O, safe to feed byte by byte; it buffers at most one greeting or one request (<= 262
// bytes), whatever length bytes the client sends.
//
// Trust: every byte is hostile: the sandboxed program writes them, and ClientSession feeds
// what it reads from a client of the SOCKS5 listener. Only a Done target leaves the parser,
// its DOMAINNAME through normalize_target_host; the worker only asks the supervisor about it.
//
// Caller protocol:
//   1. feed() bytes as they arrive.
//   2. As soon as greeting_complete() turns true, send greeting_reply() once: {5,0} when the
//      client offered "no authentication", else {5,0xFF} and feed() has returned Bad.
//   3. On Done: host()/port() are the target; consumed() bytes formed greeting + request, any
//      further bytes are client data for the tunnel.
//   4. On Bad after a successful greeting: send socks5_reply(error_reply_code()) and close.
//      On Bad before the greeting completed (wrong version, no methods): just close.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy-worker/http_request.hpp"  // ParseStatus

namespace fence::proxy_worker {

inline constexpr std::uint8_t kSocksVersion = 0x05;
inline constexpr std::uint8_t kSocksMethodNoAuth = 0x00;
inline constexpr std::uint8_t kSocksMethodNone = 0xFF;
// Reply codes (RFC 1928 §6).
inline constexpr std::uint8_t kSocksSucceeded = 0x00;
inline constexpr std::uint8_t kSocksGeneralFailure = 0x01;
inline constexpr std::uint8_t kSocksNotAllowed = 0x02;
inline constexpr std::uint8_t kSocksNetworkUnreachable = 0x03;
inline constexpr std::uint8_t kSocksHostUnreachable = 0x04;
inline constexpr std::uint8_t kSocksConnectionRefused = 0x05;
inline constexpr std::uint8_t kSocksTtlExpired = 0x06;
inline constexpr std::uint8_t kSocksCommandNotSupported = 0x07;
inline constexpr std::uint8_t kSocksAddressTypeNotSupported = 0x08;

class Socks5Parser {
 public:
  // Greeting, then request. After Done or Bad, further calls return the same status and
  // consume nothing.
  ParseStatus feed(std::string_view bytes);
  ParseStatus status() const { return status_; }

  bool greeting_complete() const { return greeting_complete_; }
  // {0x05,0x00} when 0x00 was offered, else {0x05,0xFF}. Valid once greeting_complete().
  std::string greeting_reply() const;

  // Valid on Done. host: a DOMAINNAME validated and lower-cased (normalize_target_host), or an
  // IPv4 / IPv6 address printed canonically.
  const std::string& host() const { return host_; }
  std::uint16_t port() const { return port_; }
  // Bytes consumed so far; on Done, the size of greeting + request.
  std::size_t consumed() const { return consumed_; }
  // On Bad: 0x07 BIND / UDP ASSOCIATE / unknown command, 0x08 unknown address type, 0x01
  // anything malformed.
  std::uint8_t error_reply_code() const { return error_reply_code_; }

 private:
  enum class Stage { Greeting, Request, Finished };
  // How many bytes the current message needs in total, given what is buffered (0: unknown
  // yet, never happens after the fixed prefix).
  std::size_t needed() const;
  ParseStatus fail(std::uint8_t code);
  ParseStatus finish_greeting();
  ParseStatus finish_request();

  Stage stage_ = Stage::Greeting;
  ParseStatus status_ = ParseStatus::NeedMore;
  // SECURITY: holds one message at most: 2 + 255 greeting bytes or 4 + 1 + 255 + 2 request
  // bytes; feed() never takes more than needed().
  std::string pending_;
  bool greeting_complete_ = false;
  bool no_auth_offered_ = false;
  std::string host_;
  std::uint16_t port_ = 0;
  std::size_t consumed_ = 0;
  std::uint8_t error_reply_code_ = kSocksGeneralFailure;
};

// VER=5, REP=code, RSV=0, ATYP=IPv4, BND.ADDR=0.0.0.0, BND.PORT=0 (10 bytes).
std::string socks5_reply(std::uint8_t code);

}  // namespace fence::proxy_worker
