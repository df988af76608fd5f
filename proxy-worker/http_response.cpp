#include "proxy-worker/http_response.hpp"

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <limits>
#include <vector>

namespace fence::proxy_worker {

namespace http = boost::beast::http;

struct HttpResponseParser::Beast {
  http::response_parser<http::empty_body> parser;
};

namespace {

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The header lines of a head (CRLF-separated, already checked): name and value of each.
struct Field {
  std::string_view line, name, value;
};

std::vector<Field> fields_of(std::string_view head) {
  std::vector<Field> out;
  std::size_t pos = head.find("\r\n");
  if (pos == std::string_view::npos) return out;
  pos += 2;
  while (pos < head.size()) {
    const std::size_t end = head.find("\r\n", pos);
    if (end == std::string_view::npos || end == pos) break;
    const std::string_view line = head.substr(pos, end - pos);
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      out.push_back({line, line.substr(0, colon), trim(line.substr(colon + 1))});
    }
    pos = end + 2;
  }
  return out;
}

// Calls `f` with each comma-separated, trimmed, non-empty token of `value`.
template <class F>
void for_each_token(std::string_view value, F f) {
  while (!value.empty()) {
    const std::size_t comma = value.find(',');
    const std::string_view token = trim(value.substr(0, comma));
    if (!token.empty()) f(token);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

}  // namespace

HttpResponseParser::HttpResponseParser(std::size_t max_header_bytes, bool request_was_head,
                                       std::size_t max_header_count)
    : max_header_bytes_(max_header_bytes),
      max_header_count_(max_header_count),
      request_was_head_(request_was_head),
      beast_(std::make_unique<Beast>()),
      head_(max_header_bytes) {
  const std::uint64_t beast_limit = std::min<std::uint64_t>(
      static_cast<std::uint64_t>(max_header_bytes) + 1, std::numeric_limits<std::uint32_t>::max());
  beast_->parser.header_limit(static_cast<std::uint32_t>(beast_limit));
  beast_->parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  beast_->parser.eager(false);
  if (request_was_head_) beast_->parser.skip(true);
}

HttpResponseParser::~HttpResponseParser() = default;

ParseStatus HttpResponseParser::fail(std::string text) {
  status_ = ParseStatus::Bad;
  error_text_ = single_line(std::move(text));
  beast_.reset();
  head_.release();
  return status_;
}

ParseStatus HttpResponseParser::feed(std::string_view bytes) {
  if (status_ != ParseStatus::NeedMore || bytes.empty()) return status_;
  switch (head_.feed(bytes)) {
    case HeadBuffer::State::Complete:
      return parse_head(head_.head_size());
    case HeadBuffer::State::Bad:
      return fail(std::string(head_.problem()) + " in the response head");
    case HeadBuffer::State::TooLarge:
      return fail("response head larger than " + std::to_string(max_header_bytes_) + " bytes");
    case HeadBuffer::State::NeedMore:
      break;
  }
  return status_;
}

ParseStatus HttpResponseParser::parse_head(std::size_t head_size) {
  const std::string_view head(head_.data().data(), head_size);
  if (head.rfind("HTTP/", 0) != 0) return fail("not an HTTP response");
  // Raw checks Beast does not make: obs-fold and the header count.
  std::size_t lines = 0;
  for (std::size_t pos = 0; pos < head.size();) {
    const std::size_t cr = head.find("\r\n", pos);
    const std::string_view line = head.substr(pos, cr - pos);
    if (lines > 0 && !line.empty() && (line.front() == ' ' || line.front() == '\t')) {
      return fail("obsolete line folding in a response header");
    }
    ++lines;
    pos = cr + 2;
  }
  if (lines >= 2 && lines - 2 > max_header_count_) return fail("too many response headers");

  boost::system::error_code ec;
  const std::size_t used = beast_->parser.put(boost::asio::buffer(head.data(), head_size), ec);
  if (ec) return fail("malformed response: " + ec.message());
  if (!beast_->parser.is_header_done() || used != head_size) {
    return fail("malformed response head");
  }
  const auto& res = beast_->parser.get();
  if (res.version() != 10 && res.version() != 11) return fail("unsupported HTTP version");
  status_code_ = static_cast<int>(res.result_int());
  if (status_code_ < 100 || status_code_ > 999) return fail("bad status code");
  if (status_code_ == 101) return fail("protocol switch refused");

  std::size_t content_length_count = 0;
  std::size_t transfer_encoding_count = 0;
  for (const Field& f : fields_of(head)) {
    if (iequals(f.name, "content-length")) ++content_length_count;
    if (iequals(f.name, "transfer-encoding")) ++transfer_encoding_count;
  }
  // SECURITY: framing two readers could see differently is refused, not guessed.
  if (content_length_count > 1) return fail("several Content-Length headers in the response");
  if (content_length_count > 0 && transfer_encoding_count > 0) {
    return fail("Content-Length with Transfer-Encoding in the response");
  }

  if (request_was_head_ || interim() || status_code_ == 204 || status_code_ == 304) {
    framing_ = ResponseFraming::None;
  } else if (beast_->parser.chunked()) {
    framing_ = ResponseFraming::Chunked;
  } else if (transfer_encoding_count > 0) {
    framing_ = ResponseFraming::Close;  // RFC 9112 §6.3: chunked not last -> read until close
  } else if (const auto length = beast_->parser.content_length()) {
    framing_ = ResponseFraming::ContentLength;
    content_length_ = *length;
  } else {
    framing_ = ResponseFraming::Close;
  }
  head_bytes_ = head_size;
  head_.data().resize(head_size);  // keep only the head, for client_head()
  beast_.reset();
  status_ = ParseStatus::Done;
  return status_;
}

std::string HttpResponseParser::client_head(std::string_view connection) const {
  if (status_ != ParseStatus::Done) return {};
  const std::string_view head(head_.data());
  const std::vector<Field> fields = fields_of(head);
  std::vector<std::string_view> named;  // headers the origin's Connection names: hop-by-hop
  for (const Field& f : fields) {
    if (iequals(f.name, "connection")) {
      for_each_token(f.value, [&](std::string_view t) { named.push_back(t); });
    }
  }
  std::string out(head.substr(0, head.find("\r\n") + 2));
  for (const Field& f : fields) {
    const bool framing = iequals(f.name, "content-length") || iequals(f.name, "transfer-encoding");
    bool drop = iequals(f.name, "connection") || iequals(f.name, "keep-alive") ||
                iequals(f.name, "proxy-connection");
    if (!framing) {
      for (std::string_view n : named) drop = drop || iequals(f.name, n);
    }
    if (drop) continue;
    out.append(f.line);
    out.append("\r\n");
  }
  if (!connection.empty()) {
    out.append("Connection: ");
    out.append(connection);
    out.append("\r\n");
  }
  out.append("\r\n");
  return out;
}

bool client_wants_keep_alive(std::string_view raw_head) {
  const std::size_t eol = raw_head.find("\r\n");
  const std::string_view line = raw_head.substr(0, eol);
  const bool http11 = line.size() >= 8 && line.substr(line.size() - 8) == "HTTP/1.1";
  bool close = false;
  bool keep = false;
  for (const Field& f : fields_of(raw_head)) {
    if (!iequals(f.name, "connection") && !iequals(f.name, "proxy-connection")) continue;
    for_each_token(f.value, [&](std::string_view t) {
      if (iequals(t, "close")) close = true;
      if (iequals(t, "keep-alive")) keep = true;
    });
  }
  if (close) return false;
  return http11 || keep;
}

}  // namespace fence::proxy_worker
