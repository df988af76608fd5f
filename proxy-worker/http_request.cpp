#include "proxy-worker/http_request.hpp"

#include "ipc/protocol.hpp"
#include "proxy-worker/http_head.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

namespace fence::proxy_worker {

namespace http = boost::beast::http;

struct HttpRequestParser::Beast {
  http::request_parser<http::empty_body> parser;
};

using Request = http::request<http::empty_body>;

namespace {

constexpr std::size_t kMaxLabelLen = 63;  // RFC 1035; ipc/grammar.hpp has the same bound
constexpr std::uint16_t kDefaultHttpPort = 80;
constexpr std::array<std::string_view, 7> kAbsoluteFormMethods = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
// Hop-by-hop headers (RFC 9110 §7.6.1) and the legacy ones clients still send. Connection is
// rewritten to "close"; Host is replaced by the target.
constexpr std::array<std::string_view, 8> kDroppedHeaders = {
    "host", "connection", "keep-alive", "proxy-connection",
    "te",   "trailer",    "upgrade",    "proxy-authorization"};

char to_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_hex_digit(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), to_lower);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (to_lower(a[i]) != to_lower(b[i])) return false;
  }
  return true;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// 1..5 decimal digits, value 1..65535. No sign, no hex, no whitespace.
std::optional<std::uint16_t> parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  std::uint32_t value = 0;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    value = value * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (value == 0 || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

// 1*DIGIT that fits in uint64.
std::optional<std::uint64_t> parse_content_length(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t value = 0;
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (kMax - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

// A label a resolver would read as a number: all digits, or 0x followed by hex digits.
bool is_numeric_label(std::string_view label) {
  if (label.empty()) return false;
  if (label.size() >= 2 && label[0] == '0' && to_lower(label[1]) == 'x') {
    return std::all_of(label.begin() + 2, label.end(), is_hex_digit);
  }
  return std::all_of(label.begin(), label.end(), is_digit);
}

// Exactly four decimal parts 0..255 without leading zeros.
bool is_canonical_ipv4(std::string_view name) {
  int parts = 0;
  std::size_t start = 0;
  while (start <= name.size()) {
    const std::size_t dot = std::min(name.find('.', start), name.size());
    const std::string_view part = name.substr(start, dot - start);
    if (part.empty() || part.size() > 3 || !std::all_of(part.begin(), part.end(), is_digit)) {
      return false;
    }
    if (part.size() > 1 && part[0] == '0') return false;
    int value = 0;
    for (char c : part) value = value * 10 + (c - '0');
    if (value > 255) return false;
    ++parts;
    start = dot + 1;
  }
  return parts == 4;
}

std::optional<std::string> normalize_ipv6(std::string_view host) {
  if (host.size() > INET6_ADDRSTRLEN) return std::nullopt;
  for (char c : host) {
    if (!is_hex_digit(c) && c != ':' && c != '.') return std::nullopt;  // no zone id, no NUL
  }
  in6_addr addr{};
  if (::inet_pton(AF_INET6, std::string(host).c_str(), &addr) != 1) return std::nullopt;
  char text[INET6_ADDRSTRLEN] = {};
  if (::inet_ntop(AF_INET6, &addr, text, sizeof text) == nullptr) return std::nullopt;
  return lower(text);
}

// "a.b" or "[v6]" with an optional ":port". Port required for CONNECT.
struct Authority {
  std::string host;
  std::uint16_t port = 0;
};

// Returns the error text on failure.
std::optional<std::string> parse_authority(std::string_view text, bool port_required,
                                           Authority& out) {
  // SECURITY: userinfo would let "http://allowed.example@evil.example/" mean two hosts.
  if (text.find('@') != std::string_view::npos) return "userinfo in the request target";
  std::string_view host;
  std::string_view rest;
  bool bracketed = false;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return "unterminated IPv6 literal";
    host = text.substr(1, close - 1);
    rest = text.substr(close + 1);
    bracketed = true;
    if (!rest.empty() && rest.front() != ':') return "invalid authority";
  } else {
    const std::size_t colon = text.find(':');
    host = text.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view{} : text.substr(colon);
  }
  if (host.empty()) return "empty host";
  if (!rest.empty()) {
    const auto port = parse_port(rest.substr(1));
    if (!port) return "invalid port";
    out.port = *port;
  } else if (port_required) {
    return "missing port";
  } else {
    out.port = kDefaultHttpPort;
  }
  if (bracketed && host.find(':') == std::string_view::npos) return "invalid IPv6 literal";
  auto normalized = bracketed ? normalize_ipv6(host) : normalize_target_host(host, false);
  if (!normalized) return "invalid host";
  out.host = std::move(*normalized);
  return std::nullopt;
}

// A request refused: the status and the one-line reason the client hears.
struct Refusal {
  int status;
  std::string text;
};

// Checks on the raw head that Beast does not make: obs-fold, NUL, bare CR/LF, header count.
std::optional<Refusal> check_raw_head(std::string_view head, std::size_t max_header_count) {
  if (head.empty() || head.front() == '\r' || head.front() == '\n') {
    return Refusal{400, "empty line before the request line"};
  }
  std::size_t lines = 0;
  std::size_t pos = 0;
  while (pos < head.size()) {
    const std::size_t cr = head.find('\r', pos);
    if (cr == std::string_view::npos || cr + 1 >= head.size() || head[cr + 1] != '\n') {
      return Refusal{400, "bare CR in the request head"};
    }
    const std::string_view line = head.substr(pos, cr - pos);
    if (line.find('\n') != std::string_view::npos || line.find('\0') != std::string_view::npos) {
      return Refusal{400, "bare LF or NUL in the request head"};
    }
    // SECURITY: obs-fold (RFC 9112 §5.2) lets two parsers disagree on where a header ends.
    if (lines > 0 && !line.empty() && (line.front() == ' ' || line.front() == '\t')) {
      return Refusal{400, "obsolete line folding in a header"};
    }
    ++lines;
    pos = cr + 2;
  }
  // Request line and the final empty line are not headers.
  if (lines >= 2 && lines - 2 > max_header_count) {
    return Refusal{431, "too many request headers"};
  }
  return std::nullopt;
}

// The request line's protocol: HTTP/1.0 or HTTP/1.1, not the HTTP/2 preface.
std::optional<Refusal> check_version(std::string_view method, unsigned version) {
  if (method == "PRI") return Refusal{400, "HTTP/2 is not supported; use HTTP/1.1 with the proxy"};
  if (version != 10 && version != 11) {
    return Refusal{505, "only HTTP/1.0 and HTTP/1.1 are supported"};
  }
  return std::nullopt;
}

// What the headers say about the body's framing, the Host header and Connection.
struct RequestHeaders {
  std::size_t content_length_count = 0;
  std::size_t transfer_encoding_count = 0;
  std::size_t host_count = 0;
  std::optional<std::uint64_t> content_length;
  bool chunked = false;
  std::vector<std::string> connection_tokens;  // lower-cased
};

// Framing and Host headers, counted by name (case-insensitive: Beast compares that way).
std::optional<Refusal> read_headers(const Request& req, RequestHeaders& out) {
  for (const auto& field : req) {
    const std::string_view name(field.name_string().data(), field.name_string().size());
    const std::string_view value = trim_ows({field.value().data(), field.value().size()});
    if (iequals(name, "content-length")) {
      ++out.content_length_count;
      out.content_length = parse_content_length(value);
      if (!out.content_length) return Refusal{400, "invalid Content-Length"};
    } else if (iequals(name, "transfer-encoding")) {
      ++out.transfer_encoding_count;
      if (!iequals(value, "chunked")) return Refusal{400, "Transfer-Encoding other than chunked"};
      out.chunked = true;
    } else if (iequals(name, "host")) {
      ++out.host_count;
    } else if (iequals(name, "connection")) {
      std::size_t start = 0;
      while (start <= value.size()) {
        const std::size_t comma = std::min(value.find(',', start), value.size());
        const std::string_view token = trim_ows(value.substr(start, comma - start));
        if (!token.empty()) out.connection_tokens.push_back(lower(token));
        start = comma + 1;
      }
    }
  }
  return std::nullopt;
}

// SECURITY: every framing ambiguity is refused (SECURITY-RULES 17): the worker and the
// origin must agree on where this request's body ends.
std::optional<Refusal> check_framing(const RequestHeaders& headers) {
  if (headers.content_length_count > 1) return Refusal{400, "more than one Content-Length"};
  if (headers.transfer_encoding_count > 1) return Refusal{400, "more than one Transfer-Encoding"};
  if (headers.content_length_count > 0 && headers.transfer_encoding_count > 0) {
    return Refusal{400, "both Content-Length and Transfer-Encoding"};
  }
  if (headers.host_count > 1) return Refusal{400, "more than one Host header"};
  for (const auto& token : headers.connection_tokens) {
    if (token == "content-length" || token == "transfer-encoding") {
      return Refusal{400, "Connection header names a framing header"};
    }
  }
  return std::nullopt;
}

// CONNECT host:port (authority-form), without a body.
std::optional<Refusal> read_connect_target(std::string_view target, const RequestHeaders& headers,
                                           HttpTarget& out) {
  if (headers.content_length_count > 0 || headers.transfer_encoding_count > 0) {
    return Refusal{400, "CONNECT with a request body"};
  }
  Authority authority;
  if (target.find('/') != std::string_view::npos) return Refusal{400, "CONNECT target with a path"};
  if (auto err = parse_authority(target, true, authority)) return Refusal{400, *err};
  out.host = std::move(authority.host);
  out.port = authority.port;
  out.is_connect = true;
  return std::nullopt;
}

// METHOD http://host[:port]/path?query: an allowed method and an http URI. `path` receives the
// origin-form target (path and query) to send upstream.
std::optional<Refusal> read_absolute_target(std::string_view method, std::string_view target,
                                            const RequestHeaders& headers, HttpTarget& out,
                                            std::string& path) {
  if (std::find(kAbsoluteFormMethods.begin(), kAbsoluteFormMethods.end(), method) ==
      kAbsoluteFormMethods.end()) {
    return Refusal{405, "method not allowed by the proxy"};
  }
  if (!target.empty() && (target.front() == '/' || target == "*")) {
    return Refusal{400, "not a proxy request: use an absolute http:// URI"};
  }
  const std::size_t scheme_end = target.find("://");
  if (scheme_end == std::string_view::npos) return Refusal{400, "request target is not a URI"};
  const std::string scheme = lower(target.substr(0, scheme_end));
  if (scheme == "https") {
    return Refusal{400, "https:// is not proxied as a plain request; use CONNECT"};
  }
  if (scheme != "http") return Refusal{501, "only the http scheme is supported"};
  const std::string_view rest = target.substr(scheme_end + 3);
  const std::size_t authority_end = std::min(rest.find_first_of("/?#"), rest.size());
  const std::string_view after = rest.substr(authority_end);
  if (after.find('#') != std::string_view::npos) return Refusal{400, "fragment in request target"};
  Authority authority;
  if (auto err = parse_authority(rest.substr(0, authority_end), false, authority)) {
    return Refusal{400, *err};
  }
  for (char c : after) {
    if (c <= 0x20 || c >= 0x7f) return Refusal{400, "invalid character in the request path"};
  }
  path.clear();
  if (after.empty() || after.front() == '?') path = "/";
  path.append(after);

  out.host = std::move(authority.host);
  out.port = authority.port;
  out.is_connect = false;
  out.content_length = headers.content_length.value_or(0);
  out.chunked = headers.chunked;
  return std::nullopt;
}

// The head sent upstream for an absolute-form request: origin-form request line, Host equal to
// the target, the client's other end-to-end headers, "Connection: close".
// SECURITY: the decision and the upstream Host come from the same target; the client's
// Host header is dropped, whatever it says.
std::string upstream_head(const Request& req, std::string_view method, std::string_view path,
                          const HttpTarget& target, const RequestHeaders& headers,
                          std::size_t head_size) {
  std::string out;
  out.reserve(head_size + 64);
  out.append(method).append(" ").append(path);
  out.append(req.version() == 10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
  out.append("Host: ");
  const bool ipv6 = target.host.find(':') != std::string::npos;
  if (ipv6) out.append("[");
  out.append(target.host);
  if (ipv6) out.append("]");
  if (target.port != kDefaultHttpPort) out.append(":").append(std::to_string(target.port));
  out.append("\r\n");
  const auto& tokens = headers.connection_tokens;
  for (const auto& field : req) {
    const std::string_view name(field.name_string().data(), field.name_string().size());
    const std::string lname = lower(name);
    if (std::find(kDroppedHeaders.begin(), kDroppedHeaders.end(), lname) != kDroppedHeaders.end() ||
        lname.rfind("proxy-", 0) == 0 ||
        std::find(tokens.begin(), tokens.end(), lname) != tokens.end()) {
      continue;
    }
    out.append(name).append(": ");
    out.append(field.value().data(), field.value().size()).append("\r\n");
  }
  out.append("Connection: close\r\n\r\n");
  return out;
}

// The head Beast parsed, checked and read in order: protocol, headers, framing, target.
std::optional<Refusal> read_request(const Request& req, std::size_t head_size, HttpTarget& out) {
  const std::string_view method(req.method_string().data(), req.method_string().size());
  const std::string_view target(req.target().data(), req.target().size());
  if (auto refused = check_version(method, req.version())) return refused;
  RequestHeaders headers;
  if (auto refused = read_headers(req, headers)) return refused;
  if (auto refused = check_framing(headers)) return refused;
  // SECURITY: HTTP/1.0 has no chunked framing (RFC 9112 §6.1): an origin may read the body
  // otherwise than this parser does, and a request hidden in it would never be decided.
  if (req.version() == 10 && headers.transfer_encoding_count > 0)
    return Refusal{400, "Transfer-Encoding in an HTTP/1.0 request"};
  if (method == "CONNECT") return read_connect_target(target, headers, out);
  std::string path;
  if (auto refused = read_absolute_target(method, target, headers, out, path)) return refused;
  out.upstream_head = upstream_head(req, method, path, out, headers, head_size);
  return std::nullopt;
}

int map_beast_error(const boost::system::error_code& ec) {
  if (ec == http::error::header_limit) return 431;
  return 400;
}

}  // namespace

HttpRequestParser::HttpRequestParser(std::size_t max_header_bytes, std::size_t max_header_count)
    : max_header_bytes_(max_header_bytes),
      max_header_count_(max_header_count),
      beast_(std::make_unique<Beast>()),
      head_(max_header_bytes) {
  // Our own limit on head_ is the one that counts (feed() never hands Beast more than
  // max_header_bytes); Beast's is set one byte above as a second line.
  const std::uint64_t beast_limit = std::min<std::uint64_t>(
      static_cast<std::uint64_t>(max_header_bytes) + 1, std::numeric_limits<std::uint32_t>::max());
  beast_->parser.header_limit(static_cast<std::uint32_t>(beast_limit));
  // The body is not parsed here (eager(false) stops after the head); its size is the origin's
  // business, so Beast's default 1 MB request body limit must not refuse a large upload.
  // (Not boost::none: Boost 1.74 compares `len > none` as true and refuses every body.)
  beast_->parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  beast_->parser.eager(false);
}

HttpRequestParser::~HttpRequestParser() = default;

ParseStatus HttpRequestParser::fail(int status, std::string text) {
  status_ = ParseStatus::Bad;
  error_status_ = status;
  error_text_ = single_line(std::move(text));
  beast_.reset();
  head_.release();
  return status_;
}

ParseStatus HttpRequestParser::feed(std::string_view bytes) {
  if (status_ != ParseStatus::NeedMore || bytes.empty()) return status_;
  // Typically a TLS ClientHello (0x16) from a client configured with an https:// proxy URL.
  if (head_.empty() &&
      !((bytes[0] >= 'A' && bytes[0] <= 'Z') || (bytes[0] >= 'a' && bytes[0] <= 'z')))
    return fail(400, "not an HTTP request; the proxy URL must start with http://");
  // Beast only ever sees one complete head: its incremental mode misparses a header line cut
  // by a read boundary (Boost 1.74), and one complete buffer is also what gets fuzzed.
  switch (head_.feed(bytes)) {
    case HeadBuffer::State::Complete:
      return parse_head(head_.head_size());
    case HeadBuffer::State::Bad:
      return fail(400, std::string(head_.problem()) + " in the request head");
    case HeadBuffer::State::TooLarge:
      return fail(431, "request head larger than " + std::to_string(max_header_bytes_) + " bytes");
    case HeadBuffer::State::NeedMore:
      break;
  }
  return status_;
}

ParseStatus HttpRequestParser::parse_head(std::size_t head_size) {
  const std::string_view head(head_.data().data(), head_size);
  if (auto refused = check_raw_head(head, max_header_count_))
    return fail(refused->status, std::move(refused->text));
  boost::system::error_code ec;
  const std::size_t used = beast_->parser.put(boost::asio::buffer(head.data(), head_size), ec);
  if (ec) return fail(map_beast_error(ec), "malformed request: " + ec.message());
  if (!beast_->parser.is_header_done() || used != head_size) {
    return fail(400, "malformed request head");
  }
  return finish_head(head_size);
}

ParseStatus HttpRequestParser::finish_head(std::size_t head_size) {
  HttpTarget target;
  if (auto refused = read_request(beast_->parser.get(), head_size, target)) {
    return fail(refused->status, std::move(refused->text));
  }
  target_ = std::move(target);
  head_bytes_ = head_size;
  status_ = ParseStatus::Done;
  beast_.reset();
  head_.release();
  return status_;
}

std::optional<std::string> normalize_target_host(std::string_view host, bool allow_ipv6) {
  if (host.empty()) return std::nullopt;
  if (host.find(':') != std::string_view::npos) {
    if (!allow_ipv6) return std::nullopt;
    return normalize_ipv6(host);
  }
  std::string name = lower(host);
  if (name.back() == '.') name.pop_back();
  if (name.empty() || name.size() > ipc::kMaxHostLen) return std::nullopt;
  std::size_t label_start = 0;
  for (std::size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      const std::size_t len = i - label_start;
      if (len == 0 || len > kMaxLabelLen) return std::nullopt;
      if (name[label_start] == '-' || name[i - 1] == '-') return std::nullopt;
      label_start = i + 1;
      continue;
    }
    const char c = name[i];
    if (!is_digit(c) && !(c >= 'a' && c <= 'z') && c != '-') return std::nullopt;
  }
  const std::size_t last_dot = name.rfind('.');
  const std::string_view last_label =
      std::string_view(name).substr(last_dot == std::string::npos ? 0 : last_dot + 1);
  if (is_numeric_label(last_label) && !is_canonical_ipv4(name)) return std::nullopt;
  return name;
}

std::string_view http_reason(int status) {
  switch (status) {
    case 200:
      return "Connection Established";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 431:
      return "Request Header Fields Too Large";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Error";
  }
}

std::string http_response(int status, std::string_view reason, std::string_view body) {
  std::string safe_reason(reason);
  std::replace(safe_reason.begin(), safe_reason.end(), '\r', ' ');
  std::replace(safe_reason.begin(), safe_reason.end(), '\n', ' ');
  std::string out =
      "HTTP/1.1 " + std::to_string(status) + " " + safe_reason +
      "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\nConnection: close\r\n\r\n";
  out.append(body);
  return out;
}

}  // namespace fence::proxy_worker
