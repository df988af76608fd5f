// Audit events as RFC 5424 syslog messages: the formatter, read back by a strict parser written
// here from the RFC's grammar, and the datagram socket end to end.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "supervisor/audit/audit_events.hpp"
#include "supervisor/audit/audit_log.hpp"
#include "supervisor/audit/audit_syslog.hpp"
#include "supervisor/audit/sha256.hpp"

namespace fence::supervisor {
namespace {

// --- a strict RFC 5424 reader ---------------------------------------------------------------

struct SyslogMessage {
  int pri = -1;
  std::string timestamp, hostname, app_name, procid, msgid, sd_id;
  std::vector<std::pair<std::string, std::string>> params;  // decoded values, in order
  std::optional<std::string> msg;

  bool has(const std::string& name) const {
    for (const auto& p : params) {
      if (p.first == name) return true;
    }
    return false;
  }
  std::string param(const std::string& name) const {
    for (const auto& p : params) {
      if (p.first == name) return p.second;
    }
    FAIL("no SD-PARAM " << name);
    return {};
  }
};

bool valid_utf8(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();  // the strict error handler throws on invalid UTF-8
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

class Rfc5424Reader {
 public:
  explicit Rfc5424Reader(std::string_view s) : s_(s) {}

  // The parsed message, or nullopt with the reason in error().
  std::optional<SyslogMessage> read() {
    SyslogMessage m;
    if (!read_message(m)) return std::nullopt;
    return m;
  }

  const std::string& error() const { return error_; }

 private:
  bool fail(const std::string& why) {
    error_ = why + " at byte " + std::to_string(pos_);
    return false;
  }

  bool read_message(SyslogMessage& m) {
    // Beyond the RFC, what fence promises: one line of valid UTF-8 without control characters.
    for (char c : s_) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7F) return fail("control character in message");
    }
    if (!valid_utf8(std::string(s_))) return fail("invalid UTF-8");
    if (!take('<')) return fail("PRI: no '<'");
    const std::string pri = token_until('>', 1, 3, "0123456789");
    if (pri.empty() || !take('>')) return fail("PRI");
    m.pri = std::stoi(pri);
    if (m.pri > 191) return fail("PRI > 191");
    if (!take('1') || !take(' ')) return fail("VERSION");
    m.timestamp = header_field(32);
    static const std::regex kTimestamp(
        R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2}))");
    if (m.timestamp != "-" && !std::regex_match(m.timestamp, kTimestamp)) {
      return fail("TIMESTAMP " + m.timestamp);
    }
    m.hostname = header_field(255);
    m.app_name = header_field(48);
    m.procid = header_field(128);
    m.msgid = header_field(32);
    if (m.hostname.empty() || m.app_name.empty() || m.procid.empty() || m.msgid.empty()) {
      return fail("header field");
    }
    if (!read_structured_data(m)) return false;
    if (pos_ == s_.size()) return true;
    if (!take(' ')) return fail("no SP before MSG");
    m.msg = std::string(s_.substr(pos_));
    return true;
  }

  bool take(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  static bool printusascii(char c) { return c >= 33 && c <= 126; }

  // 1*max PRINTUSASCII then SP; "" when malformed.
  std::string header_field(std::size_t max) {
    const std::size_t start = pos_;
    while (pos_ < s_.size() && printusascii(s_[pos_])) ++pos_;
    const std::size_t n = pos_ - start;
    if (n == 0 || n > max || !take(' ')) return {};
    return std::string(s_.substr(start, n));
  }

  std::string token_until(char end, std::size_t min, std::size_t max, std::string_view allowed) {
    const std::size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] != end && allowed.find(s_[pos_]) != std::string::npos) {
      ++pos_;
    }
    const std::size_t n = pos_ - start;
    if (n < min || n > max) return {};
    return std::string(s_.substr(start, n));
  }

  // SD-NAME: 1*32 PRINTUSASCII except '=', SP, ']', '"'.
  std::string sd_name() {
    const std::size_t start = pos_;
    while (pos_ < s_.size() && printusascii(s_[pos_]) && s_[pos_] != '=' && s_[pos_] != ']' &&
           s_[pos_] != '"') {
      ++pos_;
    }
    const std::size_t n = pos_ - start;
    if (n == 0 || n > 32) return {};
    return std::string(s_.substr(start, n));
  }

  bool read_structured_data(SyslogMessage& m) {
    if (take('-')) return true;
    if (!take('[')) return fail("SD-ELEMENT: no '['");
    m.sd_id = sd_name();
    if (m.sd_id.empty()) return fail("SD-ID");
    while (take(' ')) {
      const std::string name = sd_name();
      if (name.empty() || !take('=') || !take('"')) return fail("SD-PARAM " + name);
      std::string value;
      for (;;) {
        if (pos_ >= s_.size()) return fail("unterminated PARAM-VALUE");
        const char c = s_[pos_++];
        if (c == '"') break;
        if (c == ']') return fail("unescaped ']' in PARAM-VALUE");
        if (c == '\\' && pos_ < s_.size() &&
            (s_[pos_] == '"' || s_[pos_] == '\\' || s_[pos_] == ']')) {
          value += s_[pos_++];
        } else {
          value += c;  // RFC 5424 6.3.3: any other backslash is an ordinary character
        }
      }
      m.params.emplace_back(name, value);
    }
    if (!take(']')) return fail("SD-ELEMENT: no ']'");
    if (pos_ < s_.size() && s_[pos_] == '[') return fail("fence writes one SD-ELEMENT");
    return true;
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  std::string error_;
};

