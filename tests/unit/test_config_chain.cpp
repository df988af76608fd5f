// Where a policy comes from: the user config's locations, `extends` (templates, files, @base),
// the merge rules, cycles and depth, the built-in templates, and `config show`'s JSON.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "supervisor/cli.hpp"
#include "supervisor/config/config.hpp"
#include "supervisor/config/templates.hpp"
#include "temp_tree.hpp"

using fence::supervisor::builtin_templates;
using fence::supervisor::canonical_config_json;
using fence::supervisor::Config;
using fence::supervisor::config_json;
using fence::supervisor::ConfigError;
using fence::supervisor::ConfigRequest;
using fence::supervisor::find_template;
using fence::supervisor::load_config;
using fence::supervisor::merge_configs;
using fence::supervisor::parse_config;
using fence::testing::TempTree;
using fence::testing::write_file;

namespace {

struct Home {
  TempTree tree{"chain"};
  std::string home = tree.path() + "/home";
  Home() { write_file(home + "/.keep", ""); }
  ConfigRequest request() const {
    ConfigRequest r;
    r.home = home;
    return r;
  }
  ConfigRequest with_file(const std::string& path) const {
    ConfigRequest r = request();
    r.settings = path;
    return r;
  }
};

std::string load_error(const ConfigRequest& request) {
  try {
    load_config(request);
  } catch (const ConfigError& e) {
    return e.what();
  }
  FAIL("expected a ConfigError");
  return "";
}

using Strings = std::vector<std::string>;

}  // namespace

TEST_CASE("chain: every built-in template loads, and -t offers exactly them", "[config]") {
  Home h;
  std::string choices;
  for (const auto& t : builtin_templates()) {
    ConfigRequest r = h.request();
    r.template_name = std::string(t.name);
    const Config c = load_config(r);
    CHECK(c.chain.front() == "builtin template: " + std::string(t.name));
    CHECK_FALSE(t.description.empty());
    choices += (choices.empty() ? "" : " ") + std::string(t.name);
  }
  for (const auto& flag : fence::supervisor::kFlags)
    if (flag.long_name == "template") CHECK(flag.choices == choices);
  CHECK(find_template("code.json") == find_template("code"));
  CHECK(find_template("nope") == nullptr);
}

TEST_CASE("chain: templates mean what their descriptions say", "[config]") {
  Home h;
  ConfigRequest r = h.request();
  r.template_name = "code-relaxed";
  const Config relaxed = load_config(r);
  // code-relaxed extends code: code's lists first, then its own.
  CHECK(relaxed.chain == Strings{"builtin template: code-relaxed", "└── builtin template: code"});
  CHECK(relaxed.network.allowed_domains.back() == "*");
  CHECK(relaxed.network.allowed_domains.front() == "api.anthropic.com");
  CHECK(std::find(relaxed.command.deny.begin(), relaxed.command.deny.end(), "git push") !=
        relaxed.command.deny.end());
  r.template_name = "code-strict";
  const Config strict = load_config(r);
  CHECK(strict.filesystem.default_deny_read);
  CHECK(strict.allow_pty);  // inherited: a plain boolean a child cannot switch off
}

TEST_CASE("chain: user config locations, first found wins", "[config]") {
  Home h;
  CHECK(load_config(h.request()).chain == Strings{"builtin default (no user config file)"});
  write_file(h.home + "/.fence.json", R"({"allowPty": true})");
  CHECK(load_config(h.request()).chain == Strings{"user config: " + h.home + "/.fence.json"});
  write_file(h.home + "/.fence.jsonc", "{\"allowPty\": true, // jsonc\n}");
  CHECK(load_config(h.request()).chain == Strings{"user config: " + h.home + "/.fence.jsonc"});
  write_file(h.home + "/.config/fence/fence.json", "{}");
  CHECK(load_config(h.request()).chain ==
        Strings{"user config: " + h.home + "/.config/fence/fence.json"});
  ConfigRequest xdg = h.request();
  xdg.xdg_config_home = h.home + "/xdg";
  write_file(h.home + "/xdg/fence/fence.jsonc", "{}");
  CHECK(load_config(xdg).chain == Strings{"user config: " + h.home + "/xdg/fence/fence.jsonc"});
  // -s beats everything, -t beats the user config.
  ConfigRequest t = h.request();
  t.template_name = "git-readonly";
  CHECK(load_config(t).chain.front() == "builtin template: git-readonly");
  t.settings = h.home + "/.fence.json";
  CHECK(load_config(t).chain.front() == "settings file: " + h.home + "/.fence.json");
}

