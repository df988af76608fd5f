#include "proxy-worker/claimed_name.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <string_view>
#include <vector>

namespace fence::proxy_worker {
namespace {

constexpr std::size_t kMaxNameText = 253;
constexpr std::size_t kMaxLabel = 63;
constexpr std::uint8_t kTlsHandshakeRecord = 0x16;
constexpr std::uint8_t kTlsClientHello = 1;
constexpr std::size_t kTlsRecordHeader = 5;
constexpr std::size_t kTlsHandshakeHeader = 4;
// RFC 8446 §5.2 lets a record grow by 256 bytes over 2^14; a plaintext ClientHello never
// does, but a peer may send it and the limit below still caps what is read.
constexpr std::size_t kMaxTlsRecord = 16384 + 256;
constexpr std::uint16_t kExtServerName = 0;
// Encrypted Client Hello (draft-ietf-tls-esni): the outer server_name is the ECH provider's
// public name; the name the connection is for is encrypted, so nothing can be claimed.
constexpr std::uint16_t kExtEncryptedClientHello = 0xfe0d;
constexpr std::uint8_t kHostNameType = 0;
constexpr std::size_t kMaxSessionId = 32;
constexpr std::size_t kMaxMethod = 20;

Claim none(std::string why) {
  return Claim{ClaimStatus::None, "", std::move(why)};
}

Claim found(std::string name) {
  return Claim{ClaimStatus::Found, std::move(name), ""};
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_upper(std::uint8_t c) {
  return c >= 'A' && c <= 'Z';
}
char to_lower(char c) {
  return is_upper(static_cast<std::uint8_t>(c)) ? static_cast<char>(c - 'A' + 'a') : c;
}
bool is_hex_digit(char c) {
  return is_digit(c) || (to_lower(c) >= 'a' && to_lower(c) <= 'f');
}

// Exactly four decimal parts 0..255 without leading zeros.
bool is_canonical_ipv4(std::string_view name) {
  in_addr addr{};
  char text[INET_ADDRSTRLEN] = {};
  if (name.size() >= sizeof text) return false;
  const std::string copy(name);
  return ::inet_pton(AF_INET, copy.c_str(), &addr) == 1 &&
         ::inet_ntop(AF_INET, &addr, text, sizeof text) != nullptr && name == text;
}

// A label resolvers may read as a number: decimal, or 0x and hex ("0x7f").
bool is_numeric_label(std::string_view label) {
  if (label.size() >= 2 && label[0] == '0' && to_lower(label[1]) == 'x') {
    return std::all_of(label.begin() + 2, label.end(), is_hex_digit);
  }
  return !label.empty() && std::all_of(label.begin(), label.end(), is_digit);
}

// The host name grammar of the header, normalized; nullopt when `text` does not follow it.
// SECURITY: a name ending in a numeric label is a dotted-quad IPv4 address or nothing, so that
// "127.1" or "0x7f.0.0.1" never reaches the supervisor as a name that libc would read as an
// address.
std::optional<std::string> normalize_name(std::string_view text) {
  std::string name;
  name.reserve(text.size());
  for (const char c : text) name += to_lower(c);
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (name.empty() || name.size() > kMaxNameText) return std::nullopt;
  std::size_t label_start = 0;
  for (std::size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      if (i == label_start || i - label_start > kMaxLabel) return std::nullopt;
      label_start = i + 1;
      continue;
    }
    const char c = name[i];
    if (!is_digit(c) && !(c >= 'a' && c <= 'z') && c != '-' && c != '_') return std::nullopt;
  }
  const std::size_t last_dot = name.rfind('.');
  const std::string_view last = std::string_view(name).substr(last_dot + 1);  // npos + 1 == 0
  if (is_numeric_label(last) && !is_canonical_ipv4(name)) return std::nullopt;
  return name;
}

// An IPv6 literal printed canonically (RFC 5952); no zone id.
std::optional<std::string> normalize_ipv6(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  for (const char c : text) {
    if (!is_hex_digit(c) && c != ':' && c != '.') return std::nullopt;
  }
  in6_addr addr{};
  char out[INET6_ADDRSTRLEN] = {};
  if (::inet_pton(AF_INET6, std::string(text).c_str(), &addr) != 1) return std::nullopt;
  if (::inet_ntop(AF_INET6, &addr, out, sizeof out) == nullptr) return std::nullopt;
  return std::string(out);
}

// Bounds-checked big-endian reads over one length-delimited part of a ClientHello. A read past
// the end clears `ok` and returns zeros / an empty span, so a walk checks `ok` once at its end.
struct Reader {
  std::span<const std::uint8_t> bytes;
  std::size_t at = 0;
  bool ok = true;