SyslogMessage parse(const std::string& text) {
  Rfc5424Reader reader(text);
  auto m = reader.read();
  INFO(text);
  INFO(reader.error());
  REQUIRE(m);
  CHECK(m->sd_id == "fence@32473");
  CHECK(m->app_name == "fence");
  CHECK(text.size() <= kSyslogMaxMessageBytes);
  return *m;
}

constexpr int kNotice = 10 * 8 + 5;
constexpr int kWarning = 10 * 8 + 4;

// --- a collector socket in a private directory ------------------------------------------------

class Collector {
 public:
  Collector() {
    char dir[] = "/tmp/fence-syslog-XXXXXX";
    REQUIRE(::mkdtemp(dir) != nullptr);
    dir_ = dir;
    path_ = dir_ + "/log";
    bind();
  }
  ~Collector() {
    fd_.reset();
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }

  // Closes the socket and removes it, as a stopping syslog daemon does.
  void stop() {
    fd_.reset();
    ::unlink(path_.c_str());
  }
  void bind() {
    fd_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    REQUIRE(fd_);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    REQUIRE(path_.size() < sizeof a.sun_path);
    std::memcpy(a.sun_path, path_.c_str(), path_.size() + 1);
    REQUIRE(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }

  // One datagram, or nullopt after `timeout_ms`. Fails the test if it was truncated.
  std::optional<std::string> receive(int timeout_ms = 5000) {
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return std::nullopt;
    std::string buf(64 * 1024, '\0');
    const ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), MSG_TRUNC);
    REQUIRE(n >= 0);
    REQUIRE(static_cast<std::size_t>(n) < buf.size());
    buf.resize(static_cast<std::size_t>(n));
    return buf;
  }

  const std::string& path() const { return path_; }

 private:
  std::string dir_, path_;
  platform::UniqueFd fd_;
};

nlohmann::json sample_deny() {
  return network_decision("http-connect", "example.com", 443, "", "", "default deny", false,
                          "blocked by network policy: no rule allows example.com", 0, 0, 0);
}

}  // namespace

// --- the formatter ----------------------------------------------------------------------------

