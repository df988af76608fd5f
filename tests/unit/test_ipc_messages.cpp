// validate() for every message: each rule in protocol.hpp's comments, at and past its edges.
#include <catch2/catch.hpp>

#include "ipc/frame.hpp"
#include "ipc/messages.hpp"

namespace fence::ipc {
namespace {

LaunchSpec good_spec() {
  LaunchSpec m;
  m.argv = {"make", "-j4"};
  m.env = {"PATH=/usr/bin", "LANG=C.UTF-8"};
  m.cwd = "/home/u/p";
  m.readable = {"/usr"};
  m.writable = {"/home/u/p"};
  return m;
}

}  // namespace

TEST_CASE("normalized absolute paths", "[ipc][validate]") {
  using namespace std::string_literals;
  for (const char* p : {"/", "/a", "/a/b", "/a/.b", "/a/..b", "/a/b.."}) {
    INFO(p);
    CHECK(is_normalized_absolute_path(p));
  }
  for (std::string p : {""s, "a"s, "a/b"s, "//"s, "/a/"s, "/a//b"s, "/."s, "/a/./b"s, "/.."s,
                        "/a/../b"s, "/a/.."s, "/a\0b"s}) {
    INFO(p);
    CHECK_FALSE(is_normalized_absolute_path(p));
  }
  CHECK(is_normalized_absolute_path("/" + std::string(kMaxPathLen - 1, 'a')));
  CHECK_FALSE(is_normalized_absolute_path("/" + std::string(kMaxPathLen, 'a')));
}

TEST_CASE("env keys", "[ipc][validate]") {
  for (const char* k : {"A", "_", "a_1", "PATH", "_9"}) CHECK(is_valid_env_key(k));
  for (const char* k : {"", "1A", "A-B", "A B", "A.B", "É"}) CHECK_FALSE(is_valid_env_key(k));
}

TEST_CASE("Hello validation", "[ipc][validate]") {
  CHECK_FALSE(validate(Hello{kProtocolVersion, Role::Launcher}));
  CHECK(validate(Hello{kProtocolVersion + 1, Role::Launcher}));
  CHECK(validate(Hello{0, Role::Supervisor}));
  CHECK(validate(Hello{kProtocolVersion, static_cast<Role>(7)}));
}

TEST_CASE("LaunchSpec validation", "[ipc][validate]") {
  using namespace std::string_literals;
  CHECK_FALSE(validate(good_spec()));
  auto rejects = [](auto&& mutate) {
    LaunchSpec m = good_spec();
    mutate(m);
    return validate(m).has_value();
  };
  CHECK(rejects([](LaunchSpec& m) { m.argv.clear(); }));
  CHECK(rejects([](LaunchSpec& m) { m.argv[0].clear(); }));
  CHECK(rejects([](LaunchSpec& m) { m.argv[1] = "a\0b"s; }));
  CHECK(rejects([](LaunchSpec& m) { m.argv.assign(kMaxArgCount + 1, "x"); }));
  CHECK(rejects([](LaunchSpec& m) { m.argv[1] = std::string(kMaxArgLen + 1, 'x'); }));
  CHECK(rejects([](LaunchSpec& m) { m.env.push_back("NOEQUALS"); }));
  CHECK(rejects([](LaunchSpec& m) { m.env.push_back("=value"); }));
  CHECK(rejects([](LaunchSpec& m) { m.env.push_back("1X=value"); }));
  CHECK(rejects([](LaunchSpec& m) { m.env.push_back("A-B=value"); }));
  CHECK(rejects([](LaunchSpec& m) { m.env.push_back("PATH=/evil"); }));  // duplicate key
  CHECK(rejects([](LaunchSpec& m) { m.env.push_back("X=a\0b"s); }));
  CHECK(rejects([](LaunchSpec& m) { m.cwd = "relative"; }));
  CHECK(rejects([](LaunchSpec& m) { m.cwd = ""; }));
  CHECK(rejects([](LaunchSpec& m) { m.cwd = "/home/u/../../etc"; }));
  CHECK(rejects([](LaunchSpec& m) { m.readable.push_back("/a/../b"); }));
  CHECK(rejects([](LaunchSpec& m) { m.executable.push_back("bin"); }));
  CHECK(rejects([](LaunchSpec& m) { m.writable.push_back("/tmp/"); }));
  CHECK(rejects([](LaunchSpec& m) { m.read_only.push_back("/x\0/y"s); }));
  CHECK(rejects([](LaunchSpec& m) { m.hidden.push_back("/.."); }));
  CHECK(rejects([](LaunchSpec& m) { m.hidden.assign(kMaxPathCount + 1, "/h"); }));
  // Protected name patterns: relative, no empty, "." or ".." component, not starting with "**".
  for (const char* bad : {"**/hooks", "/abs", "trail/", "a//b", "a/../b", "./x", "..", ""}) {
    CHECK(rejects([&](LaunchSpec& m) { m.protected_names.push_back(bad); }));
    CHECK(rejects([&](LaunchSpec& m) { m.protected_files.push_back(bad); }));
    CHECK(rejects([&](LaunchSpec& m) { m.creatable_protected.push_back(bad); }));
  }
  CHECK_FALSE(rejects([](LaunchSpec& m) { m.protected_names.push_back(".git/modules/**/hooks"); }));
  CHECK_FALSE(rejects([](LaunchSpec& m) { m.env.push_back("EMPTY="); }));
  CHECK_FALSE(rejects([](LaunchSpec& m) { m.env.push_back("X=a=b"); }));
  CHECK_FALSE(rejects([](LaunchSpec& m) { m.argv.push_back(""); }));
}

TEST_CASE("SandboxReady validation", "[ipc][validate]") {
  CHECK_FALSE(validate(SandboxReady{1, 0, false, {}}));
  CHECK_FALSE(validate(SandboxReady{kMaxPid, kMaxLandlockAbi, true, {"step"}}));
  CHECK(validate(SandboxReady{0, 1, false, {}}));  // kill(0) would hit our process group
  CHECK(validate(SandboxReady{kMaxPid + 1, 1, false, {}}));
  CHECK(validate(SandboxReady{0xffffffffu, 1, false, {}}));  // -1 as pid_t
  CHECK(validate(SandboxReady{1, kMaxLandlockAbi + 1, false, {}}));
  CHECK(validate(SandboxReady{1, 1, false, std::vector<std::string>(kMaxPlanLines + 1, "x")}));
  CHECK(validate(SandboxReady{1, 1, false, {std::string(kMaxTextLen + 1, 'x')}}));
}

TEST_CASE("SetupFailed validation", "[ipc][validate]") {
  CHECK_FALSE(validate(SetupFailed{SetupStage::Filesystem, "mount", 0, ""}));
  CHECK_FALSE(validate(SetupFailed{SetupStage::Filesystem, "mount", kMaxErrno, "/x"}));
  CHECK(validate(SetupFailed{SetupStage::Filesystem, "mount", -1, ""}));
  CHECK(validate(SetupFailed{SetupStage::Filesystem, "mount", kMaxErrno + 1, ""}));
  CHECK(validate(SetupFailed{SetupStage::Filesystem, "", 1, ""}));
  CHECK(validate(SetupFailed{SetupStage::Filesystem, std::string(kMaxTextLen + 1, 's'), 1, ""}));
  CHECK(validate(
      SetupFailed{SetupStage::Filesystem, "mount", 1, std::string(kMaxDetailLen + 1, 'd')}));
}

TEST_CASE("ExecFailed validation", "[ipc][validate]") {
  CHECK_FALSE(validate(ExecFailed{1}));
  CHECK_FALSE(validate(ExecFailed{kMaxErrno}));
  CHECK(validate(ExecFailed{0}));
  CHECK(validate(ExecFailed{-2}));
  CHECK(validate(ExecFailed{kMaxErrno + 1}));
}

TEST_CASE("CommandExited validation", "[ipc][validate]") {
  CHECK_FALSE(validate(CommandExited{false, 0}));
  CHECK_FALSE(validate(CommandExited{false, 255}));
  CHECK_FALSE(validate(CommandExited{true, 1}));
  CHECK_FALSE(validate(CommandExited{true, 64}));
  CHECK(validate(CommandExited{false, -1}));
  CHECK(validate(CommandExited{false, 256}));
  CHECK(validate(CommandExited{true, 0}));
  CHECK(validate(CommandExited{true, 65}));
}

TEST_CASE("ListenersReady validation", "[ipc][validate]") {
  CHECK_FALSE(validate(ListenersReady{3128, 1080}));
  CHECK_FALSE(validate(ListenersReady{1, 65535}));
  CHECK(validate(ListenersReady{0, 1080}));
  CHECK(validate(ListenersReady{3128, 0}));
  CHECK(validate(ListenersReady{0, 0}));
  CHECK(validate(ListenersReady{3128, 3128}));  // one socket cannot be both proxies
}

TEST_CASE("ProxyStart validation", "[ipc][validate]") {
  CHECK_FALSE(validate(ProxyStart{}));  // the defaults are valid
  CHECK_FALSE(validate(ProxyStart{1, 512, 1, 1, false}));
  CHECK_FALSE(validate(ProxyStart{65536, 1024 * 1024, 0xffffffffu, 0xffffffffu, true}));
  CHECK(validate(ProxyStart{0, 16384, 10000, 300000, false}));
  CHECK(validate(ProxyStart{65537, 16384, 10000, 300000, false}));
  CHECK(validate(ProxyStart{512, 511, 10000, 300000, false}));
  CHECK(validate(ProxyStart{512, 1024 * 1024 + 1, 10000, 300000, false}));
  CHECK(validate(ProxyStart{512, 16384, 0, 300000, false}));
  CHECK(validate(ProxyStart{512, 16384, 10000, 0, false}));
}

TEST_CASE("ConnectRequest hosts", "[ipc][validate]") {
  using namespace std::string_literals;
  auto request = [](std::string host, std::uint16_t port = 443) {
    return ConnectRequest{1, std::move(host), port, ProxyProtocol::HttpConnect};
  };
  const std::string label63(63, 'a');
  // 63+1+63+1+63+1+61 = 253 bytes
  const std::string name253 = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
  REQUIRE(name253.size() == kMaxHostLen);

  SECTION("DNS names") {
    for (const std::string& h : {"example.com"s, "EXAMPLE.com"s, "a"s, "localhost"s,
                                 "registry.npmjs.org"s, "example.com."s, "xn--bcher-kva.example"s,
                                 "a-b.c-d.e"s, "1.example"s, "123"s, label63 + ".com", name253}) {
      INFO(h);
      CHECK(is_valid_target_host(h));
      CHECK_FALSE(validate(request(h)));
    }
  }
  SECTION("IPv4 literals") {
    for (const char* h : {"127.0.0.1", "0.0.0.0", "255.255.255.255", "198.51.100.10"}) {
      INFO(h);
      CHECK_FALSE(validate(request(h)));
    }
  }
  SECTION("IPv6 literals, without brackets or zone") {
    for (const char* h : {"::1", "::", "2001:db8::1", "fe80::1", "::ffff:127.0.0.1",
                          "2001:DB8:0:0:0:0:0:1", "64:ff9b::c000:0201"}) {
      INFO(h);
      CHECK_FALSE(validate(request(h)));
    }
    for (const char* h : {"[::1]", "[2001:db8::1]", "fe80::1%eth0", "fe80::1%1", "1::2::3",
                          ":::", "2001:db8::g", "::ffff:127.0.0.1.5", "12345::"}) {
      INFO(h);
      CHECK(validate(request(h)));
    }
  }
  SECTION("bad characters") {
    for (const std::string& h :
         {""s, "."s, ".."s, ".example.com"s, "example..com"s, "-example.com"s, "example-.com"s,
          "exa mple.com"s, "example.com/"s, "user@example.com"s, "example.com:443"s,
          "http://example.com"s, "exa\0mple.com"s, "example.com\0"s, "*.example.com"s,
          "example.com\r\n"s, "ex%41mple.com"s, "\xc3\xa9xample.com"s, "example.com.."s}) {
      INFO(h);
      CHECK_FALSE(is_valid_target_host(h));
      CHECK(validate(request(h)));
    }
  }
  SECTION("too long") {
    CHECK(validate(request(std::string(64, 'a') + ".com")));  // label over 63
    CHECK(validate(request(name253 + "c")));                  // 254 bytes
    CHECK(validate(request("a." + name253)));
    CHECK(validate(request(std::string(kMaxHostLen + 1, '1'))));
  }
  SECTION("port") {
    CHECK(validate(request("example.com", 0)));
    CHECK_FALSE(validate(request("example.com", 1)));
    CHECK_FALSE(validate(request("example.com", 65535)));
  }
}

TEST_CASE("ConnectRequest claimed host: transparent requests only, a valid name",
          "[ipc][validate]") {
  ConnectRequest r{1, "198.18.0.7", 443, ProxyProtocol::Transparent, "allowed.example"};
  CHECK_FALSE(validate(r));
  r.claimed_host = "";
  CHECK_FALSE(validate(r));  // no claim: the supervisor refuses it, the message is fine
  r.claimed_host = "bad name";
  CHECK(validate(r));
  r.claimed_host = std::string(300, 'a');
  CHECK(validate(r));
  r.claimed_host = "allowed.example";
  r.protocol = ProxyProtocol::HttpConnect;
  CHECK(validate(r));  // a proxy request names its target itself
}

TEST_CASE("ConnectRequest and ConnectDenied enums are checked while decoding", "[ipc][validate]") {
  SECTION("protocol") {
    auto payload = encode_payload(ConnectRequest{9, "example.com", 80, ProxyProtocol::HttpForward});
    // The protocol is the last byte of the payload; 1..5 are the worker's protocols, Transparent
    // (5) the last of them.
    for (int bad : {0, 6, 0xff}) {
      payload.back() = static_cast<std::byte>(bad);
      CHECK_THROWS_AS(decode_payload<ConnectRequest>(payload), DecodeError);
    }
    for (int good : {1, 2, 3, 4, 5}) {
      payload.back() = static_cast<std::byte>(good);
      CHECK(static_cast<int>(decode_payload<ConnectRequest>(payload).protocol) == good);
    }
  }
  SECTION("deny reason") {
    auto payload = encode_payload(ConnectDenied{9, DenyReason::Timeout, "took too long"});
    // The reason follows the 8-byte id.
    for (int bad : {0, 7, 0xff}) {
      payload[8] = static_cast<std::byte>(bad);
      CHECK_THROWS_AS(decode_payload<ConnectDenied>(payload), DecodeError);
    }
    payload[8] = static_cast<std::byte>(DenyReason::Overloaded);
    CHECK(decode_payload<ConnectDenied>(payload).reason == DenyReason::Overloaded);
  }
  SECTION("setup stage") {
    auto payload = encode_payload(SetupFailed{SetupStage::Network, "net: loopback up", 1, ""});
    // The stage is the first byte.
    for (int bad : {0, 10, 0xff}) {
      payload[0] = static_cast<std::byte>(bad);
      CHECK_THROWS_AS(decode_payload<SetupFailed>(payload), DecodeError);
    }
    payload[0] = static_cast<std::byte>(SetupStage::Command);
    CHECK(decode_payload<SetupFailed>(payload).stage == SetupStage::Command);
  }
}

TEST_CASE("ConnectAllowed, ConnectDenied, TunnelClosed validation", "[ipc][validate]") {
  using namespace std::string_literals;
  CHECK_FALSE(validate(ConnectAllowed{0}));
  CHECK_FALSE(validate(ConnectAllowed{~std::uint64_t{0}}));
  CHECK_FALSE(validate(ConnectDenied{1, DenyReason::Policy, ""}));
  CHECK_FALSE(validate(ConnectDenied{1, DenyReason::Policy, std::string(kMaxReasonLen, 'x')}));
  CHECK(validate(ConnectDenied{1, DenyReason::Policy, std::string(kMaxReasonLen + 1, 'x')}));
  CHECK(validate(ConnectDenied{1, DenyReason::Policy, "a\0b"s}));
  CHECK_FALSE(validate(TunnelClosed{1, 0, 0, 0}));
  CHECK_FALSE(validate(TunnelClosed{1, ~std::uint64_t{0}, ~std::uint64_t{0}, 0xffffffffu}));
  // Over the wire bound the encoder refuses outright.
  CHECK_THROWS_AS(
      encode_payload(ConnectDenied{1, DenyReason::Policy, std::string(kMaxReasonLen + 1, 'x')}),
      EncodeError);
  CHECK_THROWS_AS(encode_payload(ConnectRequest{1, std::string(kMaxHostLen + 1, 'a'), 1,
                                                ProxyProtocol::Socks5}),
                  EncodeError);
}

TEST_CASE("message names and traits", "[ipc][validate]") {
  STATIC_REQUIRE(ConnectRequest::kType == MessageType::ConnectRequest);
  STATIC_REQUIRE(TunnelClosed::kType == MessageType::TunnelClosed);
  CHECK(message_name(MessageType::ListenersReady) == "ListenersReady");
  CHECK(message_name(MessageType::ProxyStart) == "ProxyStart");
  CHECK(message_name(MessageType::ConnectRequest) == "ConnectRequest");
  CHECK(message_name(MessageType::ConnectAllowed) == "ConnectAllowed");
  CHECK(message_name(MessageType::ConnectDenied) == "ConnectDenied");
  CHECK(message_name(MessageType::TunnelClosed) == "TunnelClosed");
  STATIC_REQUIRE(LaunchSpec::kType == MessageType::LaunchSpec);
  STATIC_REQUIRE(CommandExited::kType == MessageType::CommandExited);
  CHECK(message_name(MessageType::SandboxReady) == "SandboxReady");
  CHECK(message_name(static_cast<MessageType>(99)) == "unknown");
}

}  // namespace fence::ipc
