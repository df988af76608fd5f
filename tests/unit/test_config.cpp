// Config parsing: every accepted field, and every rejection with its exact key path and line:col.
#include <catch2/catch.hpp>

#include <string>
#include <string_view>

#include "supervisor/config/config.hpp"
#include "supervisor/config/default_config.hpp"

using fence::supervisor::Config;
using fence::supervisor::ConfigError;
using fence::supervisor::parse_config;

namespace {

// The ConfigError message for `text`, or a test failure if it parses.
std::string error_for(std::string_view text) {
  try {
    parse_config(text, "t.json");
  } catch (const ConfigError& e) {
    return e.what();
  }
  FAIL("expected a ConfigError for: " << text);
  return {};
}

}  // namespace

TEST_CASE("config: every documented field is accepted", "[config]") {
  const Config c = parse_config(R"json({
  // line comment
  "network": {
    "allowedDomains": ["GitHub.com", "*.npmjs.org", "registry.yarnpkg.com."],
    "deniedDomains": ["evil.com"],
    "allowUnixSockets": ["/var/run/docker.sock"],
    "allowAllUnixSockets": true,
    "allowLocalBinding": true,
    "allowLocalOutbound": false,
    "httpProxyPort": 3128,
    "socksProxyPort": 65535
  },
  /* block
     comment */
  "filesystem": {
    "denyRead": ["~/.ssh"], "allowRead": ["/data"], "allowExecute": ["/opt/tool/bin"],
    "allowWrite": [".", "/tmp"], "denyWrite": [".env", "**/*.key"], "allowGitConfig": true
  },
  "allowPty": true,
  "command": {"deny": ["git push"], "allow": ["git push origin"], "useDefaults": false}
})json",
                                "t.json");
  CHECK(c.network.allowed_domains ==
        std::vector<std::string>{"github.com", "*.npmjs.org", "registry.yarnpkg.com"});
  CHECK(c.network.denied_domains == std::vector<std::string>{"evil.com"});
  CHECK(c.network.allow_unix_sockets == std::vector<std::string>{"/var/run/docker.sock"});
  CHECK(c.network.allow_all_unix_sockets);
  CHECK(c.network.allow_local_binding);
  CHECK(c.network.allow_local_outbound == false);
  CHECK_FALSE(c.network.effective_allow_local_outbound());
  CHECK(c.network.http_proxy_port == 3128);
  CHECK(c.network.socks_proxy_port == 65535);
  CHECK(c.filesystem.deny_read == std::vector<std::string>{"~/.ssh"});
  CHECK(c.filesystem.allow_read == std::vector<std::string>{"/data"});
  CHECK(c.filesystem.allow_execute == std::vector<std::string>{"/opt/tool/bin"});
  CHECK(c.filesystem.allow_write == std::vector<std::string>{".", "/tmp"});
  CHECK(c.filesystem.deny_write == std::vector<std::string>{".env", "**/*.key"});
  CHECK(c.filesystem.allow_git_config);
  CHECK(c.allow_pty);
  CHECK(c.command.deny == std::vector<std::string>{"git push"});
  CHECK(c.command.allow == std::vector<std::string>{"git push origin"});
  CHECK_FALSE(c.command.use_defaults);
  CHECK_FALSE(c.source_path.has_value());
}

TEST_CASE("config: defaults of an empty object", "[config]") {
  const Config c = parse_config("{}", "t.json");
  CHECK(c.network.allowed_domains.empty());
  CHECK_FALSE(c.network.allow_local_binding);
  CHECK_FALSE(c.network.allow_local_outbound.has_value());
  CHECK_FALSE(c.network.effective_allow_local_outbound());
  CHECK_FALSE(c.network.http_proxy_port.has_value());
  CHECK_FALSE(c.network.socks_proxy_port.has_value());
  CHECK_FALSE(c.filesystem.allow_git_config);
  CHECK_FALSE(c.allow_pty);
  CHECK(c.command.use_defaults);
  CHECK(c.command.deny.empty());
}

