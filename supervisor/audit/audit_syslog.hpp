// The audit log as syslog (--audit-syslog): the events of audit_log.hpp, each sent as one
// RFC 5424 message in one datagram to the local syslog socket, where journald or rsyslog
// collect them next to the rest of the system's authentication records.
//
//   <PRI>1 TIMESTAMP HOSTNAME fence PROCID MSGID [fence@32473 name="value" ...] MSG
//
// PRI        facility authpriv (10) * 8 + severity:
//              warning (4)  the event's "verdict" is "deny" or "blocked", or one of the
//                           '_'-separated words of its "event" name is "deny", "denied",
//                           "blocked", "violation" or "fault" (so "worker_fault");
//              notice (5)   everything else ("session_start", "session_end", allowed
//                           "network" decisions).
//            So 84 for warnings, 85 for notices.
// TIMESTAMP  the event's "time" when it is a valid RFC 3339 time stamp, else now
//            ("2024-05-01T12:34:56.789Z", UTC, milliseconds).
// HOSTNAME   gethostname(), printable US-ASCII only, at most 255 bytes; "-" when unknown.
// PROCID     the supervisor's pid.
// MSGID      the "event" name ("network", "session_start", ...), at most 32 printable
//            US-ASCII bytes (RFC 5424 section 6); other bytes become '_'; "-" when the name is
//            empty or not a string.
// SD         one SD-ELEMENT, SD-ID "fence@32473", with one SD-PARAM per field of the event
//            (the JSON object keys, in sorted order), plus "v" (the audit schema version) and
//            "event" as in the JSON log. "time" is left out when it became the TIMESTAMP.
//            Strings are written as they are, numbers, booleans and null as in JSON, arrays and
//            objects as compact JSON text. PARAM-NAMEs are at most 32 printable US-ASCII bytes
//            without '=', ' ', ']' and '"' (other bytes become '_').
// MSG        a one-line summary for people (see format_rfc5424), no BOM.
//
// 32473 is the Private Enterprise Number that RFC 5612 reserves for documentation: fence has no
// IANA number of its own, and RFC 5424 requires the "name@number" form for an SD-ID that is not
// IANA-registered. The id is fixed, so collectors can match on "fence@32473"; it would change
// only together with a registered number (a format change, announced as such).
//
// Values and MSG: invalid UTF-8 becomes U+FFFD; control characters (C0, DEL, C1, U+2028,
// U+2029) are written as \n, \r, \t or \uXXXX; in SD values '"', '\' and ']' are preceded by
// '\' (RFC 5424 section 6.3.3). RFC 5424 has no escape for control characters, so a value that
// contained a real newline and one that contained the two characters "\n" read back alike: the
// JSON Lines audit log is the exact record, this is the forwarded copy.
//
// Collectors: both journald and rsyslog honour PRI (facility and severity) from /dev/log, but
// with their defaults neither parses the rest of an RFC 5424 header there: journald keeps it as
// the message text (systemd issue #19251), and so does rsyslog's imuxsock unless its system
// socket uses the regular parser chain (module(load="imuxsock" sysSock.useSpecialParser="off"
// sysSock.parseHostname="on")). The text stays one readable line either way.
//
// Size: a value is cut to kSyslogMaxValueBytes and a message to kSyslogMaxMessageBytes, cuts
// marked with "..."; fields that no longer fit are left out. One event is always one datagram.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "platform/unique_fd.hpp"

namespace fence::supervisor {

inline constexpr int kSyslogFacilityAuthpriv = 10;
inline constexpr int kSyslogSeverityWarning = 4;
inline constexpr int kSyslogSeverityNotice = 5;
inline constexpr std::string_view kSyslogAppName = "fence";
inline constexpr std::string_view kSyslogSdId = "fence@32473";
// rsyslog's default maximum message size; journald accepts more. Well below the AF_UNIX
// datagram limit (the socket send buffer), so a message is never split or refused for size.
inline constexpr std::size_t kSyslogMaxMessageBytes = 8192;
// One long field (argv, a refusal reason) cannot crowd out the others.
inline constexpr std::size_t kSyslogMaxValueBytes = 2048;

class AuditSyslog {
 public:
  // Connects an AF_UNIX SOCK_DGRAM socket (CLOEXEC, non-blocking) to `socket_path`, resolved
  // without following a symlink a sandbox could have planted (platform/host_path.hpp) and
  // reached through the resolved file itself. nullopt on failure, with "cannot connect to
  // syslog socket PATH: reason" in *error when given.
  static std::optional<AuditSyslog> open(const std::string& socket_path = "/dev/log",
                                         std::string* error = nullptr);

  // Formats `event` with format_rfc5424 and sends it with one send(2). When the collector is
  // slow (EAGAIN / ENOBUFS) it waits for the socket to become writable for at most
  // kSendTimeoutMs in all; when the collector was restarted (ECONNREFUSED) it connects to the
  // path once more. Returns false, and counts a drop, when the event could not be sent: the
  // supervisor never blocks on syslog for longer than that. Thread-safe.
  bool send(const nlohmann::json& event) const;

  // Events that send() could not deliver since open().
  std::uint64_t dropped() const { return dropped_->load(std::memory_order_relaxed); }

  int fd() const { return fd_.get(); }

  static constexpr int kSendTimeoutMs = 200;

 private:
  AuditSyslog(platform::UniqueFd fd, std::string socket_path, std::string hostname);

  bool send_once(const std::string& message) const;

  platform::UniqueFd fd_;
  std::string socket_path_;
  std::string hostname_;
  // Behind a pointer so that the class stays movable (it is returned in an optional).
  std::unique_ptr<std::atomic<std::uint64_t>> dropped_;
};

// The RFC 5424 message for `event` (layout above), at most kSyslogMaxMessageBytes, one line.
// Pure except that it reads the clock when the event has no usable "time". A non-object event
// is wrapped as {"data": event}, and a missing "event" is "unknown", as in AuditLog::write.
//
// MSG is a summary for the events fence writes, and the compact JSON of the event otherwise:
//   network        "deny CONNECT example.com:443 (default deny): blocked by network policy: ..."
//                  (verdict, CONNECT / HTTP / SOCKS5, host:port, rule, reason when denied)
//   session_start  "session start: curl -s https://example.com (uid 1000, cwd /home/u)"
//   session_end    "session end: exit 0 after 1500 ms" or "... signal 9 after ..."
//   worker_fault   "worker fault: the proxy worker exited"
std::string format_rfc5424(const nlohmann::json& event, std::string_view hostname, pid_t pid);

}  // namespace fence::supervisor
