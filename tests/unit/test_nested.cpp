// Nested runs: the registration a nested launcher sends to the outer sandbox's init (strict
// decoding of hostile bytes), and the check that the outer sandbox enforces every command rule
// of the inner policy at exec.
#include <catch2/catch.hpp>

#include <string>

#include "launcher/notify/nest_registry.hpp"
#include "supervisor/nested_run.hpp"

using fence::launcher::decode_nest_registration;
using fence::launcher::encode_nest_registration;
using fence::launcher::NestRegistration;
using fence::platform::PathAccess;
using fence::supervisor::CommandRules;
using fence::supervisor::exec_rules_document;
using fence::supervisor::uncovered_command_rules;

TEST_CASE("nest registration: encode and decode round trip", "[nested]") {
  NestRegistration r;
  r.launcher = 4242;
  r.policy.paths = {{"/", PathAccess::Read},
                    {"/usr/bin", PathAccess::Execute},
                    {"/tmp/a b", PathAccess::Write},
                    {"/dev", PathAccess::Device}};
  const auto back = decode_nest_registration(encode_nest_registration(r));
  REQUIRE(back);
  CHECK(back->launcher == 4242);
  CHECK(back->policy.paths == r.policy.paths);
}

TEST_CASE("nest registration: anything else is refused", "[nested]") {
  for (const std::string& text : std::vector<std::string>{
           "", "fence-nest 1 12", "fence-nest 2 12\n", "fence-nest 1 1\n", "fence-nest 1 0\n",
           "fence-nest 1 -5\n", "fence-nest 1 12x\n", "fence-nest 1 12\nR /",
           "fence-nest 1 12\nR\n", "fence-nest 1 12\nR  /\n", "fence-nest 1 12\nR relative\n",
           "fence-nest 1 12\nQ /\n", "fence-nest 1 12\nR /a\n\n",
           std::string("fence-nest 1 12\nR /a\0b\n", 22)})
    CHECK_FALSE(decode_nest_registration(text));
  std::string many = "fence-nest 1 12\n";
  for (std::size_t i = 0; i <= fence::launcher::kMaxNestPaths; ++i) many += "R /\n";
  CHECK_FALSE(decode_nest_registration(many));
  CHECK(decode_nest_registration("fence-nest 1 12\n"));
}

namespace {
CommandRules rules(std::vector<std::string> deny, std::vector<std::string> allow = {},
                   bool defaults = true) {
  CommandRules r;
  r.deny = std::move(deny);
  r.allow = std::move(allow);
  r.use_defaults = defaults;
  return r;
}
}  // namespace

TEST_CASE("nested command rules: covered only by the outer sandbox's own checks", "[nested]") {
  const std::string outer = exec_rules_document(rules({"git push", "curl"}, {"curl -V"}), true);
  // The defaults and a subset of the outer's deny rules, with the outer's exceptions.
  CHECK_FALSE(uncovered_command_rules(rules({}, {"curl -V"}), outer));
  CHECK_FALSE(uncovered_command_rules(rules({"curl"}, {"curl -V", "more"}), outer));
  // A rule the outer sandbox does not check.
  CHECK(uncovered_command_rules(rules({"npm publish"}, {"curl -V"}), outer));
  // The outer sandbox lets through what this policy would refuse.
  CHECK(uncovered_command_rules(rules({"curl"}), outer));
  // Without the defaults the outer sandbox checks fewer rules.
  const std::string bare = exec_rules_document(rules({"curl"}, {}, false), true);
  CHECK(uncovered_command_rules(rules({}), bare));
  CHECK_FALSE(uncovered_command_rules(rules({"curl"}, {}, false), bare));
  // Checked at exec at all?
  const std::string unchecked = exec_rules_document(rules({}, {}, false), false);
  CHECK_FALSE(uncovered_command_rules(rules({}, {}, false), unchecked));
  CHECK(uncovered_command_rules(rules({"curl"}, {}, false), unchecked));
  // ssh rules must be the outer's.
  CommandRules with_ssh = rules({});
  with_ssh.ssh.allowed_hosts = {"example.test"};
  CHECK(uncovered_command_rules(with_ssh, exec_rules_document(rules({}), true)));
  CHECK_FALSE(uncovered_command_rules(with_ssh, exec_rules_document(with_ssh, true)));
  // Not a document.
  for (const std::string& bad :
       std::vector<std::string>{"", "[]", "{}", R"({"checked":1,"deny":[],"allow":[],"ssh":{}})",
                                R"({"checked":true,"deny":[1],"allow":[],"ssh":{}})"})
    CHECK_THROWS_AS(uncovered_command_rules(rules({"x"}), bad), std::invalid_argument);
}