TEST_CASE("chain: extends a file relative to the file naming it, and @base", "[config]") {
  Home h;
  const std::string dir = h.tree.path() + "/project/conf";
  write_file(dir + "/base.json", R"({"network": {"allowedDomains": ["base.test"]}})");
  write_file(dir + "/fence.json",
             R"({"extends": "./base.json", "network": {"allowedDomains": ["child.test"]}})");
  const Config c = load_config(h.with_file(dir + "/fence.json"));
  CHECK(c.network.allowed_domains == Strings{"base.test", "child.test"});
  CHECK(c.chain ==
        Strings{"settings file: " + dir + "/fence.json", "└── file: " + dir + "/./base.json"});
  CHECK(c.source_files == Strings{dir + "/fence.json", dir + "/./base.json"});
  CHECK_FALSE(c.extends);

  // @base: the user's own config, else the built-in default.
  write_file(dir + "/b.json", R"({"extends": "@base", "allowPty": true})");
  CHECK(load_config(h.with_file(dir + "/b.json")).chain.back() == "└── @base builtin default");
  write_file(h.home + "/.fence.json", R"({"extends": "code"})");
  const Config based = load_config(h.with_file(dir + "/b.json"));
  CHECK(based.chain == Strings{"settings file: " + dir + "/b.json",
                               "└── @base user config: " + h.home + "/.fence.json",
                               "    └── builtin template: code"});
  CHECK(based.allow_pty);
}

TEST_CASE("chain: cycles, depth, missing files and unknown templates are errors", "[config]") {
  Home h;
  const std::string d = h.tree.path() + "/c";
  write_file(d + "/a.json", R"({"extends": "./b.json"})");
  write_file(d + "/b.json", R"({"extends": "./a.json"})");
  CHECK_THAT(load_error(h.with_file(d + "/a.json")), Catch::StartsWith("circular extends: file "));
  write_file(d + "/self.json", R"({"extends": "./self.json"})");
  CHECK_THAT(load_error(h.with_file(d + "/self.json")), Catch::Contains("circular extends"));
  // @base that is the user config itself.
  write_file(h.home + "/.fence.json", R"({"extends": "@base"})");
  CHECK_THAT(load_error(h.request()), Catch::Contains("circular extends"));
  std::remove((h.home + "/.fence.json").c_str());
  for (int i = 0; i < 12; ++i)
    write_file(d + "/l" + std::to_string(i) + ".json",
               R"({"extends": "./l)" + std::to_string(i + 1) + R"(.json"})");
  write_file(d + "/l12.json", "{}");
  CHECK_THAT(load_error(h.with_file(d + "/l0.json")),
             Catch::StartsWith("extends chain too deep (more than 10 levels)"));
  // Ten levels are fine.
  CHECK_NOTHROW(load_config(h.with_file(d + "/l2.json")));
  write_file(d + "/m.json", R"({"extends": "./missing.json"})");
  CHECK_THAT(load_error(h.with_file(d + "/m.json")),
             Catch::Contains("m.json: extends: file not found: "));
  write_file(d + "/t.json", R"({"extends": "no-such-template"})");
  CHECK_THAT(load_error(h.with_file(d + "/t.json")),
             Catch::Contains("unknown template \"no-such-template\""));
  write_file(d + "/bad.json", R"({"extends": "./broken.json"})");
  write_file(d + "/broken.json", R"({"network": {"allowedDomain": []}})");
  CHECK_THAT(load_error(h.with_file(d + "/bad.json")),
             Catch::Contains("broken.json:1:14: network.allowedDomain: unknown key"));
  CHECK_THAT(load_error(h.with_file(d + "/none.json")),
             Catch::StartsWith("settings file not found"));
}