  std::size_t left() const { return bytes.size() - at; }
  std::span<const std::uint8_t> take(std::size_t n) {
    if (!ok || n > left()) {
      ok = false;
      return {};
    }
    at += n;
    return bytes.subspan(at - n, n);
  }
  std::size_t number(std::size_t width) {
    std::size_t value = 0;
    for (const std::uint8_t b : take(width)) value = (value << 8) | b;
    return value;
  }
};

// The server_name extension's data (RFC 6066 §3): a list that must hold exactly one entry, a
// host_name. RFC 6066 allows one name per type and defines no other type; a server that skipped
// unknown entries and one that did not could read different names, so only the single form is
// accepted.
Claim read_server_name(std::span<const std::uint8_t> data) {
  Reader r{data};
  const std::size_t list_length = r.number(2);
  const std::size_t type = r.number(1);
  const std::span<const std::uint8_t> host = r.take(r.number(2));
  if (!r.ok || list_length != data.size() - 2) return none("malformed server_name extension");
  if (type != kHostNameType) return none("server_name entry other than host_name");
  if (r.left() != 0) return none("more than one name in server_name");
  if (host.empty()) return none("empty server_name");
  const std::string text(host.begin(), host.end());
  // RFC 6066: "Literal IPv4 and IPv6 addresses are not permitted in HostName."
  const std::optional<std::string> name = normalize_name(text);
  if (normalize_ipv6(text) || (name && is_canonical_ipv4(*name))) {
    return none("IP address in server_name");
  }
  if (!name) return none("invalid host name in server_name");
  return found(*name);
}

// The body of a complete ClientHello handshake message (RFC 8446 §4.1.2; TLS 1.0-1.2 have the
// same layout). Every inner length must add up to exactly the message's length.
Claim read_client_hello(std::span<const std::uint8_t> body) {
  Reader r{body};
  const std::size_t major_version = r.number(1);
  r.take(1 + 32);  // minor version, random
  const std::size_t session_id = r.number(1);
  r.take(session_id);
  const std::size_t suites = r.number(2);
  r.take(suites);
  const std::size_t compressions = r.number(1);
  r.take(compressions);
  if (!r.ok || major_version != 3 || session_id > kMaxSessionId || suites < 2 || suites % 2 != 0 ||
      compressions < 1) {
    return none("malformed TLS ClientHello");
  }
  if (r.left() == 0) return none("TLS ClientHello without server_name");  // no extensions
  const std::size_t extensions_length = r.number(2);
  if (!r.ok || extensions_length != r.left()) return none("malformed TLS ClientHello");
  std::vector<std::size_t> types;
  std::optional<std::span<const std::uint8_t>> server_name;
  while (r.ok && r.left() > 0) {
    const std::size_t type = r.number(2);
    const std::span<const std::uint8_t> data = r.take(r.number(2));
    if (type == kExtServerName) {
      if (server_name) return none("two server_name extensions");
      server_name = data;
    }
    types.push_back(type);
  }
  if (!r.ok) return none("malformed TLS ClientHello extensions");
  // RFC 8446 §4.2: no two extensions of one type. Servers refuse such a hello; one that did
  // not could read another extension than this parser.
  std::sort(types.begin(), types.end());
  if (std::adjacent_find(types.begin(), types.end()) != types.end()) {
    return none("duplicate TLS extension");
  }
  // The published codepoint and the drafts' (0xfe00-0xfeff), and the older encrypted SNI
  // (0xffce).
  if (std::any_of(types.begin(), types.end(), [](std::size_t t) {
        return t == kExtEncryptedClientHello || (t >= 0xfe00 && t <= 0xfeff) || t == 0xffce;
      }))
    return none("Encrypted Client Hello: the server name is hidden");
  if (!server_name) return none("TLS ClientHello without server_name");
  return read_server_name(*server_name);
}

// TLS records (RFC 8446 §5.1): the handshake fragments of consecutive handshake records are
// concatenated until they hold one complete ClientHello, which may span records. Each check
// runs as soon as its bytes are present; bytes after the ClientHello are never looked at.
Claim read_tls(std::span<const std::uint8_t> in) {
  std::vector<std::uint8_t> handshake;
  std::size_t at = 0;
  while (at < in.size()) {
    if (in[at] != kTlsHandshakeRecord) return none("TLS record other than handshake");
    if (at + 1 < in.size() && in[at + 1] != 3) return none("unknown TLS record version");
    if (at + 2 < in.size() && in[at + 2] > 4) return none("unknown TLS record version");
    if (at + kTlsRecordHeader > in.size()) break;
    const std::size_t length = (std::size_t{in[at + 3]} << 8) | in[at + 4];
    if (length == 0 || length > kMaxTlsRecord) return none("TLS record length out of range");
    at += kTlsRecordHeader;
    const std::size_t present = std::min(length, in.size() - at);
    handshake.insert(handshake.end(), in.begin() + static_cast<long>(at),
                     in.begin() + static_cast<long>(at + present));
    at += present;
    if (handshake.empty()) break;  // a record header, none of its fragment yet
    if (handshake[0] != kTlsClientHello) return none("TLS handshake other than ClientHello");
    if (handshake.size() < kTlsHandshakeHeader) continue;
    const std::size_t body =
        (std::size_t{handshake[1]} << 16) | (std::size_t{handshake[2]} << 8) | handshake[3];
    // SECURITY: the hard cap: a ClientHello that cannot arrive within kMaxClaimBytes (with at
    // least one record header) is refused at once instead of being waited for.
    if (kTlsRecordHeader + kTlsHandshakeHeader + body > kMaxClaimBytes) {
      return none("TLS ClientHello longer than " + std::to_string(kMaxClaimBytes) + " bytes");
    }
    if (handshake.size() >= kTlsHandshakeHeader + body) {
      return read_client_hello(std::span(handshake).subspan(kTlsHandshakeHeader, body));
    }
  }
  return {};
}

// "host", "host:port" or "[v6]:port" (RFC 9110 §7.2, the port 1..65535), normalized.
std::optional<std::string> read_host_port(std::string_view text) {
  const bool bracketed = text.starts_with('[');
  const std::size_t host_end = bracketed ? text.find(']') : std::min(text.find(':'), text.size());
  if (host_end == std::string_view::npos) return std::nullopt;
  std::optional<std::string> name = bracketed ? normalize_ipv6(text.substr(1, host_end - 1))
                                              : normalize_name(text.substr(0, host_end));
  std::string_view port = text.substr(host_end + (bracketed ? 1 : 0));
  if (port.empty()) return name;
  if (port.front() != ':') return std::nullopt;
  port.remove_prefix(1);
  unsigned value = 0;  // from_chars: digits only, no sign or space; an overflow is an error
  const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
  const bool valid = error == std::errc() && end == port.data() + port.size();
  return valid && value >= 1 && value <= 65535 ? name : std::nullopt;
}

// A complete request head, CRLF line ends already checked, ending in CRLF CRLF.
Claim read_http_head(std::string_view head) {
  std::size_t line_end = head.find("\r\n");
  const std::string_view request_line = head.substr(0, line_end);
  const std::size_t first_space = request_line.find(' ');
  const std::size_t last_space = request_line.rfind(' ');
  const std::string_view target =
      request_line.substr(first_space + 1, last_space - first_space - 1);
  const std::string_view version = request_line.substr(last_space + 1);
  if (first_space == last_space || target.empty() || target.find(' ') != std::string_view::npos ||
      (version != "HTTP/1.1" && version != "HTTP/1.0")) {
    return none("malformed HTTP request line");
  }
  std::optional<std::string_view> host_value;
  for (std::size_t start = line_end + 2; start < head.size(); start = line_end + 2) {
    line_end = head.find("\r\n", start);
    const std::string_view line = head.substr(start, line_end - start);
    if (line.empty()) break;
    // SECURITY: obs-fold would continue the previous header's value; servers disagree about it
    // (RFC 9112 §5.2 lets them reject or unfold), so it is never guessed at.
    if (line.front() == ' ' || line.front() == '\t') return none("obs-fold in the HTTP head");
    const std::size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos || line.find_first_of(" \t") < colon) {
      return none("malformed HTTP header line");
    }
    std::string field;
    for (const char c : line.substr(0, colon)) field += to_lower(c);
    if (field != "host") continue;
    if (host_value) return none("two Host headers");
    std::string_view value = line.substr(colon + 1);  // without the whitespace around it
    value.remove_prefix(std::min(value.find_first_not_of(" \t"), value.size()));
    host_value = value.substr(0, value.find_last_not_of(" \t") + 1);  // npos + 1 == 0
  }
  if (!host_value) return none("HTTP request without a Host header");
  const std::optional<std::string> host = read_host_port(*host_value);
  if (!host) return none("invalid Host header");
  // SECURITY: the request target is not the claim, Host is. But an absolute-form target
  // ("GET http://other.example/ ...") or an authority-form one (CONNECT other.example:443)
  // names a host too, and a server or proxy that receives one uses it instead of Host
  // (RFC 9112 §3.2.2): it must name the same host, or the claim could hide the real one.
  // Origin-form ("/path") and asterisk-form ("*") name none.
  if (target.front() != '/' && target != "*") {
    const std::size_t scheme_end = target.find("://");
    std::string_view authority =
        scheme_end == std::string_view::npos ? target : target.substr(scheme_end + 3);
    authority = authority.substr(0, authority.find_first_of("/?#"));
    if (read_host_port(authority) != host) {
      return none("request target and Host header name different hosts");
    }
  }
  return found(*host);
}

// An HTTP/1.x request head (RFC 9112 §2-3). Strict: every line ends in CRLF; a bare LF, a CR
// not followed by LF or a NUL is refused as soon as it is seen, so the head is always ended by
// CRLF CRLF, never by a bare "\n\n" that some servers accept and others do not.
Claim read_http(std::span<const std::uint8_t> in) {
  std::size_t i = 0;
  while (i < in.size() && i <= kMaxMethod && is_upper(in[i])) ++i;
  if (i > kMaxMethod || (i < in.size() && in[i] != ' ')) return none("neither TLS nor HTTP");
  for (std::size_t k = 0; k < in.size(); ++k) {
    const std::uint8_t c = in[k];
    if (c == 0) return none("NUL in the HTTP head");
    if (c == '\r' && k + 1 < in.size() && in[k + 1] != '\n') return none("CR without LF");
    if (c != '\n') continue;
    // k > 0: in[0] is a letter.
    if (in[k - 1] != '\r') return none("LF without CR in the HTTP head");
    if (k >= 3 && in[k - 2] == '\n') {
      return read_http_head(std::string_view(reinterpret_cast<const char*>(in.data()), k + 1));
    }
  }
  return {};
}

}  // namespace

Claim find_claimed_name(std::span<const std::uint8_t> bytes) {
  // SECURITY: never more than kMaxClaimBytes bytes are looked at, whatever the caller passes.
  const std::span<const std::uint8_t> in = bytes.first(std::min(bytes.size(), kMaxClaimBytes));
  if (in.empty()) return {};
  const bool tls = in[0] == kTlsHandshakeRecord;
  if (!tls && !is_upper(in[0])) return none("neither TLS nor HTTP");
  Claim claim = tls ? read_tls(in) : read_http(in);
  if (claim.status == ClaimStatus::NeedMore && in.size() == kMaxClaimBytes) {
    return none("no complete " + std::string(tls ? "TLS ClientHello" : "HTTP head") +
                " in the first " + std::to_string(kMaxClaimBytes) + " bytes");
  }
  return claim;
}

}  // namespace fence::proxy_worker