TEST_CASE("config: allowLocalOutbound defaults to allowLocalBinding", "[config]") {
  CHECK(parse_config(R"({"network": {"allowLocalBinding": true}})", "t")
            .network.effective_allow_local_outbound());
  CHECK_FALSE(parse_config(R"({"network": {"allowLocalBinding": true,
                                            "allowLocalOutbound": false}})",
                           "t")
                  .network.effective_allow_local_outbound());
  CHECK(parse_config(R"({"network": {"allowLocalOutbound": true}})", "t")
            .network.effective_allow_local_outbound());
}

TEST_CASE("config: the embedded default parses and denies everything", "[config]") {
  const Config c = parse_config(fence::supervisor::kDefaultConfigJson, "<default>");
  CHECK(c.network.allowed_domains.empty());
  CHECK(c.filesystem.allow_write.empty());
  CHECK_FALSE(c.network.allow_local_binding);
  CHECK_FALSE(c.network.effective_allow_local_outbound());
  CHECK_FALSE(c.network.allow_all_unix_sockets);
}

TEST_CASE("config: unknown keys are rejected at every level", "[config]") {
  CHECK(error_for(R"({"network": {}, "bogus": 1})") == "t.json:1:17: bogus: unknown key");
  CHECK(error_for(R"({"network": {"allowedDomain": []}})") ==
        "t.json:1:14: network.allowedDomain: unknown key (did you mean \"allowedDomains\"?)");
  CHECK(error_for(R"({"filesystem": {"allowwrite": []}})") ==
        "t.json:1:17: filesystem.allowwrite: unknown key (did you mean \"allowWrite\"?)");
  CHECK(error_for(R"({"command": {"useDefault": true}})") ==
        "t.json:1:14: command.useDefault: unknown key (did you mean \"useDefaults\"?)");
  CHECK(error_for("{\"\\u0001x\": 1}") == "t.json:1:2: \\x01x: unknown key");
}

TEST_CASE("config: duplicate keys are rejected, top level and nested", "[config]") {
  CHECK(error_for("{\n  \"allowPty\": true,\n  \"allowPty\": false\n}") ==
        "t.json:3:3: allowPty: duplicate key (first defined at 2:3)");
  CHECK(error_for(R"({"filesystem": {"allowWrite": ["."], "allowWrite": []}})") ==
        "t.json:1:38: filesystem.allowWrite: duplicate key (first defined at 1:17)");
  CHECK(error_for(R"({"network": {}, "network": {}})") ==
        "t.json:1:17: network: duplicate key (first defined at 1:2)");
}

TEST_CASE("config: wrong types name the key and position", "[config]") {
  CHECK(error_for(R"({"network": {"allowedDomains": "github.com"}})") ==
        "t.json:1:32: network.allowedDomains: expected an array of strings, found string");
  CHECK(
      error_for("{\n  \"network\": {\n    \"allowedDomains\": [\"a.com\", \"b.com\", 3]\n  }\n}") ==
      "t.json:3:42: network.allowedDomains[2]: expected a string, found number");
  CHECK(error_for(R"({"allowPty": "yes"})") ==
        "t.json:1:14: allowPty: expected true or false, found string");
  CHECK(error_for(R"({"allowPty": null})") ==
        "t.json:1:14: allowPty: expected true or false, found null");
  CHECK(error_for(R"({"filesystem": []})") ==
        "t.json:1:16: filesystem: expected an object, found array");
  CHECK(error_for(R"({"network": {"allowAllUnixSockets": 1}})") ==
        "t.json:1:37: network.allowAllUnixSockets: expected true or false, found number");
  CHECK(error_for(R"({"command": {"deny": [["x"]]}})") ==
        "t.json:1:23: command.deny[0]: expected a string, found array");
}

