#include "supervisor/audit/audit_syslog.hpp"

#include <limits.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "platform/host_path.hpp"
#include "supervisor/audit/audit_log.hpp"
#include "supervisor/policy/safe_text.hpp"

namespace fence::supervisor {

namespace {

constexpr std::string_view kEllipsis = "...";
constexpr std::string_view kReplacementUtf8 = "\xef\xbf\xbd";  // U+FFFD
constexpr std::size_t kMaxNameBytes = 32;                      // RFC 5424: SD-NAME, MSGID
constexpr std::size_t kMaxHostnameBytes = 255;                 // RFC 5424: HOSTNAME
// MSG always keeps this much room, however large the structured data: a reader of a plain
// syslog view sees at least the start of the summary.
constexpr std::size_t kMsgReserveBytes = 256;

// --- text: UTF-8 repair, control characters, RFC 5424 escapes, cutting ------------------------

enum class TextField { SdValue, Msg };

// Appends how code point `cp` (spelled `original` in the input) is written in `field`.
void append_code_point(std::string& out, const CodePoint& cp, std::string_view original,
                       TextField field) {
  if (!cp.valid) {
    out += kReplacementUtf8;
  } else if (cp.value == '\n') {
    out += "\\n";
  } else if (cp.value == '\r') {
    out += "\\r";
  } else if (cp.value == '\t') {
    out += "\\t";
  } else if (is_control(cp.value)) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned>(cp.value));
    out += buf;
  } else if (field == TextField::SdValue &&
             (cp.value == '"' || cp.value == '\\' || cp.value == ']')) {
    // RFC 5424 section 6.3.3: the three characters that would end or confuse a PARAM-VALUE.
    out += '\\';
    out += static_cast<char>(cp.value);
  } else {
    out += original;
  }
}

// `in` as valid, control-free UTF-8 for `field`, at most `max_bytes` long. A cut falls between
// two written characters (never inside a UTF-8 sequence or an escape) and is marked "...".
// SECURITY: the result contains no byte below 0x20 and, for SdValue, no unescaped '"' or ']':
// a value cannot end its SD-PARAM, start a second syslog record or forge a header.
std::string sanitize(std::string_view in, TextField field, std::size_t max_bytes) {
  std::string out;
  out.reserve(std::min(in.size(), max_bytes) + 8);
  const std::size_t ellipsis = max_bytes >= kEllipsis.size() ? kEllipsis.size() : 0;
  std::size_t cut = 0;  // the longest prefix that still leaves room for the ellipsis
  for (std::size_t i = 0; i < in.size();) {
    const CodePoint cp = next_code_point(in, i);
    append_code_point(out, cp, in.substr(i, cp.length), field);
    i += cp.length;
    if (out.size() > max_bytes) {
      out.resize(cut);
      out += kEllipsis.substr(0, ellipsis);
      return out;
    }
    if (out.size() + ellipsis <= max_bytes) cut = out.size();
  }
  return out;
}

// RFC 5424 PRINTUSASCII (%d33-126), minus `excluded`; other bytes become '_'. At most
// `max_bytes`; `empty` when nothing is left.
// SECURITY: header fields and PARAM-NAMEs are delimited by spaces, '=' and ']': one of those (or
// a control byte) coming from an event would shift or forge every field after it.
std::string printable_ascii(std::string_view in, std::size_t max_bytes, std::string_view excluded,
                            std::string_view empty) {
  std::string out;
  for (char ch : in.substr(0, max_bytes)) {
    const auto c = static_cast<unsigned char>(ch);
    const bool ok = c >= 33 && c <= 126 && excluded.find(ch) == std::string_view::npos;
    out += ok ? ch : '_';
  }
  return out.empty() ? std::string(empty) : out;
}

// --- header fields ----------------------------------------------------------------------------

bool digits(std::string_view s, std::size_t pos, std::size_t count, int low, int high) {
  if (pos + count > s.size()) return false;
  int value = 0;
  for (std::size_t i = pos; i < pos + count; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    value = value * 10 + (s[i] - '0');
  }
  return value >= low && value <= high;
}

// RFC 5424 TIMESTAMP: FULL-DATE "T" HH:MM:SS [.1*6DIGIT] ("Z" / ("+"/"-") HH:MM).
// SECURITY: the event's "time" goes into the header verbatim only after this check.
bool is_rfc5424_timestamp(std::string_view t) {
  if (!(digits(t, 0, 4, 0, 9999) && t.size() > 19 && t[4] == '-' && digits(t, 5, 2, 1, 12) &&
        t[7] == '-' && digits(t, 8, 2, 1, 31) && t[10] == 'T' && digits(t, 11, 2, 0, 23) &&
        t[13] == ':' && digits(t, 14, 2, 0, 59) && t[16] == ':' && digits(t, 17, 2, 0, 60))) {
    return false;
  }
  std::size_t i = 19;
  if (t[i] == '.') {
    std::size_t n = 0;
    while (i + 1 + n < t.size() && t[i + 1 + n] >= '0' && t[i + 1 + n] <= '9') ++n;
    if (n < 1 || n > 6) return false;
    i += 1 + n;
  }
  const std::string_view offset = t.substr(i);
  if (offset == "Z") return true;
  return offset.size() == 6 && (offset[0] == '+' || offset[0] == '-') &&
         digits(offset, 1, 2, 0, 23) && offset[3] == ':' && digits(offset, 4, 2, 0, 59);
}

