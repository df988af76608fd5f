// Audit log: line format, event builders, SHA-256, and appends from two processes.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "supervisor/audit/audit_events.hpp"
#include "supervisor/audit/audit_log.hpp"
#include "supervisor/audit/reporter.hpp"
#include "supervisor/audit/sha256.hpp"

namespace fence::supervisor {
namespace {

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string temp_path(const char* name) {
  char dir[] = "/tmp/fence-audit-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  return std::string(dir) + "/" + name;
}

void remove_temp(const std::string& path) {
  ::unlink(path.c_str());
  ::rmdir(path.substr(0, path.rfind('/')).c_str());
}

}  // namespace

TEST_CASE("SHA-256 known answers", "[audit]") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // The 1,000,000 'a' vector and the padding boundaries (55: one block, 56: two, 64: exact).
  CHECK(sha256_hex(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  CHECK(sha256_hex(std::string(55, 'a')) ==
        "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  CHECK(sha256_hex(std::string(56, 'a')) ==
        "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  CHECK(sha256_hex(std::string(64, 'a')) ==
        "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

TEST_CASE("time stamps are RFC 3339 UTC with milliseconds", "[audit]") {
  const std::regex re(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
  CHECK(std::regex_match(rfc3339_utc_now(), re));
}

TEST_CASE("events are single JSON lines with v, time and event", "[audit]") {
  const std::string path = temp_path("audit.jsonl");
  {
    std::string error;
    auto log = AuditLog::open(path, &error);
    REQUIRE(log);
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK((::fcntl(log->fd(), F_GETFD) & FD_CLOEXEC) != 0);
    CHECK((::fcntl(log->fd(), F_GETFL) & O_APPEND) != 0);

    CHECK(log->write(session_start({"curl", "-s", "https://example.com", "\xff\xfe bad utf8"},
                                   "/home/u/p", 1000, R"({"network":{}})",
                                   {{"landlock_abi", 5}, {"seccomp", true}})));
    CHECK(log->write(network_decision("http-connect", "example.com", 443,
                                      "198.51.100.10, 2001:db8::10", "198.51.100.10", "example.com",
                                      true, "allowed by rule example.com", 1234, 56789, 42)));
    CHECK(log->write(network_decision("socks5", "evil.example", 443, "", "", "evil.example", false,
                                      "denied by rule evil.example", 0, 0, 0)));
    CHECK(log->write(session_end(std::nullopt, 9, 1500, {{"allowed", 1}, {"denied", 1}})));
    CHECK(log->write(session_end(3, std::nullopt, 10, nlohmann::json::object())));
    CHECK(log->write(nlohmann::json{{"line", "with\nnewline"}}));
  }
  // Reopening appends.
  { REQUIRE(AuditLog::open(path)->write(nlohmann::json{{"event", "reopened"}})); }

  const auto lines = read_lines(path);
  REQUIRE(lines.size() == 7);
  std::vector<nlohmann::json> events;
  for (const auto& l : lines) {
    INFO(l);
    REQUIRE(nlohmann::json::accept(l));
    events.push_back(nlohmann::json::parse(l));
    CHECK(events.back()["v"] == 1);
    CHECK(events.back()["time"].is_string());
    CHECK(events.back()["event"].is_string());
  }
  const auto& start = events[0];
  CHECK(start["event"] == "session_start");
  CHECK(start["argv"][0] == "curl");
  CHECK(start["argv"][3].get<std::string>().find("\xef\xbf\xbd") != std::string::npos);
  CHECK(start["uid"] == 1000);
  CHECK(start["policy_sha256"] == sha256_hex(R"({"network":{}})"));
  CHECK(start["features"]["landlock_abi"] == 5);
  const auto& net = events[1];
  CHECK(net["event"] == "network");
  CHECK(net["verdict"] == "allow");
  CHECK(net["port"] == 443);
  CHECK(net["connected"] == "198.51.100.10");
  CHECK(net["bytes_down"] == 56789);
  CHECK(events[2]["verdict"] == "deny");
  CHECK(events[3]["signal"] == 9);
  CHECK_FALSE(events[3].contains("exit_code"));
  CHECK(events[4]["exit_code"] == 3);
  CHECK(events[5]["event"] == "unknown");
  CHECK(events[5]["line"] == "with\nnewline");
  CHECK(events[6]["event"] == "reopened");
  remove_temp(path);
}

TEST_CASE("open failures are reported", "[audit]") {
  std::string error;
  CHECK_FALSE(AuditLog::open("/nonexistent-dir/x/audit.jsonl", &error));
  CHECK(error.find("cannot open audit log") != std::string::npos);
  CHECK_FALSE(AuditLog::open("/tmp", &error));
  CHECK_FALSE(AuditLog::open("", &error));
}

TEST_CASE("two processes appending never interleave lines", "[audit]") {
  const std::string path = temp_path("concurrent.jsonl");
  constexpr int kLines = 1000;
  // Long enough that a torn write would show, beyond PIPE_BUF for some lines.
  const std::string padding(300, 'x');
  const std::string long_padding(6000, 'y');
  std::vector<pid_t> children;
  for (int child = 0; child < 2; ++child) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      auto log = AuditLog::open(path);
      if (!log) ::_exit(2);
      for (int i = 0; i < kLines; ++i) {
        const std::string& pad = i % 50 == 0 ? long_padding : padding;
        if (!log->write(
                nlohmann::json{{"event", "test"}, {"child", child}, {"i", i}, {"pad", pad}}))
          ::_exit(3);
      }
      ::_exit(0);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  const auto lines = read_lines(path);
  REQUIRE(lines.size() == 2 * kLines);
  std::map<int, int> next;  // per child, lines arrive in order
  for (const auto& l : lines) {
    REQUIRE(nlohmann::json::accept(l));
    const auto e = nlohmann::json::parse(l);
    const int child = e["child"];
    CHECK(e["i"] == next[child]);
    next[child] = e["i"].get<int>() + 1;
  }
  CHECK(next[0] == kLines);
  CHECK(next[1] == kLines);
  remove_temp(path);
}

}  // namespace fence::supervisor

namespace fence::supervisor {
namespace {

TEST_CASE("a refusal's reason is a value to the -m line and the record", "[audit_log]") {
  NetworkEvent e;
  e.kind = ConnectionKind::HttpConnect;
  e.host = "db.example";
  e.port = 443;
  e.rule = "*";
  e.reason = "blocked by network policy: db.example resolves to a private address";
  // The worker answered 502 for an address refused by its class, 403 for a rule.
  e.deny_reason = ipc::DenyReason::NonPublicAddress;
  CHECK(describe_network_event(e).find("CONNECT 502 db.example:443") != std::string::npos);
  CHECK(network_record(e)["deny_reason"] == "non-public-address");
  e.deny_reason = ipc::DenyReason::Policy;
  CHECK(describe_network_event(e).find("CONNECT 403 db.example:443") != std::string::npos);
  CHECK(network_record(e)["deny_reason"] == "policy");
  // Whatever the text says.
  e.reason = "resolution failed: db.example: no addresses";
  e.deny_reason = ipc::DenyReason::ResolveFailed;
  CHECK(describe_network_event(e).find("CONNECT 502 ") != std::string::npos);
  CHECK(network_record(e)["deny_reason"] == "resolve-failed");
  e.allowed = true;
  e.closed = true;
  CHECK_FALSE(network_record(e).contains("deny_reason"));
  for (auto r :
       {ipc::DenyReason::Policy, ipc::DenyReason::ResolveFailed, ipc::DenyReason::NonPublicAddress,
        ipc::DenyReason::ConnectFailed, ipc::DenyReason::Timeout, ipc::DenyReason::Overloaded})
    CHECK(deny_reason_name(r) != "unknown");
}

}  // namespace
}  // namespace fence::supervisor