TEST_CASE("config: ports must be integers in 1..65535", "[config]") {
  CHECK(error_for(R"({"network": {"httpProxyPort": -1}})") ==
        "t.json:1:31: network.httpProxyPort: port must be between 1 and 65535, found -1");
  CHECK(error_for(R"({"network": {"httpProxyPort": 0}})") ==
        "t.json:1:31: network.httpProxyPort: port must be between 1 and 65535, found 0");
  CHECK(error_for(R"({"network": {"httpProxyPort": 65536}})") ==
        "t.json:1:31: network.httpProxyPort: port must be between 1 and 65535, found 65536");
  CHECK(error_for(R"({"network": {"socksProxyPort": 99999999999999999999}})") ==
        "t.json:1:32: network.socksProxyPort: port must be an integer, found "
        "99999999999999999999");
  CHECK(error_for(R"({"network": {"socksProxyPort": 80.5}})") ==
        "t.json:1:32: network.socksProxyPort: port must be an integer, found 80.5");
  CHECK(error_for(R"({"network": {"socksProxyPort": "80"}})") ==
        "t.json:1:32: network.socksProxyPort: expected a port number (1..65535), found string");
  CHECK(parse_config(R"({"network": {"httpProxyPort": 1}})", "t").network.http_proxy_port == 1);
}

TEST_CASE("config: empty strings, NUL bytes and bad paths are rejected", "[config]") {
  CHECK(error_for(R"({"filesystem": {"allowWrite": [""]}})") ==
        "t.json:1:32: filesystem.allowWrite[0]: must not be empty");
  CHECK(error_for(R"({"filesystem": {"denyRead": ["/a\u0000b"]}})") ==
        "t.json:1:30: filesystem.denyRead[0]: string contains a NUL byte");
  CHECK(error_for(R"({"filesystem": {"allowWrite": ["~bob/x"]}})") ==
        "t.json:1:32: filesystem.allowWrite[0]: \"~user\" paths are not supported; use "
        "\"~/...\" or an absolute path: \"~bob/x\"");
  CHECK(error_for(R"({"filesystem": {"denyWrite": ["src/*/../x"]}})") ==
        "t.json:1:31: filesystem.denyWrite[0]: \"..\" after a glob component is not supported: "
        "\"src/*/../x\"");
  CHECK(error_for(R"({"network": {"allowedDomains": [""]}})") ==
        "t.json:1:33: network.allowedDomains[0]: must not be empty");
  CHECK(error_for(R"({"command": {"deny": ["  "]}})") ==
        "t.json:1:23: command.deny[0]: must not be blank");
  CHECK(error_for(R"({"network": {"allowUnixSockets": [""]}})") ==
        "t.json:1:35: network.allowUnixSockets[0]: must not be empty");
}

TEST_CASE("config: malformed domain patterns are rejected with the key path", "[config]") {
  CHECK(error_for(R"({"network": {"allowedDomains": ["*.com"]}})") ==
        "t.json:1:33: network.allowedDomains[0]: invalid domain pattern \"*.com\": wildcard is "
        "too broad; use \"*.\" followed by at least two labels");
  CHECK(error_for(R"({"network": {"deniedDomains": ["ok.com", "http://x.com"]}})") ==
        "t.json:1:42: network.deniedDomains[1]: invalid domain pattern \"http://x.com\": remove "
        "the URL scheme");
  for (const char* bad : {"foo.*.com", "a b.com", "-a.com", "a..com", ".a.com"}) {
    const std::string text = std::string(R"({"network": {"allowedDomains": [")") + bad + "\"]}}";
    const std::string message = error_for(text);
    CHECK_THAT(message, Catch::StartsWith("t.json:1:33: network.allowedDomains[0]: invalid "
                                          "domain pattern"));
  }
  // Entries that look like the network rule extensions are checked by their own parser, and
  // still name the key.
  for (const char* bad : {"x.com/path", "x.com:0", "x.com:65536", "10.0.0.1/8", "127.1", "*:0"}) {
    const std::string text = std::string(R"({"network": {"allowedDomains": [")") + bad + "\"]}}";
    CHECK_THAT(error_for(text), Catch::StartsWith("t.json:1:33: network.allowedDomains[0]: "));
  }
}

TEST_CASE("config: network rule extensions are accepted", "[config]") {
  const Config c = parse_config(
      R"({"network": {"allowedDomains": ["*", "x.com:443", "*.x.com:8080", "1.2.3.4",
          "[::1]", "198.51.100.0/24", "2001:db8::/32"], "deniedDomains": ["203.0.113.7"]}})",
      "t.json");
  CHECK(c.network.allowed_domains.size() == 7);
  CHECK(c.network.denied_domains == std::vector<std::string>{"203.0.113.7"});
}

