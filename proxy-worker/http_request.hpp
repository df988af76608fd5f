// HTTP proxy front end: parses the head of one request a client sends to the HTTP proxy
// listener. Pure and incremental: no I/O, no sockets, and no buffer larger than
// max_header_bytes, so it can be unit-tested and fuzzed directly on bytes.
//
// Trust: every byte is hostile. The sandboxed program writes them; ClientSession feeds what it
// reads from a client of the HTTP listener, and the pipelined bytes after a forwarded
// request. Only a Done target leaves the parser, and the worker only asks the supervisor
// about it; normalize_target_host is the guarantee that its host has the protocol's grammar.
//
// Accepted:
//   CONNECT host:port HTTP/1.x                      (authority-form; IPv6 as [::1]:443)
//   GET|HEAD|POST|PUT|DELETE|PATCH|OPTIONS http://host[:port]/path?query HTTP/1.x
// Everything else is refused with a status code and a one-line reason (SECURITY-RULES 17):
// ambiguous framing (CL+TE, several or malformed Content-Length, Transfer-Encoding other than
// "chunked"), obs-fold, userinfo, bad ports, bad hosts, origin-form, HTTP/2, over-size heads.
//
// `Expect: 100-continue` is end-to-end (RFC 9110 §10.1.1): it is kept in upstream_head, and the
// worker relays the origin's interim `100 Continue` like any other response bytes. The worker
// does not answer 100 itself, because only the origin knows whether it wants the body.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "proxy-worker/http_head.hpp"

namespace fence::proxy_worker {

// Result of feeding bytes to an incremental parser (also used by Socks5Parser).
enum class ParseStatus { NeedMore, Done, Bad };

struct HttpTarget {
  std::string host;  // lower-cased, no brackets for IPv6, no trailing dot
  std::uint16_t port = 0;
  bool is_connect = false;  // CONNECT host:port vs absolute-form request
  // Absolute-form only: the request head to send upstream. Origin-form request line, a Host
  // header equal to the target, hop-by-hop / Connection-named / Proxy-* headers removed,
  // "Connection: close" added, terminated by the empty line.
  std::string upstream_head;
  std::uint64_t content_length = 0;  // request body framing (absolute-form)
  bool chunked = false;
};

class HttpRequestParser {
 public:
  explicit HttpRequestParser(std::size_t max_header_bytes, std::size_t max_header_count = 100);
  ~HttpRequestParser();
  HttpRequestParser(const HttpRequestParser&) = delete;
  HttpRequestParser& operator=(const HttpRequestParser&) = delete;

  // May be called repeatedly with more bytes. After Done or Bad, further calls return the same
  // status and ignore their bytes.
  ParseStatus feed(std::string_view bytes);
  ParseStatus status() const { return status_; }
  // On Done: how many bytes (over all feeds) formed the request head, including the final
  // CRLF CRLF. Bytes after that are request body (absolute-form) or tunnel data (CONNECT).
  std::size_t head_bytes() const { return head_bytes_; }
  const HttpTarget& target() const { return target_; }           // valid on Done
  int error_status() const { return error_status_; }             // on Bad: 400, 405, 431, 501, 505
  const std::string& error_text() const { return error_text_; }  // on Bad: one line

 private:
  struct Beast;  // Boost.Beast parser, kept out of this header
  ParseStatus fail(int status, std::string text);
  ParseStatus parse_head(std::size_t head_size);
  ParseStatus finish_head(std::size_t head_size);

  std::size_t max_header_bytes_;
  std::size_t max_header_count_;
  std::unique_ptr<Beast> beast_;
  // SECURITY: never holds more than max_header_bytes_ bytes, whatever the client sends.
  HeadBuffer head_;
  ParseStatus status_ = ParseStatus::NeedMore;
  std::size_t head_bytes_ = 0;
  HttpTarget target_;
  int error_status_ = 0;
  std::string error_text_;
};

// "HTTP/1.1 <status> <reason>\r\nContent-Type: text/plain\r\nContent-Length: N\r\n"
// "Connection: close\r\n\r\n<body>". CR and LF in `reason` are replaced by spaces.
std::string http_response(int status, std::string_view reason, std::string_view body);

// Standard reason phrase of the statuses the proxy sends ("Bad Request" ...); "Error" otherwise.
std::string_view http_reason(int status);

// Validates and normalizes a target host as it appears in a request (without brackets):
// a DNS name of [A-Za-z0-9.-] (labels 1..63 bytes, not starting or ending with '-', at most
// 253 bytes without the optional trailing dot), a canonical dotted-quad IPv4 address, or an
// IPv6 literal when `allow_ipv6` (printed canonically, RFC 5952). Returns the lower-cased
// name without trailing dot, or nullopt.
// SECURITY: the result is always accepted by fence::ipc::is_valid_target_host, and numeric
// names that resolvers would read as an IPv4 address in another notation ("127.1",
// "0x7f.0.0.1", "017.0.0.1") are refused rather than passed on with a second meaning.
std::optional<std::string> normalize_target_host(std::string_view host, bool allow_ipv6);

}  // namespace fence::proxy_worker