std::string string_field(const nlohmann::json& e, const char* key) {
  const auto it = e.find(key);
  return it != e.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool has_word(std::string_view name, std::string_view word) {
  for (std::size_t start = 0; start <= name.size();) {
    const std::size_t end = std::min(name.find('_', start), name.size());
    if (name.substr(start, end - start) == word) return true;
    start = end + 1;
  }
  return false;
}

int severity(const nlohmann::json& fields) {
  const std::string verdict = string_field(fields, "verdict");
  if (verdict == "deny" || verdict == "blocked") return kSyslogSeverityWarning;
  const std::string name = string_field(fields, "event");
  for (std::string_view word : {"deny", "denied", "blocked", "violation", "fault"}) {
    if (has_word(name, word)) return kSyslogSeverityWarning;
  }
  return kSyslogSeverityNotice;
}

// --- MSG --------------------------------------------------------------------------------------

std::string compact_json(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string scalar_text(const nlohmann::json& j) {
  return j.is_string() ? j.get<std::string>() : compact_json(j);
}

// "deny CONNECT example.com:443 (default deny): blocked by network policy: ..."
std::optional<std::string> network_summary(const nlohmann::json& e) {
  const std::string verdict = string_field(e, "verdict");
  const std::string host = string_field(e, "host");
  if (verdict.empty() || host.empty() || !e.contains("port")) return std::nullopt;
  const std::string protocol = string_field(e, "protocol");
  const std::string method = protocol == "http-connect"   ? "CONNECT"
                             : protocol == "http-forward" ? "HTTP"
                             : protocol == "socks5"       ? "SOCKS5"
                                                          : protocol;
  const bool ipv6 = host.find(':') != std::string::npos;
  std::string s = verdict + " " + method + " " + (ipv6 ? "[" + host + "]" : host) + ":" +
                  scalar_text(e["port"]);
  const std::string rule = string_field(e, "rule");
  if (!rule.empty()) s += " (" + rule + ")";
  const std::string reason = string_field(e, "reason");
  if (verdict != "allow" && !reason.empty()) s += ": " + reason;
  return s;
}

// "session start: curl -s https://example.com (uid 1000, cwd /home/u)"
std::optional<std::string> session_start_summary(const nlohmann::json& e) {
  const auto argv = e.find("argv");
  if (argv == e.end() || !argv->is_array()) return std::nullopt;
  std::string s = "session start:";
  for (const auto& arg : *argv) s += " " + scalar_text(arg);
  std::string details;
  if (e.contains("uid")) details += "uid " + scalar_text(e["uid"]);
  if (e.contains("cwd")) details += (details.empty() ? "cwd " : ", cwd ") + scalar_text(e["cwd"]);
  if (!details.empty()) s += " (" + details + ")";
  return s;
}

// "session end: exit 0 after 1500 ms"
std::optional<std::string> session_end_summary(const nlohmann::json& e) {
  std::string s = "session end:";
  if (e.contains("signal")) {
    s += " signal " + scalar_text(e["signal"]);
  } else if (e.contains("exit_code")) {
    s += " exit " + scalar_text(e["exit_code"]);
  } else {
    return std::nullopt;
  }
  if (e.contains("duration_ms")) s += " after " + scalar_text(e["duration_ms"]) + " ms";
  return s;
}

std::string summary(const nlohmann::json& fields) {
  const std::string name = string_field(fields, "event");
  std::optional<std::string> s;
  if (name == "network") {
    s = network_summary(fields);
  } else if (name == "session_start") {
    s = session_start_summary(fields);
  } else if (name == "session_end") {
    s = session_end_summary(fields);
  } else if (name == "worker_fault" && fields.contains("what")) {
    s = "worker fault: " + scalar_text(fields["what"]);
  }
  // Anything else (future events, foreign shapes): the event itself, which is always readable.
  return s ? *s : compact_json(fields);
}

}  // namespace

std::string format_rfc5424(const nlohmann::json& event, std::string_view hostname, pid_t pid) {
  // The same normalization as AuditLog::write, so both records carry the same fields.
  nlohmann::json fields = event.is_object() ? event : nlohmann::json{{"data", event}};
  if (!fields.contains("event")) fields["event"] = "unknown";
  fields["v"] = kAuditSchemaVersion;

  std::string timestamp = string_field(fields, "time");
  if (is_rfc5424_timestamp(timestamp)) {
    fields.erase("time");  // it is the TIMESTAMP now; an unusable one stays as a field
  } else {
    timestamp = rfc3339_utc_now();
  }

  const int pri = kSyslogFacilityAuthpriv * 8 + severity(fields);
  std::string out = "<" + std::to_string(pri) + ">1 " + timestamp + " " +
                    printable_ascii(hostname, kMaxHostnameBytes, "", "-") + " " +
                    std::string(kSyslogAppName) + " " + std::to_string(pid) + " " +
                    printable_ascii(string_field(fields, "event"), kMaxNameBytes, "", "-") + " ";

  // Structured data. `sd_end` is where the SD-ELEMENT must be closed to leave MSG its reserve;
  // the header is at most ~350 bytes, so there is always room for the element itself.
  const std::size_t sd_end = kSyslogMaxMessageBytes - kMsgReserveBytes;
  out += '[';
  out += kSyslogSdId;
  for (const auto& [key, value] : fields.items()) {
    std::string prefix(1, ' ');  // (appended, not concatenated: g++ 12 -Wrestrict misfires)
    prefix += printable_ascii(key, kMaxNameBytes, "= ]\"", "_");
    prefix += "=\"";
    // Room left for the value: after it come its closing '"' and the element's ']'.
    const std::size_t used = out.size() + prefix.size() + 2;
    if (used + kEllipsis.size() > sd_end) continue;  // left out; the JSON log has it
    out += prefix;
    out += sanitize(scalar_text(value), TextField::SdValue,
                    std::min(kSyslogMaxValueBytes, sd_end - used));
    out += '"';
  }
  out += ']';

  out += ' ';
  out += sanitize(summary(fields), TextField::Msg, kSyslogMaxMessageBytes - out.size());
  return out;
}

// --- the socket -------------------------------------------------------------------------------

AuditSyslog::AuditSyslog(platform::UniqueFd fd, std::string socket_path, std::string hostname)
    : fd_(std::move(fd)),
      socket_path_(std::move(socket_path)),
      hostname_(std::move(hostname)),
      dropped_(std::make_unique<std::atomic<std::uint64_t>>(0)) {}

namespace {

// connect(2) of `sock` to the unix socket at `path`. SECURITY: the kernel would follow every
// symlink of `path`; instead the socket file is resolved as host_path.hpp says and connected to
// through its own descriptor. Returns 0 or an errno; throws platform::HostPathError.
int connect_safely(int sock, const std::string& path) {
  const platform::UniqueFd file = platform::open_host_socket(path);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const int n =
      std::snprintf(address.sun_path, sizeof address.sun_path, "/proc/self/fd/%d", file.get());
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n + 1);
  return ::connect(sock, reinterpret_cast<const sockaddr*>(&address), length) == 0 ? 0 : errno;
}

}  // namespace