TEST_CASE("config: top level must be an object", "[config]") {
  CHECK(error_for("[1]") ==
        "t.json:1:1: top level: the configuration must be a JSON object, found array");
  CHECK(error_for("  \"x\"") ==
        "t.json:1:3: top level: the configuration must be a JSON object, found string");
}

TEST_CASE("config: syntax errors are reported with line:col", "[config]") {
  CHECK_THAT(error_for("{} x"), Catch::StartsWith("t.json:1:4: top level: syntax error"));
  CHECK_THAT(error_for("{}\n{}"), Catch::StartsWith("t.json:2:1: top level: syntax error"));
  CHECK_THAT(error_for(""), Catch::StartsWith("t.json:1:1: top level: syntax error"));
  // JSONC: a trailing comma after a value is fine; a comma with no value before it is not.
  CHECK(parse_config(R"({"network": {"allowedDomains": ["a.com",],},})", "t.json")
            .network.allowed_domains == std::vector<std::string>{"a.com"});
  CHECK(parse_config("{\"allowPty\": true, // c\n /* d */ }", "t.json").allow_pty);
  CHECK(parse_config(R"({"command": {"deny": ["a,]"],}})", "t.json").command.deny ==
        std::vector<std::string>{"a,]"});
  CHECK_THAT(error_for(R"({"network": {"allowedDomains": [,]}})"),
             Catch::StartsWith("t.json:1:33: network.allowedDomains[0]: syntax error"));
  CHECK_THAT(error_for(R"({"network": {"allowedDomains": ["a.com",,]}})"),
             Catch::StartsWith("t.json:1:41: network.allowedDomains[1]: syntax error"));
  CHECK_THAT(error_for(R"({,})"), Catch::StartsWith("t.json:1:2: top level: syntax error"));
  CHECK_THAT(error_for(R"({"allowPty":,})"),
             Catch::StartsWith("t.json:1:13: allowPty: syntax error"));
  CHECK_THAT(error_for("{\n  \"allowPty\": tru\n}"),
             Catch::StartsWith("t.json:2:15: allowPty: syntax error"));
  CHECK_THAT(error_for(std::string("{\"allowPty\"\0: true}", 18)),
             Catch::StartsWith("t.json:1:12: allowPty: syntax error"));
  CHECK_THAT(error_for("{\"allowPty\": true} /* unterminated"), Catch::StartsWith("t.json:1:"));
  // nlohmann stops at a NUL byte as if the input ended there: what follows must not vanish.
  const std::string smuggled("{}\0{\"network\": {\"allowedDomains\": [\"*\"]}}", 41);
  CHECK(error_for(smuggled) ==
        "t.json:1:3: top level: NUL byte after the top-level value (nothing may follow it)");
  CHECK_THAT(error_for(std::string("{\"allowPty\": true}\n\0", 20)),
             Catch::StartsWith("t.json:2:1: top level: NUL byte"));
  CHECK_THAT(error_for("{\"x\xff\": 1}"), Catch::Contains("syntax error"));
}

TEST_CASE("config: comments and positions after comments", "[config]") {
  CHECK(error_for("// header\n/* a { \"b\": [ */ {\n  // \"allowPty\": 1\n  \"allowPty\": 1 }") ==
        "t.json:4:15: allowPty: expected true or false, found number");
  CHECK(error_for("\xEF\xBB\xBF{\"allowPty\": 2}") ==
        "t.json:1:14: allowPty: expected true or false, found number");
  // Columns count UTF-8 characters, not bytes.
  CHECK(error_for("{\"command\": {\"deny\": [\"\xC3\xA9\xC3\xA9\", 1]}}") ==
        "t.json:1:29: command.deny[1]: expected a string, found number");
}

TEST_CASE("config: nesting depth is bounded", "[config]") {
  const std::string deep = "{\"network\": " + std::string(100, '[') + std::string(100, ']') + "}";
  CHECK_THAT(error_for(deep), Catch::Contains("nesting deeper than"));
}