TEST_CASE("an allowed network event reads back with every header field and param",
          "[audit_syslog]") {
  auto event = network_decision("http-connect", "example.com", 443, "198.51.100.10, 2001:db8::10",
                                "198.51.100.10", "*.example.com", true, "", 1234, 56789, 42);
  event["time"] = "2024-05-01T12:34:56.789Z";
  const auto m = parse(format_rfc5424(event, "build-host", 4242));
  CHECK(m.pri == kNotice);
  CHECK(m.timestamp == "2024-05-01T12:34:56.789Z");
  CHECK(m.hostname == "build-host");
  CHECK(m.procid == "4242");
  CHECK(m.msgid == "network");
  CHECK(m.param("event") == "network");
  CHECK(m.param("v") == std::to_string(kAuditSchemaVersion));
  CHECK(m.param("protocol") == "http-connect");
  CHECK(m.param("host") == "example.com");
  CHECK(m.param("port") == "443");
  CHECK(m.param("resolved") == "198.51.100.10, 2001:db8::10");
  CHECK(m.param("rule") == "*.example.com");
  CHECK(m.param("verdict") == "allow");
  CHECK(m.param("reason").empty());
  CHECK(m.param("bytes_down") == "56789");
  CHECK_FALSE(m.has("time"));  // it became the TIMESTAMP
  CHECK(m.params.size() == 13);
  CHECK(m.msg == "allow CONNECT example.com:443 (*.example.com)");
}

TEST_CASE("a denied network event is a warning with the refusal in MSG", "[audit_syslog]") {
  const auto m = parse(format_rfc5424(sample_deny(), "h", 1));
  CHECK(m.pri == kWarning);
  CHECK(m.param("verdict") == "deny");
  CHECK(m.msg ==
        "deny CONNECT example.com:443 (default deny): blocked by network policy: no rule allows "
        "example.com");

  const auto v6 = parse(format_rfc5424(
      network_decision("socks5", "2001:db8::10", 80, "", "", "10.0.0.0/8:5432", false, "", 0, 0, 0),
      "h", 1));
  CHECK(v6.msg == "deny SOCKS5 [2001:db8::10]:80 (10.0.0.0/8:5432)");
  const auto forward = parse(format_rfc5424(
      network_decision("http-forward", "a.example", 80, "", "", "", true, "", 0, 0, 0), "h", 1));
  CHECK(forward.msg == "allow HTTP a.example:80");
}