std::optional<AuditSyslog> AuditSyslog::open(const std::string& socket_path, std::string* error) {
  auto fail = [&](const std::string& why) -> std::optional<AuditSyslog> {
    if (error) *error = "cannot connect to syslog socket " + in_quotes(socket_path) + ": " + why;
    return std::nullopt;
  };
  if (socket_path.empty() || socket_path.find('\0') != std::string::npos) {
    return fail("invalid path");
  }
  // Non-blocking: a stalled collector must not stall the supervisor (send() bounds the wait).
  platform::UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return fail(std::strerror(errno));
  try {
    if (const int e = connect_safely(fd.get(), socket_path)) return fail(std::strerror(e));
  } catch (const platform::HostPathError& e) {
    return fail(e.reason());
  }

  char host[HOST_NAME_MAX + 1] = {};
  std::string hostname = "-";
  if (::gethostname(host, sizeof host - 1) == 0 && host[0] != '\0') hostname = host;
  return AuditSyslog(std::move(fd), socket_path, std::move(hostname));
}

bool AuditSyslog::send(const nlohmann::json& event) const {
  // getpid() per message rather than at open(): a forked child that inherited the object
  // reports its own pid.
  const std::string message = format_rfc5424(event, hostname_, ::getpid());
  if (send_once(message)) return true;
  dropped_->fetch_add(1, std::memory_order_relaxed);
  return false;
}

bool AuditSyslog::send_once(const std::string& message) const {
  if (!fd_) return false;
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(kSendTimeoutMs);
  bool reconnected = false;
  for (;;) {
    // One datagram per message: the kernel delivers it whole or not at all, so concurrent
    // senders never interleave and need no lock.
    const ssize_t n = ::send(fd_.get(), message.data(), message.size(), MSG_NOSIGNAL);
    if (n >= 0) return static_cast<std::size_t>(n) == message.size();
    if (errno == EINTR) continue;
    if ((errno == ECONNREFUSED || errno == ENOTCONN) && !reconnected) {
      // The collector was restarted and bound a new socket at the path. connect() on a
      // datagram socket just changes its peer, so the descriptor (and other threads using
      // it) stay valid.
      reconnected = true;
      try {
        if (connect_safely(fd_.get(), socket_path_) == 0) continue;
      } catch (const platform::HostPathError&) {
      }
      return false;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) return false;
    // The collector's queue is full: wait for room, but only until the deadline.
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd_.get(), POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(left)) < 0 && errno != EINTR) return false;
  }
}

}  // namespace fence::supervisor
