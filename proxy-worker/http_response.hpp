// HTTP proxy, absolute-form keep-alive: parses the head of one response an origin sends for a
// forwarded request, decides how its body is framed, and rewrites the head for the client.
// Pure and incremental like HttpRequestParser: no I/O, never more than max_header_bytes kept.
//
// Trust: every byte is hostile. HttpForwarder feeds it what the upstream socket delivers: an
// origin the policy allowed, but one the sandboxed program chose and may run. The head it
// rewrites goes to that program, so a response can only ever mislead its own client.
//
// SECURITY: the worker keeps a client connection alive only when it knows exactly where the
// response ends (Content-Length, chunked as read by BodyFramer, or no body). Anything it
// cannot read unambiguously (bare CR/LF, NUL, obs-fold, several Content-Length, Content-Length
// with Transfer-Encoding, an HTTP version other than 1.0/1.1, 101) is Bad: the client gets a
// 502 if nothing was sent yet, and the connection is closed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "proxy-worker/http_head.hpp"

#include "proxy-worker/http_request.hpp"  // ParseStatus

namespace fence::proxy_worker {

enum class ResponseFraming {
  None,           // HEAD response, 1xx, 204, 304: the head is the whole response
  ContentLength,  // content_length() bytes follow
  Chunked,        // chunked body (BodyFramer::chunked)
  Close,          // close-delimited: the body ends with the origin's EOF
};

class HttpResponseParser {
 public:
  // `request_was_head`: the request was HEAD, so the response has no body whatever it says.
  HttpResponseParser(std::size_t max_header_bytes, bool request_was_head,
                     std::size_t max_header_count = 100);
  ~HttpResponseParser();
  HttpResponseParser(const HttpResponseParser&) = delete;
  HttpResponseParser& operator=(const HttpResponseParser&) = delete;

  // May be called repeatedly with more bytes. After Done or Bad, further calls return the same
  // status and ignore their bytes.
  ParseStatus feed(std::string_view bytes);
  ParseStatus status() const { return status_; }
  // On Done: how many bytes (over all feeds) formed the head, final CRLF CRLF included.
  std::size_t head_bytes() const { return head_bytes_; }
  int status_code() const { return status_code_; }                  // on Done
  bool interim() const { return status_code_ / 100 == 1; }          // on Done: 1xx, more follows
  ResponseFraming framing() const { return framing_; }              // on Done
  std::uint64_t content_length() const { return content_length_; }  // on Done, ContentLength
  const std::string& error_text() const { return error_text_; }     // on Bad: one line

  // On Done: the head to send to the client. The status line and end-to-end headers as
  // received; Connection, Keep-Alive, Proxy-Connection and headers named by Connection dropped
  // (never the framing headers); then "Connection: <connection>" unless `connection` is empty
  // (interim responses).
  std::string client_head(std::string_view connection) const;

 private:
  struct Beast;
  ParseStatus fail(std::string text);
  ParseStatus parse_head(std::size_t head_size);

  std::size_t max_header_bytes_;
  std::size_t max_header_count_;
  bool request_was_head_;
  std::unique_ptr<Beast> beast_;
  HeadBuffer head_;  // SECURITY: never more than max_header_bytes_ bytes
  ParseStatus status_ = ParseStatus::NeedMore;
  std::size_t head_bytes_ = 0;
  int status_code_ = 0;
  ResponseFraming framing_ = ResponseFraming::Close;
  std::uint64_t content_length_ = 0;
  std::string error_text_;
};

// Whether the client asked to keep its connection open after this request, from the raw
// request head as the client sent it (already accepted by HttpRequestParser): HTTP/1.1 unless
// Connection / Proxy-Connection says "close"; HTTP/1.0 only with "keep-alive".
bool client_wants_keep_alive(std::string_view raw_head);

}  // namespace fence::proxy_worker