TEST_CASE("chain: merge rules", "[config]") {
  const Config base = parse_config(R"({
    "network": {"allowedDomains": ["a.test", "b.test"], "allowLocalBinding": true,
                "allowLocalOutbound": true, "httpProxyPort": 3000},
    "filesystem": {"allowWrite": ["."], "defaultDenyRead": true, "allowGitConfig": true},
    "command": {"deny": ["git push"], "useDefaults": false, "runtimeExecPolicy": "path"},
    "devices": {"mode": "minimal", "allow": ["/dev/fuse"]},
    "allowPty": true, "forceNewSession": true})",
                                   "base");
  const Config child = parse_config(R"({
    "network": {"allowedDomains": ["b.test", "c.test"], "allowLocalBinding": false,
                "allowLocalOutbound": false},
    "filesystem": {"allowWrite": ["out"], "allowGitConfig": false},
    "command": {"deny": ["npm publish"], "runtimeExecPolicy": "argv"},
    "allowPty": false})",
                                    "child");
  const Config m = merge_configs(base, child);
  // Lists: base first, de-duplicated.
  CHECK(m.network.allowed_domains == Strings{"a.test", "b.test", "c.test"});
  CHECK(m.filesystem.allow_write == Strings{".", "out"});
  CHECK(m.command.deny == Strings{"git push", "npm publish"});
  CHECK(m.devices.allow == Strings{"/dev/fuse"});
  // Plain booleans OR: a child cannot switch off what its base switched on.
  CHECK(m.network.allow_local_binding);
  CHECK(m.filesystem.allow_git_config);
  CHECK(m.filesystem.default_deny_read);
  CHECK(m.allow_pty);
  // Optional values: the child's when it sets them, else the base's.
  CHECK(m.network.allow_local_outbound == false);
  CHECK(m.network.http_proxy_port == 3000);
  CHECK(m.command.runtime_exec_policy == "argv");
  CHECK(m.devices.mode == "minimal");
  CHECK(m.force_new_session == true);
  CHECK_FALSE(m.command.use_defaults);  // not set by the child: the base's false stays
  const Config child2 = parse_config(R"({"command": {"useDefaults": true}})", "c2");
  CHECK(merge_configs(base, child2).command.use_defaults);
}

TEST_CASE("chain: settings that cannot be honoured as written are refused", "[config]") {
  Home h;
  const std::string d = h.tree.path() + "/u";
  const std::pair<const char*, const char*> cases[] = {
      {R"({"network": {"defaultAction": "proxy"}})",
       "network.defaultAction \"proxy\" needs network.upstreamProxy"},
      {R"({"ssh": {"deniedCommands": ["rm"]}})", "ssh: command rules without allowedHosts"},
  };
  for (const auto& [text, what] : cases) {
    write_file(d + "/f.json", text);
    CHECK_THAT(load_error(h.with_file(d + "/f.json")), Catch::StartsWith(d + "/f.json: " + what));
  }
  // Contradictions across files of a chain.
  write_file(d + "/base.json", R"({"network": {"allowLocalOutboundPorts": [5432]}})");
  write_file(d + "/top.json",
             R"({"extends": "./base.json", "network": {"allowLocalOutbound": false}})");
  CHECK_THAT(load_error(h.with_file(d + "/top.json")),
             Catch::Contains("allowLocalOutbound is false, but allowLocalOutboundPorts"));
  // Accepted: what means nothing here, or what we always do.
  write_file(d + "/ok.json", R"({"$schema": "https://example.invalid/s.json",
    "network": {"defaultAction": "deny"}, "ssh": {},
    "macos": {"mach": {"lookup": ["com.apple.x"], "register": []}},
    "command": {"runtimeExecPolicy": "argv", "acceptSharedBinaryCannotRuntimeDeny": ["busybox"]},
    "filesystem": {"wslInterop": false}, "devices": {"mode": "auto"}, "forceNewSession": false,})");
  const Config ok = load_config(h.with_file(d + "/ok.json"));
  CHECK(fence::supervisor::config_notes(ok).size() == 5);
  // Values are still checked.
  write_file(d + "/v.json", R"({"network": {"upstreamProxy": "socks5://x"}})");
  CHECK_THAT(load_error(h.with_file(d + "/v.json")), Catch::Contains("must be http://host[:port]"));
  write_file(d + "/w.json", R"({"devices": {"allow": ["/etc/passwd"]}})");
  CHECK_THAT(load_error(h.with_file(d + "/w.json")), Catch::Contains("must be a path under /dev/"));
  write_file(d + "/x.json", R"({"command": {"runtimeExecPolicy": "paths"}})");
  CHECK_THAT(load_error(h.with_file(d + "/x.json")),
             Catch::Contains("must be one of \"path\", \"argv\""));
}

TEST_CASE("chain: config show's JSON loads back to the same policy", "[config]") {
  Home h;
  for (const auto& t : builtin_templates()) {
    ConfigRequest r = h.request();
    r.template_name = std::string(t.name);
    const Config c = load_config(r);
    const Config back = parse_config(config_json(c), "shown");
    CHECK(canonical_config_json(back) == canonical_config_json(c));
  }
  const Config odd = parse_config(R"({"command": {"useDefaults": false},
    "network": {"allowLocalOutbound": false}, "forceNewSession": true,
    "filesystem": {"strictDenyRead": true}})",
                                  "odd");
  CHECK(canonical_config_json(parse_config(config_json(odd), "shown")) ==
        canonical_config_json(odd));
}
