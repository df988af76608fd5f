// validate() for every message: each rule in protocol.hpp's comments, at and past its edges.
#include <catch2/catch.hpp>

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
  CHECK_FALSE(validate(SetupFailed{"mount", 0, ""}));
  CHECK_FALSE(validate(SetupFailed{"mount", kMaxErrno, "/x"}));
  CHECK(validate(SetupFailed{"mount", -1, ""}));
  CHECK(validate(SetupFailed{"mount", kMaxErrno + 1, ""}));
  CHECK(validate(SetupFailed{"", 1, ""}));
  CHECK(validate(SetupFailed{std::string(kMaxTextLen + 1, 's'), 1, ""}));
  CHECK(validate(SetupFailed{"mount", 1, std::string(kMaxDetailLen + 1, 'd')}));
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

TEST_CASE("message names and traits", "[ipc][validate]") {
  STATIC_REQUIRE(MessageTraits<LaunchSpec>::type == MessageType::LaunchSpec);
  STATIC_REQUIRE(MessageTraits<CommandExited>::type == MessageType::CommandExited);
  CHECK(message_name(MessageType::SandboxReady) == "SandboxReady");
  CHECK(message_name(static_cast<MessageType>(99)) == "unknown");
}

}  // namespace fence::ipc