TEST_CASE("session_start: arrays and objects become compact JSON values", "[audit_syslog]") {
  const auto event = session_start({"curl", "-s", "https://example.com/a b"}, "/home/u/p", 1000,
                                   R"({"network":{}})", {{"landlock_abi", 5}, {"seccomp", true}});
  const auto m = parse(format_rfc5424(event, "h", 7));
  CHECK(m.pri == kNotice);
  CHECK(m.msgid == "session_start");
  CHECK(m.param("argv") == R"(["curl","-s","https://example.com/a b"])");
  CHECK(m.param("features") == R"({"landlock_abi":5,"seccomp":true})");
  CHECK(m.param("uid") == "1000");
  CHECK(m.param("cwd") == "/home/u/p");
  CHECK(m.param("policy_sha256") == sha256_hex(R"({"network":{}})"));
  CHECK(nlohmann::json::parse(m.param("argv")) == event["argv"]);
  CHECK(m.msg == "session start: curl -s https://example.com/a b (uid 1000, cwd /home/u/p)");
}

TEST_CASE("session_end reports the exit code or the signal", "[audit_syslog]") {
  const auto exited = parse(format_rfc5424(
      session_end(3, std::nullopt, 1500, {{"network_allowed", 2}, {"network_denied", 1}}), "h", 7));
  CHECK(exited.pri == kNotice);
  CHECK(exited.msgid == "session_end");
  CHECK(exited.param("exit_code") == "3");
  CHECK(exited.param("counts") == R"({"network_allowed":2,"network_denied":1})");
  CHECK(exited.msg == "session end: exit 3 after 1500 ms");

  const auto killed =
      parse(format_rfc5424(session_end(std::nullopt, 9, 20, nlohmann::json::object()), "h", 7));
  CHECK(killed.param("signal") == "9");
  CHECK_FALSE(killed.has("exit_code"));
  CHECK(killed.msg == "session end: signal 9 after 20 ms");
}

TEST_CASE("worker_fault is a warning with what happened in MSG", "[audit_syslog]") {
  const auto m = parse(format_rfc5424(
      {{"event", "worker_fault"}, {"what", "protocol violation: ipc: bad magic"}}, "h", 7));
  CHECK(m.pri == kWarning);
  CHECK(m.msgid == "worker_fault");
  CHECK(m.param("what") == "protocol violation: ipc: bad magic");
  CHECK(m.msg == "worker fault: protocol violation: ipc: bad magic");
}

TEST_CASE("PRI is authpriv with warning for refusals and faults, notice otherwise",
          "[audit_syslog]") {
  const std::vector<std::pair<nlohmann::json, int>> cases = {
      {{{"event", "session_start"}}, kNotice},
      {{{"event", "session_end"}, {"exit_code", 1}}, kNotice},
      {{{"event", "network"}, {"verdict", "allow"}}, kNotice},
      {{{"event", "network"}, {"verdict", "deny"}}, kWarning},
      {{{"event", "filesystem"}, {"verdict", "blocked"}}, kWarning},
      {{{"event", "worker_fault"}}, kWarning},
      {{{"event", "launcher_fault"}}, kWarning},
      {{{"event", "policy_violation"}}, kWarning},
      {{{"event", "exec_blocked"}}, kWarning},
      {{{"event", "access_denied"}}, kWarning},
      // Whole words only: a name that merely contains "fault" is not a fault.
      {{{"event", "defaults_loaded"}}, kNotice},
      {{{"event", "network"}, {"verdict", "Deny"}}, kNotice},
      {{{"verdict", "deny"}}, kWarning},
      {nlohmann::json::array({1, 2}), kNotice},
  };
  for (const auto& [event, pri] : cases) {
    INFO(event.dump());
    CHECK(parse(format_rfc5424(event, "h", 1)).pri == pri);
  }
}

TEST_CASE("TIMESTAMP is the event's time when valid, else now", "[audit_syslog]") {
  const std::regex now_format(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
  auto with_time = [](const nlohmann::json& time) {
    return parse(format_rfc5424({{"event", "x"}, {"time", time}}, "h", 1));
  };
  CHECK(with_time("2024-05-01T12:34:56.123456+02:00").timestamp ==
        "2024-05-01T12:34:56.123456+02:00");
  CHECK(with_time("2024-05-01T12:34:56Z").timestamp == "2024-05-01T12:34:56Z");

  // Unusable times: the clock gives the TIMESTAMP and the value stays as a param.
  for (const char* bad :
       {"2024-13-01T12:34:56Z", "2024-05-01T12:34:56.1234567Z", "2024-05-01 12:34:56Z",
        "2024-05-01T12:34:56", "yesterday\n<13>1", "2024-05-01T12:34:56Z ", ""}) {
    INFO(bad);
    const auto m = with_time(bad);
    CHECK(std::regex_match(m.timestamp, now_format));
    CHECK(m.has("time"));
  }
  const auto not_a_string = with_time(12345);
  CHECK(std::regex_match(not_a_string.timestamp, now_format));
  CHECK(not_a_string.param("time") == "12345");
  CHECK(std::regex_match(parse(format_rfc5424({{"event", "x"}}, "h", 1)).timestamp, now_format));
}

TEST_CASE("HOSTNAME and MSGID are bounded printable US-ASCII", "[audit_syslog]") {
  CHECK(parse(format_rfc5424({{"event", "x"}}, "", 1)).hostname == "-");
  CHECK(parse(format_rfc5424({{"event", "x"}}, "bad host\n", 1)).hostname == "bad_host_");
  CHECK(parse(format_rfc5424({{"event", "x"}}, std::string(300, 'h'), 1)).hostname ==
        std::string(255, 'h'));

  const auto long_name = parse(format_rfc5424({{"event", std::string(40, 'e')}}, "h", 1));
  CHECK(long_name.msgid == std::string(32, 'e'));
  CHECK(long_name.param("event") == std::string(40, 'e'));  // the param keeps it whole
  CHECK(parse(format_rfc5424({{"event", "a b\n\xc3\xa9"}}, "h", 1)).msgid == "a_b___");
  CHECK(parse(format_rfc5424({{"event", ""}}, "h", 1)).msgid == "-");
  CHECK(parse(format_rfc5424({{"event", 5}}, "h", 1)).msgid == "-");
}

TEST_CASE("PARAM-NAMEs are bounded and never contain = space ] or quote", "[audit_syslog]") {
  const nlohmann::json event = {
      {"event", "x"}, {"a=b", 1},       {"c d", 2},         {"e]f", 3},
      {"g\"h", 4},    {"new\nline", 5}, {"caf\xc3\xa9", 6}, {std::string(40, 'k'), 7},
      {"", 8}};
  const auto m = parse(format_rfc5424(event, "h", 1));
  CHECK(m.param("a_b") == "1");
  CHECK(m.param("c_d") == "2");
  CHECK(m.param("e_f") == "3");
  CHECK(m.param("g_h") == "4");
  CHECK(m.param("new_line") == "5");
  CHECK(m.param("caf__") == "6");
  CHECK(m.param(std::string(32, 'k')) == "7");
  CHECK(m.param("_") == "8");
}

TEST_CASE("quote, backslash and ] in values are escaped and read back", "[audit_syslog]") {
  const std::string tricky = R"(say "hi" \ to [x] and \" and \] end\)";
  const std::string text = format_rfc5424({{"event", "x"}, {"what", tricky}}, "h", 1);
  CHECK(text.find(R"(what="say \"hi\" \\ to [x\] and \\\" and \\\] end\\")") != std::string::npos);
  CHECK(parse(text).param("what") == tricky);
  // A value that tries to close the element and open a new one stays inside its param.
  const auto m = parse(format_rfc5424({{"event", "x"}, {"a", "\"] [evil@1 b=\"c"}}, "h", 1));
  CHECK(m.param("a") == "\"] [evil@1 b=\"c");
  CHECK(m.params.size() == 3);  // a, event, v
}

TEST_CASE("control characters are escaped, so a value cannot start a second record",
          "[audit_syslog]") {
  const std::string injection = "ok\n<13>1 2024-01-01T00:00:00Z evil su - - - root login\r\x1b[2J";
  const std::string text = format_rfc5424({{"event", "worker_fault"}, {"what", injection}}, "h", 1);
  CHECK(text.find('\n') == std::string::npos);
  CHECK(text.find('\r') == std::string::npos);
  CHECK(text.find('\x1b') == std::string::npos);
  const auto m = parse(text);  // also rejects any byte below 0x20
  CHECK(m.param("what") == "ok\\n<13>1 2024-01-01T00:00:00Z evil su - - - root login\\r\\u001B[2J");
  CHECK(m.msg == "worker fault: " + m.param("what"));

  // Tab, NUL, DEL, a C1 control (U+0085 NEL) and U+2028 LINE SEPARATOR.
  const std::string others = std::string("a\tb") + '\0' + "c\x7f" + "d\xc2\x85" + "e\xe2\x80\xa8";
  const auto o = parse(format_rfc5424({{"event", "x"}, {"v2", others}}, "h", 1));
  CHECK(o.param("v2") == "a\\tb\\u0000c\\u007Fd\\u0085e\\u2028");
}

TEST_CASE("invalid UTF-8 becomes U+FFFD, valid UTF-8 is kept", "[audit_syslog]") {
  const std::string fffd = "\xef\xbf\xbd";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"\xff\xfe bad", fffd + fffd + " bad"},
      {"over\xc0\xaflong", "over" + fffd + fffd + "long"},          // overlong '/'
      {"surrogate\xed\xa0\x80", "surrogate" + fffd + fffd + fffd},  // U+D800
      {"cut\xe2\x82", "cut" + fffd + fffd},                         // truncated sequence
      {"big\xf4\x90\x80\x80", "big" + fffd + fffd + fffd + fffd},   // above U+10FFFF
      {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92"},
  };
  for (const auto& [in, out] : cases) {
    const auto m = parse(format_rfc5424({{"event", "worker_fault"}, {"what", in}}, "h", 1));
    CHECK(m.param("what") == out);
    CHECK(m.msg == "worker fault: " + out);
  }
  // In arrays too (the JSON serializer's own replacement).
  const auto m =
      parse(format_rfc5424(session_start({"\xff"}, "/", 0, "", nlohmann::json::object()), "h", 1));
  CHECK(m.param("argv") == "[\"" + fffd + "\"]");
}

TEST_CASE("a long value is cut with ... between two characters", "[audit_syslog]") {
  const auto plain =
      parse(format_rfc5424({{"event", "x"}, {"long", std::string(10000, 'a')}}, "h", 1));
  CHECK(plain.param("long") == std::string(kSyslogMaxValueBytes - 3, 'a') + "...");

  // Multi-byte characters and escapes are never split: every prefix length is tried.
  for (std::size_t pad = 0; pad < 6; ++pad) {
    std::string value(pad, 'p');
    while (value.size() < 3000) value += "\xe2\x82\xac\"\n";
    const std::string text = format_rfc5424({{"event", "x"}, {"long", value}}, "h", 1);
    const auto m = parse(text);
    const std::string got = m.param("long");
    REQUIRE(got.size() >= 3);
    CHECK(got.substr(got.size() - 3) == "...");
    CHECK(got.size() <= kSyslogMaxValueBytes);
    std::string expected_start(pad, 'p');
    while (expected_start.size() < got.size()) expected_start += "\xe2\x82\xac\"\\n";
    CHECK(expected_start.compare(0, got.size() - 3, got, 0, got.size() - 3) == 0);
  }
}

TEST_CASE("a message never exceeds the cap, whatever the event", "[audit_syslog]") {
  nlohmann::json event = {{"event", "session_start"}};
  for (int i = 0; i < 20; ++i) event["field" + std::to_string(100 + i)] = std::string(3000, 'x');
  event["zz_small"] = "kept?";
  event["argv"] = std::vector<std::string>(500, std::string(100, '"'));
  const std::string text = format_rfc5424(event, std::string(255, 'h'), 2147483647);
  CHECK(text.size() <= kSyslogMaxMessageBytes);
  CHECK(text.size() > kSyslogMaxMessageBytes - 300);  // the room is used, not wasted
  const auto m = parse(text);
  CHECK(m.param("event") == "session_start");
  REQUIRE(m.msg);
  CHECK_FALSE(m.msg->empty());
  // Fields that do not fit are left out or cut; the ones kept are intact prefixes.
  for (const auto& [name, value] : m.params) {
    if (name.rfind("field", 0) == 0) {
      const bool whole =
          value == std::string(3000, 'x').substr(0, kSyslogMaxValueBytes - 3) + "...";
      const bool cut = value.size() >= 3 && value.substr(value.size() - 3) == "..." &&
                       value.find_first_not_of('x') == value.size() - 3;
      CHECK((whole || cut));
    }
  }
  CHECK(m.params.size() < 23);

  // Huge MSG alone (an unknown event is its own JSON) is cut too.
  const std::string big = format_rfc5424(
      {{"event", "x"}, {"a", std::string(5000, 'a')}, {"b", std::string(5000, 'b')}}, "h", 1);
  CHECK(big.size() <= kSyslogMaxMessageBytes);
  const auto b = parse(big);
  REQUIRE(b.msg);
  CHECK(b.msg->size() >= 3);
  CHECK(b.msg->substr(b.msg->size() - 3) == "...");
}

TEST_CASE("events are normalized as in the JSON log; unknown events carry their JSON as MSG",
          "[audit_syslog]") {
  const auto wrapped = parse(format_rfc5424(nlohmann::json::array({1, "two"}), "h", 1));
  CHECK(wrapped.msgid == "unknown");
  CHECK(wrapped.param("event") == "unknown");
  CHECK(wrapped.param("data") == R"([1,"two"])");
  CHECK(wrapped.param("v") == std::to_string(kAuditSchemaVersion));

  // The schema version is always fence's, as in AuditLog::write.
  const auto m = parse(format_rfc5424({{"event", "cache_hit"},
                                       {"key", "a]b"},
                                       {"n", 2.5},
                                       {"ok", false},
                                       {"none", nullptr},
                                       {"v", 9}},
                                      "h", 1));
  CHECK(m.pri == kNotice);
  CHECK(m.param("key") == "a]b");
  CHECK(m.param("n") == "2.5");
  CHECK(m.param("ok") == "false");
  CHECK(m.param("none") == "null");
  CHECK(m.param("v") == std::to_string(kAuditSchemaVersion));
  REQUIRE(m.msg);
  const auto msg_json = nlohmann::json::parse(*m.msg);
  CHECK(msg_json["event"] == "cache_hit");
  CHECK(msg_json["key"] == "a]b");

  // A known event in a foreign shape falls back to its JSON rather than a wrong summary.
  const auto odd = parse(format_rfc5424({{"event", "network"}, {"verdict", 1}}, "h", 1));
  CHECK(nlohmann::json::parse(*odd.msg)["verdict"] == 1);
}

// --- the socket -------------------------------------------------------------------------------

TEST_CASE("open() fails with a clear error for a missing or unusable socket", "[audit_syslog]") {
  std::string error;
  CHECK_FALSE(AuditSyslog::open("/nonexistent-fence-dir/log", &error));
  CHECK(error ==
        "cannot connect to syslog socket \"/nonexistent-fence-dir/log\": "
        "/nonexistent-fence-dir: " +
            std::string(std::strerror(ENOENT)));

  CHECK_FALSE(AuditSyslog::open("/" + std::string(300, 'x'), &error));
  CHECK(error.find(std::strerror(ENAMETOOLONG)) != std::string::npos);
  CHECK_FALSE(AuditSyslog::open("", &error));
  CHECK(error == "cannot connect to syslog socket \"\": invalid path");

  // A regular file is not a socket.
  char dir[] = "/tmp/fence-syslog-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  const std::string file = std::string(dir) + "/file";
  platform::UniqueFd f(::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  REQUIRE(f);
  CHECK_FALSE(AuditSyslog::open(file, &error));
  CHECK(error == "cannot connect to syslog socket \"" + file + "\": not a unix socket");
  ::unlink(file.c_str());
  ::rmdir(dir);
  CHECK_FALSE(AuditSyslog::open("/nonexistent-fence-dir/log"));  // no error pointer: no crash
}

TEST_CASE("the socket is close-on-exec and non-blocking; one event is one datagram",
          "[audit_syslog]") {
  Collector collector;
  std::string error;
  auto syslog = AuditSyslog::open(collector.path(), &error);
  REQUIRE(syslog);
  CHECK(error.empty());
  CHECK((::fcntl(syslog->fd(), F_GETFD) & FD_CLOEXEC) != 0);
  CHECK((::fcntl(syslog->fd(), F_GETFL) & O_NONBLOCK) != 0);

  REQUIRE(syslog->send(sample_deny()));
  const auto datagram = collector.receive();
  REQUIRE(datagram);
  const auto m = parse(*datagram);
  CHECK(m.pri == kWarning);
  CHECK(m.procid == std::to_string(::getpid()));
  CHECK(m.param("host") == "example.com");
  CHECK_FALSE(collector.receive(50));
  CHECK(syslog->dropped() == 0);

  // Moving keeps the socket and the counter.
  AuditSyslog moved = std::move(*syslog);
  REQUIRE(moved.send({{"event", "x"}}));
  CHECK(collector.receive());
}

TEST_CASE("events sent from several threads arrive whole, one datagram each", "[audit_syslog]") {
  Collector collector;
  auto syslog = AuditSyslog::open(collector.path());
  REQUIRE(syslog);
  constexpr int kThreads = 4;
  constexpr int kEvents = 250;
  // Up to the per-value cap, so that every value arrives uncut.
  auto pad_for = [](int t, int i) {
    const auto size = static_cast<std::size_t>(t * 997 + i * 31) % kSyslogMaxValueBytes;
    return std::string(size, static_cast<char>('a' + t));
  };

  std::vector<std::string> received;
  std::thread reader([&] {
    while (received.size() < kThreads * kEvents) {
      auto d = collector.receive(10000);
      if (!d) break;
      received.push_back(std::move(*d));
    }
  });
  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> senders;
  for (int t = 0; t < kThreads; ++t) {
    senders.emplace_back([&, t] {
      for (int i = 0; i < kEvents; ++i) {
        const nlohmann::json e = {{"event", "network"},   {"verdict", i % 2 ? "allow" : "deny"},
                                  {"thread", t},          {"i", i},
                                  {"pad", pad_for(t, i)}, {"tricky", "]\"\\\n"}};
        if (!syslog->send(e)) ++failures[static_cast<std::size_t>(t)];
      }
    });
  }
  for (auto& s : senders) s.join();
  reader.join();

  for (int t = 0; t < kThreads; ++t) CHECK(failures[static_cast<std::size_t>(t)] == 0);
  CHECK(syslog->dropped() == 0);
  REQUIRE(received.size() == kThreads * kEvents);
  std::map<int, int> next;  // one thread's events arrive in the order it sent them
  for (const auto& d : received) {
    const auto m = parse(d);
    const int t = std::stoi(m.param("thread"));
    const int i = std::stoi(m.param("i"));
    CHECK(i == next[t]);
    next[t] = i + 1;
    CHECK(m.param("pad") == pad_for(t, i));
    CHECK(m.param("tricky") == "]\"\\\\n");
    CHECK(m.pri == (i % 2 ? kNotice : kWarning));
  }
  for (int t = 0; t < kThreads; ++t) CHECK(next[t] == kEvents);
}

TEST_CASE("a collector that does not read makes send() give up after a bounded wait",
          "[audit_syslog]") {
  Collector collector;
  auto syslog = AuditSyslog::open(collector.path());
  REQUIRE(syslog);
  const nlohmann::json event = {{"event", "x"}, {"pad", std::string(1000, 'p')}};
  int sent = 0;
  std::chrono::milliseconds waited{};
  for (; sent < 100000; ++sent) {
    const auto start = std::chrono::steady_clock::now();
    const bool ok = syslog->send(event);
    waited = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    if (!ok) break;
  }
  REQUIRE(sent < 100000);
  CHECK(sent > 0);
  CHECK(syslog->dropped() == 1);
  CHECK(waited.count() >= AuditSyslog::kSendTimeoutMs - 20);
  CHECK(waited.count() < 2000);

  // Once the collector catches up, events flow again.
  for (int i = 0; i < sent; ++i) REQUIRE(collector.receive());
  CHECK(syslog->send(event));
  CHECK(syslog->dropped() == 1);
}

TEST_CASE("a restarted collector is found again at the same path", "[audit_syslog]") {
  Collector collector;
  auto syslog = AuditSyslog::open(collector.path());
  REQUIRE(syslog);
  REQUIRE(syslog->send({{"event", "first"}}));
  REQUIRE(collector.receive());

  collector.stop();
  CHECK_FALSE(syslog->send({{"event", "lost"}}));  // nobody listens: a counted drop
  CHECK(syslog->dropped() == 1);

  collector.bind();
  CHECK(syslog->send({{"event", "second"}}));
  const auto d = collector.receive();
  REQUIRE(d);
  CHECK(parse(*d).msgid == "second");

  // Restarted while connected: the first send sees ECONNREFUSED and reconnects.
  collector.stop();
  collector.bind();
  CHECK(syslog->send({{"event", "third"}}));
  const auto d3 = collector.receive();
  REQUIRE(d3);
  CHECK(parse(*d3).msgid == "third");
  CHECK(syslog->dropped() == 1);
}

}  // namespace fence::supervisor
