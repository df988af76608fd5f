// The command policy (command_policy.hpp) and the shell reader under it (shell_words.hpp).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "supervisor/config/config.hpp"
#include "supervisor/policy/command_policy.hpp"
#include "supervisor/policy/shell_words.hpp"

namespace fence::supervisor {
namespace {

using Kind = ShellWord::Kind;

CommandPolicy policy(std::vector<std::string> deny, std::vector<std::string> allow = {},
                     bool defaults = false) {
  return CommandPolicy(CommandRules{std::move(deny), std::move(allow), defaults});
}

bool blocks(const CommandPolicy& p, std::string_view text) {
  return p.check_shell(text).blocked;
}
bool blocks_argv(const CommandPolicy& p, std::vector<std::string> argv) {
  return p.check_argv(argv).blocked;
}

// The words of every simple command in the text.
std::vector<std::vector<std::string>> commands(std::string_view text) {
  const ShellParse parse = parse_shell(text);
  INFO(parse.error);
  REQUIRE(parse.ok());
  std::vector<std::vector<std::string>> out;
  for (const SimpleCommand& cmd : parse.commands) {
    std::vector<std::string> words;
    for (const ShellWord& w : cmd) words.push_back(w.text);
    out.push_back(words);
  }
  return out;
}

using Cmds = std::vector<std::vector<std::string>>;

bool parses(std::string_view text) {
  return parse_shell(text).ok();
}

const CommandPolicy& push_policy() {
  static const CommandPolicy p = policy({"git push"});
  return p;
}

}  // namespace

// ---- shell_words ------------------------------------------------------------------------------

TEST_CASE("shell words: lists and pipelines", "[command_policy][shell_words]") {
  CHECK(commands("a 1; b 2 && c || d | e & f |& g\nh") ==
        Cmds{{"a", "1"}, {"b", "2"}, {"c"}, {"d"}, {"e"}, {"f"}, {"g"}, {"h"}});
  CHECK(commands("") == Cmds{});
  CHECK(commands("  \n\n ; ") == Cmds{});
  CHECK(commands("a&&b") == Cmds{{"a"}, {"b"}});
}

TEST_CASE("shell words: quoting", "[command_policy][shell_words]") {
  SECTION("single, double, backslash") {
    CHECK(commands(R"(echo 'a b' "c d" e\ f g"h"'i')") ==
          Cmds{{"echo", "a b", "c d", "e f", "ghi"}});
  }
  SECTION("escapes inside double quotes") {
    CHECK(commands(R"(echo "a\"b\\c\$d\x")") == Cmds{{"echo", R"(a"b\c$d\x)"}});
  }
  SECTION("single quotes keep everything") {
    CHECK(commands(R"(echo '$(git push) \ "')") == Cmds{{"echo", R"($(git push) \ ")"}});
  }
  SECTION("line continuation") {
    CHECK(commands("git \\\npush") == Cmds{{"git", "push"}});
  }
  SECTION("ANSI-C quoting is decoded") {
    CHECK(commands(R"($'\x67it' $'p\165sh' $'a\tb')") == Cmds{{"git", "push", "a\tb"}});
    CHECK(commands(R"($'git\x00junk')") == Cmds{{"git"}});  // bash stops at NUL
    CHECK(commands(R"($'\u00e9')") == Cmds{{"\xc3\xa9"}});
  }
  SECTION("locale strings are double quoted") {
    CHECK(commands(R"($"git")") == Cmds{{"git"}});
  }
}

TEST_CASE("shell words: comments", "[command_policy][shell_words]") {
  CHECK(commands("git status # git push") == Cmds{{"git", "status"}});
  CHECK(commands("echo a#b") == Cmds{{"echo", "a#b"}});
  CHECK(commands("# only a comment\nls") == Cmds{{"ls"}});
  CHECK(commands("ls;#c") == Cmds{{"ls"}});
}

TEST_CASE("shell words: substitutions are commands too", "[command_policy][shell_words]") {
  CHECK(commands("echo $(git push)") == Cmds{{"git", "push"}, {"echo", "$(git push)"}});
  CHECK(commands("echo `git push`") == Cmds{{"git", "push"}, {"echo", "`git push`"}});
  CHECK(commands(R"(echo "x $(git push) y")") ==
        Cmds{{"git", "push"}, {"echo", "x $(git push) y"}});
  CHECK(commands(R"(echo "`git push`")") == Cmds{{"git", "push"}, {"echo", "`git push`"}});
  CHECK(commands("echo ${x:-$(git push)}") == Cmds{{"git", "push"}, {"echo", "${x:-$(git push)}"}});
  CHECK(commands("diff <(git push) >(ls)") ==
        Cmds{{"git", "push"}, {"ls"}, {"diff", "<(git push)", ">(ls)"}});
  CHECK(commands("x=$(git push)") == Cmds{{"git", "push"}});
  CHECK(commands("echo `echo \\`git push\\``") ==
        Cmds{{"git", "push"}, {"echo", "`git push`"}, {"echo", "`echo \\`git push\\``"}});
  CHECK(commands("a=(x $(git push) y)") == Cmds{{"git", "push"}});
}

TEST_CASE("shell words: subshells, groups, functions", "[command_policy][shell_words]") {
  CHECK(commands("(git push)") == Cmds{{"git", "push"}});
  CHECK(commands("( (git push) )") == Cmds{{"git", "push"}});
  CHECK(commands("{ git push; }") == Cmds{{"git", "push"}});
  CHECK(commands("f() { git push; }; f") == Cmds{{"f"}, {"git", "push"}, {"f"}});
  CHECK(commands("function f { git push; }") == Cmds{{"git", "push"}});
  CHECK(commands("coproc X { git push; }") == Cmds{{"X"}, {"git", "push"}});
}

TEST_CASE("shell words: assignments and reserved words", "[command_policy][shell_words]") {
  CHECK(commands("A=1 B+=2 C[0]=3 git push") == Cmds{{"git", "push"}});
  CHECK(commands("A=1") == Cmds{});
  CHECK(commands("git A=1") == Cmds{{"git", "A=1"}});
  CHECK(commands("\"A=1\" git") == Cmds{{"A=1", "git"}});  // quoted: not an assignment
  CHECK(commands("if git push; then ls; elif a; then b; else c; fi") ==
        Cmds{{"git", "push"}, {"ls"}, {"a"}, {"b"}, {"c"}});
  CHECK(commands("while ! git push; do sleep 1; done") == Cmds{{"git", "push"}, {"sleep", "1"}});
  CHECK(commands("for x in a $(git push); do echo $x; done") ==
        Cmds{{"git", "push"}, {"echo", "$x"}});
  CHECK(commands("for ((i=0; i<3; i++)); do ls; done") == Cmds{{"i"}, {"i++"}, {"ls"}});
  CHECK(commands("for x do git push; done") == Cmds{{"git", "push"}});
  CHECK(commands("for ((;;)) do git push; done") == Cmds{{"git", "push"}});
  CHECK(commands("select x in a b\ndo git push; done") == Cmds{{"git", "push"}});
  CHECK(commands("time -p git push") == Cmds{{"git", "push"}});
  CHECK(commands("[[ $x == a ]] && git push") ==
        Cmds{{"[[", "$x", "==", "a", "]]"}, {"git", "push"}});
}

TEST_CASE("shell words: case", "[command_policy][shell_words]") {
  CHECK(commands("case $x in a|b) git push;; (c) ls ;; *) ;; esac") ==
        Cmds{{"git", "push"}, {"ls"}});
  CHECK(commands("case x in\n  a)\n    git push\n    ;;\nesac\nls") ==
        Cmds{{"git", "push"}, {"ls"}});
  CHECK(commands("echo $(case x in a) git push;; esac)").size() == 2);
  CHECK(commands("case x in a) git push\nesac") == Cmds{{"git", "push"}});
  CHECK_FALSE(parses("case x in a) ls;;"));
  CHECK_FALSE(parses("case x a) ls;; esac"));
}

TEST_CASE("shell words: redirections are dropped", "[command_policy][shell_words]") {
  CHECK(commands("git push >out 2>&1 <in >>log 2>/dev/null &>x >|y <>z 3<&0") ==
        Cmds{{"git", "push"}});
  CHECK(commands(">out git push") == Cmds{{"git", "push"}});
  CHECK(commands("git push > $(rm x)") == Cmds{{"rm", "x"}, {"git", "push"}});
  CHECK(commands("cat <<<'git push'") == Cmds{{"cat"}});
  CHECK_FALSE(parses("git push >"));
  CHECK_FALSE(parses("git push > ;"));
}

TEST_CASE("shell words: here-documents", "[command_policy][shell_words]") {
  CHECK(commands("cat <<EOF\ngit push\nEOF\nls") == Cmds{{"cat"}, {"ls"}});
  CHECK(commands("cat <<-EOF\n\tgit push\n\tEOF\nls") == Cmds{{"cat"}, {"ls"}});
  CHECK(commands("cat <<EOF\n$(git push)\nEOF") == Cmds{{"git", "push"}, {"cat"}});
  CHECK(commands("cat <<'EOF'\n$(git push)\nEOF") == Cmds{{"cat"}});
  CHECK(commands("cat <<\\EOF\n`git push`\nEOF") == Cmds{{"cat"}});
  CHECK(commands("cat <<A <<B\na\nA\nb\nB\nls") == Cmds{{"cat"}, {"ls"}});
  CHECK(commands("cat <<EOF\nno end") == Cmds{{"cat"}});
  SECTION("the usual commit message idiom") {
    const auto cmds = commands("git commit -m \"$(cat <<'EOF'\nFix: don't push\n\nbody\nEOF\n)\"");
    REQUIRE(cmds.size() == 2);
    CHECK(cmds[0] == std::vector<std::string>{"cat"});
    CHECK(cmds[1][0] == "git");
  }
}

TEST_CASE("shell words: arithmetic", "[command_policy][shell_words]") {
  CHECK(commands("echo $((1 + (2 * 3)))") == Cmds{{"echo", "$((1 + (2 * 3)))"}});
  CHECK(commands("echo $((1<<2))") == Cmds{{"echo", "$((1<<2))"}});
  CHECK(commands("((i++)) && ls") == Cmds{{"i++"}, {"ls"}});  // sh: a command named i++
  CHECK(commands("echo $(( $(git push) + 1 ))") ==
        Cmds{{"git", "push"}, {"echo", "$(( $(git push) + 1 ))"}});
  // bash: arithmetic, but $( ) runs even inside single quotes; sh (dash): two subshells.
  CHECK(commands("((echo hi))") == Cmds{{"echo", "hi"}});
  CHECK(commands("(( '$(git push)' ))") == Cmds{{"git", "push"}, {"$(git push)"}});
  CHECK(commands("echo $(( '$(git push)' ))") ==
        Cmds{{"git", "push"}, {"echo", "$(( '$(git push)' ))"}});
  CHECK(commands("((x*2 > 3))") == Cmds{{"x*2"}});
  CHECK(commands("((a<<2))") == Cmds{{"a"}});  // sh: a here-document, harmless
  CHECK(commands("((1 + (2 * 3)))") == Cmds{{"1", "+"}, {"2", "*", "3"}});  // lenient: more
  // Not arithmetic when the close is not "))": nested subshells, as bash reads them.
  CHECK(commands("((git push) )") == Cmds{{"git", "push"}});
  CHECK(commands("echo $((git push) )") == Cmds{{"git", "push"}, {"echo", "$((git push) )"}});
}

TEST_CASE("shell words: re-reading is bounded", "[command_policy][shell_words]") {
  // Each (( ... )) command is read twice; nested, the re-reading would double per level
  // (fuzz/findings/shell_words_arith_amplification: 157 bytes gave 5,247 words).
  auto nested_arith = [](int levels, std::size_t words) {
    std::string text;
    for (int i = 0; i < levels; ++i) text += "(( $( ";
    for (std::size_t i = 0; i < words; ++i) text += "a ";
    for (int i = 0; i < levels; ++i) text += " ) ))";
    return text;
  };
  CHECK_FALSE(parse_shell(nested_arith(7, 40)).ok());
  // Three levels, as a script might nest them: read whole.
  const ShellParse nested = parse_shell(nested_arith(3, 40));
  REQUIRE(nested.ok());
  const ShellParse big = parse_shell(nested_arith(7, 4000));
  CHECK_FALSE(big.ok());
  CHECK(big.error.find("re-read too often") != std::string::npos);
  CHECK(big.commands.empty());
  // What one level re-reads (the (( content once more) fits whatever the size.
  const ShellParse flat = parse_shell(nested_arith(1, 40000));
  CHECK(flat.ok());
  // Nested backquotes and here-documents are charged too.
  std::string heredocs;
  for (int i = 0; i < 2000; ++i) heredocs += "cat <<E\n$(x)\nE\n";
  CHECK(parse_shell(heredocs).ok());
  // Refused as unparsable, with no certainty: the runtime check lets it through to be
  // checked exec by exec; the preflight check refuses it.
  const CommandPolicy policy(CommandRules{});
  const auto v = policy.check_shell(nested_arith(7, 4000));
  CHECK(v.blocked);
  CHECK(v.rule == kUnparsableRule);
  CHECK_FALSE(v.certain);
  std::size_t words = 0;
  for (const auto& c : nested.commands) words += c.size();
  CHECK(words <= (kShellRereadFactor + 1) * (nested_arith(3, 40).size() + kShellRereadSlack));
}

TEST_CASE("shell words: what a word may become", "[command_policy][shell_words]") {
  const ShellParse parse = parse_shell(R"(git $x "$y" pu* "a b" "$@" {a,b} "v$z" ${x} [ a[1] "*")");
  REQUIRE(parse.ok());
  REQUIRE(parse.commands.size() == 1);
  const SimpleCommand& c = parse.commands[0];
  REQUIRE(c.size() == 12);
  CHECK(c[0].kind == Kind::Literal);
  CHECK(c[1].kind == Kind::Any);
  CHECK(c[2].kind == Kind::Single);
  CHECK(c[3].kind == Kind::Glob);
  CHECK(c[3].pattern == "pu*");
  CHECK(c[4].kind == Kind::Literal);
  CHECK(c[5].kind == Kind::Any);  // "$@" is many words
  CHECK(c[6].kind == Kind::Any);  // brace expansion
  CHECK(c[7].kind == Kind::Single);
  CHECK(c[7].pattern == "v*");
  CHECK(c[8].kind == Kind::Any);
  CHECK(c[9].kind == Kind::Literal);  // a lone [ is the test command
  CHECK(c[10].kind == Kind::Glob);
  CHECK(c[11].kind == Kind::Literal);
  CHECK(c[11].text == "*");
}

TEST_CASE("shell words: unparsable text", "[command_policy][shell_words]") {
  for (const char* bad : {"echo 'a", "echo \"a", "echo $(ls", "echo `ls", "echo ${x", "(ls", "ls)",
                          "echo $'a", "echo $((1+2)", "case", "cat <<", "a=(b"}) {
    INFO(bad);
    const ShellParse parse = parse_shell(bad);
    CHECK_FALSE(parse.ok());
    CHECK(parse.commands.empty());
  }
}

TEST_CASE("shell words: nesting limit", "[command_policy][shell_words]") {
  auto nested = [](int n, std::string_view open, std::string_view close) {
    std::string s;
    for (int i = 0; i < n; ++i) s += open;
    s += "ls";
    for (int i = 0; i < n; ++i) s += close;
    return s;
  };
  CHECK(parses(nested(10, "( ", " )")));
  CHECK(parses(nested(8, "$(echo ", ")")));
  CHECK_FALSE(parses(nested(40, "( ", " )")));
  CHECK_FALSE(parses(nested(40, "$(echo ", ")")));
  CHECK_FALSE(parses(nested(100000, "( ", " )")));
  CHECK_FALSE(parses(nested(100000, "(", ")")));  // arithmetic for bash, deep subshells for sh
  CHECK_FALSE(parses(nested(100000, "\"$(", ")\"")));
  CHECK_FALSE(parses(nested(100000, "${x:-", "}")));
}

TEST_CASE("shell words: splitting rules", "[command_policy][shell_words]") {
  ShellSplit s = split_shell_words("dd  if=");
  REQUIRE(s.ok());
  REQUIRE(s.words.size() == 2);
  CHECK(s.words[1].text == "if=");
  s = split_shell_words("echo 'a b' c\\ d");
  REQUIRE(s.ok());
  CHECK(s.words.size() == 3);
  for (const char* bad : {"a; b", "a | b", "a && b", "a > b", "(a)", "a\nb", "'a"}) {
    INFO(bad);
    CHECK_FALSE(split_shell_words(bad).ok());
  }
  CHECK(split_shell_words("   ").words.empty());
}

// ---- rules ------------------------------------------------------------------------------------

TEST_CASE("command rules: construction", "[command_policy]") {
  CHECK_THROWS_AS(policy({""}), std::invalid_argument);
  CHECK_THROWS_AS(policy({"   "}), std::invalid_argument);
  CHECK_THROWS_AS(policy({"git 'push"}), std::invalid_argument);
  CHECK_THROWS_AS(policy({"git push; rm"}), std::invalid_argument);
  CHECK_THROWS_AS(policy({"git push"}, {"git push |"}), std::invalid_argument);
  CHECK_THROWS_WITH(policy({"a && b"}),
                    Catch::Contains("command.deny") && Catch::Contains("a && b"));
  CHECK(policy({}).empty());
  CHECK_FALSE(policy({"git push"}).empty());
  CHECK_FALSE(policy({}, {}, true).empty());
  CHECK(policy({}, {"git push"}).empty());  // allow alone blocks nothing
}

TEST_CASE("command rules: from the config", "[command_policy]") {
  CommandConfig config;
  config.deny = {"git push"};
  config.allow = {"git push origin docs"};
  config.use_defaults = false;
  const CommandRules rules = command_rules_from(config);
  CHECK(rules.deny == config.deny);
  CHECK(rules.allow == config.allow);
  CHECK_FALSE(rules.use_defaults);
  CHECK(command_rules_from(CommandConfig{}).use_defaults);
}

TEST_CASE("command rules: the defaults", "[command_policy]") {
  const std::vector<std::string>& d = default_denied_commands();
  CHECK(d.size() == 22);
  for (const char* r : {"shutdown",
                        "reboot",
                        "halt",
                        "poweroff",
                        "init 0",
                        "init 6",
                        "systemctl poweroff",
                        "systemctl reboot",
                        "systemctl halt",
                        "insmod",
                        "rmmod",
                        "modprobe",
                        "kexec",
                        "mkfs",
                        "fdisk",
                        "parted",
                        "dd if=",
                        "docker run -v /:/",
                        "docker run --privileged",
                        "chroot",
                        "unshare",
                        "nsenter"}) {
    CHECK(std::find(d.begin(), d.end(), r) != d.end());
  }
  const CommandPolicy on = policy({}, {}, true);
  const CommandPolicy off = policy({"git push"}, {}, false);
  for (const char* cmd : {"shutdown -h now",
                          "sudo reboot",
                          "init 0",
                          "systemctl reboot",
                          "systemctl --no-wall poweroff",
                          "modprobe -r x",
                          "mkfs -t ext4 /dev/x",
                          "mkfs.ext4 /dev/sda1",
                          "/sbin/mkfs.vfat x",
                          "fdisk -l",
                          "parted /dev/x",
                          "dd bs=1M if=/dev/zero of=x",
                          "docker run -v /:/host alpine",
                          "docker run -it --rm --privileged alpine",
                          "chroot /x",
                          "unshare -r sh",
                          "nsenter -t 1 -m",
                          "kexec -e",
                          "insmod x.ko",
                          "rmmod x",
                          "halt",
                          "poweroff",
                          "init 6"}) {
    INFO(cmd);
    CHECK(blocks(on, cmd));
    CHECK_FALSE(blocks(off, cmd));
  }
  for (const char* cmd : {"systemctl status", "init", "dd of=x", "docker run alpine", "mkfsx",
                          "docker run -v /tmp:/tmp alpine", "initctl list", "ls /sbin/shutdown"}) {
    INFO(cmd);
    CHECK_FALSE(blocks(on, cmd));
  }
}

TEST_CASE("command rules: allow overrides the defaults", "[command_policy]") {
  const CommandPolicy p = policy({}, {"dd if=/dev/zero", "docker run --privileged"}, true);
  CHECK_FALSE(blocks(p, "dd if=/dev/zero of=/tmp/x bs=1M"));
  CHECK(blocks(p, "dd if=/dev/sda of=/tmp/x"));
  CHECK(blocks(p, "dd bs=1M if=/dev/zero of=/tmp/x"));  // allow is an exact prefix
  CHECK_FALSE(blocks(p, "docker run --privileged alpine"));
  CHECK(blocks(p, "docker run -it --privileged alpine"));
}

// ---- what fence checks ------------------------------------------------------------------------

TEST_CASE("fence: a denied prefix", "[command_policy]") {
  const CommandPolicy& p = push_policy();
  CHECK(blocks(p, "git push"));
  CHECK(blocks(p, "git push origin main --force"));
  CHECK(blocks(p, "  git   push  "));
  CHECK_FALSE(blocks(p, "git status"));
  CHECK_FALSE(blocks(p, "git"));
  CHECK_FALSE(blocks(p, "ls -la"));
}

TEST_CASE("fence: chains", "[command_policy]") {
  const CommandPolicy& p = push_policy();
  SECTION("&&") {
    CHECK(blocks(p, "git add . && git push"));
  }
  SECTION("||") {
    CHECK(blocks(p, "false || git push"));
  }
  SECTION(";") {
    CHECK(blocks(p, "ls; git push"));
  }
  SECTION("|") {
    CHECK(blocks(p, "echo y | git push"));
  }
  SECTION("&") {
    CHECK(blocks(p, "sleep 1 & git push"));
  }
  SECTION("|&") {
    CHECK(blocks(p, "ls |& git push"));
  }
  SECTION("harmless chain") {
    CHECK_FALSE(blocks(p, "git add . && git commit -m x; ls | wc"));
  }
}

TEST_CASE("fence: nested shells", "[command_policy]") {
  const CommandPolicy& p = push_policy();
  CHECK(blocks(p, R"(bash -c "git push")"));
  CHECK(blocks(p, R"(sh -lc "ls && git push")"));
  CHECK(blocks(p, R"(sh -c 'sh -c "git push"')"));
  CHECK(blocks(p, R"(zsh -c 'git push')"));
  CHECK(blocks(p, R"(dash -ec 'git push')"));
  CHECK(blocks(p, R"(/bin/bash -xc 'git push' name arg)"));
  CHECK_FALSE(blocks(p, R"(bash -c "git status")"));
}

TEST_CASE("fence: program paths and quoting", "[command_policy]") {
  const CommandPolicy& p = push_policy();
  CHECK(blocks(p, "/usr/bin/git push"));
  CHECK(blocks(p, "./git push"));
  CHECK(blocks(p, "../bin/git push"));
  CHECK(blocks(p, R"(git "push")"));
  CHECK(blocks(p, "git 'push'"));
  CHECK(blocks(p, R"("git" p"us"h)"));
  CHECK(blocks(p, R"(g\it pu\sh)"));
  CHECK_FALSE(blocks(p, "/usr/bin/gitx push"));
}

TEST_CASE("fence: word boundaries", "[command_policy]") {
  CHECK_FALSE(blocks(push_policy(), "git pushd"));
  CHECK_FALSE(blocks(push_policy(), "git push-all"));  // a different word
  CHECK_FALSE(blocks(push_policy(), "gitpush"));
  const CommandPolicy rm = policy({"rm -rf /"});
  CHECK(blocks(rm, "rm -rf /"));
  CHECK_FALSE(blocks(rm, "rm -rf /tmp/x"));
  CHECK_FALSE(blocks(rm, "rm -rf ./build"));
}

TEST_CASE("fence: allow overrides deny", "[command_policy]") {
  const CommandPolicy p = policy({"git push"}, {"git push origin docs"});
  CHECK_FALSE(blocks(p, "git push origin docs"));
  CHECK_FALSE(blocks(p, "git push origin docs --dry-run"));
  CHECK(blocks(p, "git push origin main"));
  CHECK(blocks(p, "git push"));
  CHECK(blocks(p, "git push origin docs && git push origin main"));  // per simple command
  CHECK_FALSE(blocks(p, "ls && git push origin docs"));
  CHECK_FALSE(blocks(p, "sudo git push origin docs"));  // the wrapped layer is allowed
  CHECK(blocks(p, "git push origin \"$branch\""));      // not known to be docs
}

// ---- what fence misses ------------------------------------------------------------------------

TEST_CASE("misses: separators and grouping", "[command_policy]") {
  const CommandPolicy& p = push_policy();
  SECTION("newline") {
    CHECK(blocks(p, "ls\ngit push"));
  }
  SECTION("$( )") {
    CHECK(blocks(p, "echo $(git push)"));
  }
  SECTION("$( ) in quotes") {
    CHECK(blocks(p, R"x(echo "result: $(git push)")x"));
  }
  SECTION("backticks") {
    CHECK(blocks(p, "echo `git push`"));
  }
  SECTION("subshell") {
    CHECK(blocks(p, "(git push)"));
  }
  SECTION("group") {
    CHECK(blocks(p, "{ git push; }"));
  }
  SECTION("if") {
    CHECK(blocks(p, "if true; then git push; fi"));
  }
  SECTION("loop") {
    CHECK(blocks(p, "for i in 1; do git push; done"));
  }
  SECTION("case") {
    CHECK(blocks(p, "case a in a) git push;; esac"));
  }
  SECTION("function body") {
    CHECK(blocks(p, "f() { git push; }"));
  }
  SECTION("process substitution") {
    CHECK(blocks(p, "cat <(git push)"));
  }
  SECTION("redirection target") {
    CHECK(blocks(p, "ls > $(git push)"));
  }
  SECTION("here-document") {
    CHECK(blocks(p, "cat <<EOF\n$(git push)\nEOF"));
  }
  SECTION("assignment") {
    CHECK(blocks(p, "x=$(git push)"));
  }
  SECTION("arithmetic") {
    CHECK(blocks(p, "echo $(( $(git push) ))"));
  }
  SECTION("parameter default") {
    CHECK(blocks(p, "echo ${x:-`git push`}"));
  }
}

TEST_CASE("misses: prefixes before the program", "[command_policy]") {
  const CommandPolicy& p = push_policy();
  CHECK(blocks(p, "VAR=x git push"));
  CHECK(blocks(p, "A=1 B=2 git push"));
  CHECK(blocks(p, "> log git push"));
  CHECK(blocks(p, "! git push"));
  CHECK(blocks(p, "time git push"));
}

TEST_CASE("misses: wrappers", "[command_policy]") {
  const CommandPolicy& p = push_policy();
  for (const char* cmd : {"env git push",
                          "env -i FOO=1 git push",
                          "env -u HOME -C /tmp git push",
                          "env -- git push",
                          "env - git push",
                          "env -S 'git push'",
                          "env -S'git push origin'",
                          "env --split-string='git push'",
                          "sudo git push",
                          "sudo -u root git push",
                          "sudo -E -H -u root -g wheel git push",
                          "sudo --user=root git push",
                          "sudo FOO=1 git push",
                          "sudo -- git push",
                          "doas -u root git push",
                          "command git push",
                          "command -p git push",
                          "exec git push",
                          "exec -a x git push",
                          "builtin exec git push",
                          "nice git push",
                          "nice -n 10 git push",
                          "nice -10 git push",
                          "nohup git push",
                          "timeout 5 git push",
                          "timeout -s KILL -k 1 5s git push",
                          "timeout --signal=TERM 5 git push",
                          "time -p git push",
                          "/usr/bin/time -v git push",
                          "stdbuf -oL -e 0 git push",
                          "ionice -c 3 git push",
                          "setsid -f git push",
                          "chrt -f 10 git push",
                          "taskset -c 0-3 git push",
                          "taskset 0x1 git push",
                          "busybox git push",
                          "flock /tmp/l git push",
                          "flock -w 5 /tmp/l git push",
                          "flock /tmp/l -c 'git push'",
                          "watch -n 1 git push",
                          "watch 'git push'",
                          "watch -x git push",
                          "echo origin | xargs git push",
                          "xargs -n 1 -P 4 git push",
                          "xargs -I{} git push {}",
                          "find . -exec git push \\;",
                          "find . -execdir git push {} +",
                          "su -c 'git push' bob",
                          "su - bob -c 'git push'",
                          "runuser -u bob -- git push",
                          "sudo env nice timeout 5 git push",
                          "sudo sh -c 'git push'",
                          "busybox sh -c 'git push'"}) {
    INFO(cmd);
    CHECK(blocks(p, cmd));
  }
}

TEST_CASE("misses: wrappers that run nothing dangerous", "[command_policy]") {
  const CommandPolicy& p = push_policy();
  for (const char* cmd :
       {"command -v git", "command -V git", "env", "sudo -l", "nice", "timeout 5 ls", "xargs ls",
        "find . -name push", "find . -exec echo push \\;", "su bob", "env FOO=push ls",
        "watch -n 1 git status"}) {
    INFO(cmd);
    CHECK_FALSE(blocks(p, cmd));
  }
}

TEST_CASE("misses: shells with options before -c", "[command_policy]") {
  const CommandPolicy& p = push_policy();
  for (const char* cmd : {"bash --norc -c 'git push'", "bash --noprofile --norc -c 'git push'",
                          "bash -o pipefail -c 'git push'", "bash -e -u -c 'git push'",
                          "bash +O extglob -c 'git push'", "bash --rcfile x -c 'git push'",
                          "bash -c -- 'git push'", "bash -l -c 'git push'", "-bash -c 'git push'",
                          "ksh -c 'git push'", "mksh -c 'git push'", "ash -c 'git push'"}) {
    INFO(cmd);
    CHECK(blocks(p, cmd));
  }
  SECTION("a script file is not read here") {
    CHECK_FALSE(blocks(p, "sh script.sh"));
    CHECK_FALSE(blocks(p, "bash -x script.sh push"));
    CHECK_FALSE(blocks(p, "bash -- -c"));
    CHECK_FALSE(blocks(p, "bash -o errexit script.sh"));
  }
}

TEST_CASE("misses: options between the rule's words", "[command_policy]") {
  CHECK(blocks(push_policy(), "git -C repo push"));
  CHECK(blocks(push_policy(), "git --git-dir=.git -c x=y push"));
  const CommandPolicy docker = policy({"docker run --privileged"});
  CHECK(blocks(docker, "docker run -it --privileged alpine"));
  CHECK(blocks(docker, "docker run -it --rm --privileged img"));
  CHECK(blocks(docker, "docker --context x run --privileged=true img"));
  CHECK_FALSE(blocks(docker, "docker run -it alpine"));
  CHECK_FALSE(blocks(docker, "docker run --privileged-ish img"));
  const CommandPolicy dd = policy({"dd if="});
  CHECK(blocks(dd, "dd bs=1M if=/dev/zero of=x"));
  CHECK(blocks(dd, "dd if=/dev/sda"));
  CHECK_FALSE(blocks(dd, "dd of=x"));
}

TEST_CASE("misses: option sets", "[command_policy]") {
  const CommandPolicy p = policy({"rm -rf /"});
  for (const char* cmd : {"rm -rf /", "rm -fr /", "rm -r -f /", "rm -f -r /", "rm -rfv /",
                          "rm / -rf", "rm -v -Rrf /", "sudo rm -r -f /", "rm -rf -- /"}) {
    INFO(cmd);
    CHECK(blocks(p, cmd));
  }
  for (const char* cmd : {"rm -r /", "rm -f /", "rm -Rf /", "rm --rf /", "rm -rf /tmp", "rm -rf"}) {
    INFO(cmd);
    CHECK_FALSE(blocks(p, cmd));
  }
}

TEST_CASE("misses: eval and shell text in other places", "[command_policy]") {
  const CommandPolicy& p = push_policy();
  CHECK(blocks(p, "eval git push"));
  CHECK(blocks(p, "eval 'git push'"));
  CHECK(blocks(p, "eval -- 'ls; git push'"));
  CHECK(blocks(p, "eval eval git push"));
  CHECK(blocks(p, "trap 'git push' EXIT"));
  CHECK(blocks(p, "alias p='git push'"));
  CHECK_FALSE(blocks(p, "eval ls"));
  CHECK_FALSE(blocks(p, "trap - EXIT"));
  CHECK_FALSE(blocks(p, "alias ll='ls -l'"));
}

TEST_CASE("misses: words known only at run time", "[command_policy]") {
  const CommandPolicy& p = push_policy();
  SECTION("fence misses x=push; git $x") {
    CHECK(blocks(p, "sh -c 'x=push; git $x'"));
  }
  SECTION("expansion as argument") {
    CHECK(blocks(p, "git $x"));
    CHECK(blocks(p, "git ${x}"));
    CHECK(blocks(p, "git \"$x\""));
    CHECK(blocks(p, "git $(echo push)"));
    CHECK(blocks(p, "git `echo push`"));
    CHECK(blocks(p, "git \"$@\""));
    CHECK(blocks(p, "git {push,x}"));
    CHECK(blocks(p, "git pu*"));
    CHECK(blocks(p, "git p?sh"));
    CHECK(blocks(p, "git [p]ush"));
  }
  SECTION("unknown program") {
    CHECK(blocks(p, "$cmd push"));
    CHECK(blocks(p, "\"$cmd\" push"));
    // A lone unknown program may be "git push" itself; preflight cannot know, and leaves it to
    // the runtime check of the execve, which sees the real argv.
    CHECK_FALSE(blocks(p, "$cmd"));
    CHECK_FALSE(blocks(p, "\"$cmd\" status"));  // one word: the program, then no "push"
  }
  SECTION("glob program: file names that fit the pattern") {
    CHECK(blocks(p, "gi* push"));
    CHECK(blocks(p, "/usr/bin/g?t push"));
    CHECK(blocks(p, "/usr/*/git push"));
    CHECK(blocks(p, "*"));  // files named git and push: `git push`
    CHECK(blocks(p, "[gx]it p*"));
    CHECK_FALSE(blocks(p, "./*.sh push"));
    CHECK_FALSE(blocks(p, "x*2"));
    CHECK_FALSE(blocks(p, "/usr/bin/g* status"));  // names in /usr/bin are never "push"
    CHECK(blocks(policy({"mkfs"}), "/sbin/mk*.ext4 /dev/x"));
  }
  SECTION("a quoted expansion is one word") {
    CHECK_FALSE(blocks(p, "git commit -m \"fix: $x\""));
    CHECK_FALSE(blocks(p, "git log --format=\"%H $x\""));
    CHECK(blocks(p, "git commit -m \"$msg\""));  // could be the word "push"
  }
  SECTION("glob patterns that cannot fit") {
    CHECK_FALSE(blocks(p, "git add *.py"));
    CHECK_FALSE(blocks(p, "git add src/[ab].c"));
  }
  SECTION("shell text known only at run time") {
    CHECK(blocks(p, "sh -c \"$x\""));
    CHECK(blocks(p, "bash -c \"git $y\""));
    CHECK(blocks(p, "eval \"$(ssh-agent -s)\""));
    CHECK(blocks(p, "eval $x"));
    CHECK(blocks(p, "bash $opts 'git push'"));
    const CommandPolicy::Verdict v = p.check_shell("sh -c \"$x\"");
    CHECK(v.rule == kUnparsableRule);
  }
  SECTION("wrapper operands") {
    CHECK(blocks(p, "timeout $t git push"));
    CHECK(blocks(p, "sudo $opts git push"));
    CHECK(blocks(p, "env \"$v\" git push"));
    CHECK(blocks(p, "echo push | xargs git"));  // xargs input may be "push"
    CHECK_FALSE(blocks(p, "env -S \"$x\""));    // a run-time command line: checked at exec
  }
  SECTION("not the program") {
    CHECK_FALSE(blocks(p, "echo $x push"));
    CHECK_FALSE(blocks(p, "ls $(echo hi)"));
  }
}

TEST_CASE("misses: rule flavours under expansion", "[command_policy]") {
  const CommandPolicy dd = policy({"dd if="});
  CHECK(blocks(dd, "dd \"if=$dev\""));
  CHECK(blocks(dd, "dd \"$arg\""));
  CHECK_FALSE(blocks(dd, "dd \"of=$x\""));
  const CommandPolicy rm = policy({"rm -rf /"});
  CHECK(blocks(rm, "rm $flags /"));
  CHECK(blocks(rm, "rm -r \"-f$x\" /"));
  CHECK_FALSE(blocks(rm, "rm -rf \"./$x\""));
  CHECK(blocks(rm, "rm -rf /*"));       // /* may be "/" when nothing matches; refused
  CHECK_FALSE(blocks(rm, "rm -rf *"));  // a glob never yields "/"
}

TEST_CASE("misses: other rules", "[command_policy]") {
  const CommandPolicy p = policy({"npm publish", "mkfs", "curl"});
  CHECK(blocks(p, "npm publish"));
  CHECK(blocks(p, "npm --registry x publish --tag beta"));
  CHECK_FALSE(blocks(p, "npm install"));
  CHECK(blocks(p, "mkfs.ext4 /dev/sdb1"));
  CHECK(blocks(p, "/usr/sbin/mkfs.btrfs x"));
  CHECK_FALSE(blocks(p, "mkfsx"));
  CHECK(blocks(p, "curl -s https://example.com"));
  CHECK_FALSE(blocks(p, "wget https://example.com/curl"));
}

TEST_CASE("misses: xargs replace strings", "[command_policy]") {
  const CommandPolicy& p = push_policy();
  CHECK(blocks(p, "echo 'git push' | xargs -I{} sh -c '{}'"));
  CHECK(blocks(p, "echo 'git push' | xargs -I % sh -c %"));
  CHECK(blocks(p, "echo 'git push' | xargs --replace=@ bash -c 'echo; @'"));
  CHECK(blocks(p, "echo 'git push' | xargs -i sh -c '{}'"));
  CHECK(blocks(p, "find . -exec sh -c '{}' \\;"));
  CHECK_FALSE(blocks(p, "ls | xargs -I{} echo {}"));
}

TEST_CASE("misses: spellings of the program word", "[command_policy]") {
  const CommandPolicy& p = push_policy();
  // Brace expansion (bash; dash keeps the word) makes the program a run-time word: the exec
  // of `git push` is refused at runtime, preflight does not guess.
  CHECK_FALSE(blocks(p, "{git,push}"));
  CHECK(blocks(p, "gi\\\nt push"));  // line continuation inside the word
  CHECK(blocks(p, "~/bin/git push"));
  CHECK(blocks(p, "$'\\x67\\x69\\x74' push"));
  CHECK(blocks(p, "\\git push"));
  CHECK(blocks(p, "g''it pu\"\"sh"));
  CHECK(blocks(p, "su -lc 'git push'"));
  CHECK(blocks(p, "coproc git push"));
  CHECK_FALSE(blocks(p, "\"if\" git push"));  // a command named "if": bash runs nothing
}

TEST_CASE("command rules: written forms", "[command_policy]") {
  SECTION("quoted rule words") {
    const CommandPolicy p = policy({"'git' \"push\""});
    CHECK(blocks(p, "git push"));
  }
  SECTION("allow by exact path") {
    const CommandPolicy p = policy({"git push"}, {"/usr/bin/git push origin docs"});
    CHECK_FALSE(blocks(p, "/usr/bin/git push origin docs"));
    CHECK(blocks(p, "git push origin docs"));
    CHECK(blocks(p, "/tmp/git push origin docs"));
  }
  SECTION("deny by path means by name") {
    const CommandPolicy p = policy({"/usr/bin/git push"});
    CHECK(blocks(p, "git push"));
    CHECK(blocks(p, "/opt/git push"));
  }
  SECTION("long options with values") {
    const CommandPolicy p = policy({"docker run --privileged"});
    CHECK(blocks(p, "docker run --privileged=false img"));  // conservative
    CHECK_FALSE(blocks(p, "docker run --privileged-mode img"));
  }
  SECTION("trailing slash is a prefix, a lone slash is not") {
    const CommandPolicy p = policy({"docker run -v /:/", "cat /etc/", "rm -rf /"});
    CHECK(blocks(p, "docker run -v /:/host alpine"));
    CHECK(blocks(p, "docker run -itv /:/ alpine"));
    CHECK(blocks(p, "cat /etc/shadow"));
    CHECK_FALSE(blocks(p, "cat /etcx"));
    CHECK_FALSE(blocks(p, "rm -rf /home"));
  }
  SECTION("an allow rule does not take gaps or option sets") {
    const CommandPolicy p = policy({"git push"}, {"git push origin docs", "rm -rf build"});
    CHECK(blocks(p, "git push origin main docs"));  // not a prefix: allow takes no gaps
    CHECK(blocks(p, "git push --force origin docs"));
    CHECK(blocks(p, "git -C x push origin docs"));
  }
}

TEST_CASE("verdict: certain matches are reported before possible ones", "[command_policy]") {
  const CommandPolicy p = policy({"git push", "git commit"});
  const CommandPolicy::Verdict v = p.check_shell("git commit $x");
  CHECK(v.blocked);
  CHECK(v.rule == "git commit");
  CHECK(v.reason == "denied command");
  const CommandPolicy::Verdict unknown = p.check_shell("$x push");
  CHECK(unknown.blocked);
  CHECK(unknown.rule == "git push");
  CHECK(unknown.reason.find("run time") != std::string::npos);
}

// ---- innocuous commands -----------------------------------------------------------------------

TEST_CASE("innocuous: a rule's words as data", "[command_policy]") {
  const CommandPolicy& p = push_policy();
  for (const char* cmd :
       {"echo \"git push\"", "echo git push", "printf 'git push\\n'", "grep -r 'git push' .",
        "echo 'bash -c \"git push\"'", "cat <<'EOF'\ngit push\nEOF", "# git push", "ls",
        "echo \"$(echo git) push\"", "man git-push", "git help push-x",
        "printf '%s\\n' \"sh -c 'git push'\""}) {
    INFO(cmd);
    CHECK_FALSE(blocks(p, cmd));
  }
}

TEST_CASE("innocuous: everyday shell with the defaults on", "[command_policy]") {
  const CommandPolicy p = policy({"git push"}, {}, true);
  for (const char* cmd :
       {"ls -la", "cd src && make -j4", "npm install && npm test", "git status; git diff",
        "for f in *.txt; do wc -l \"$f\"; done", "if [ -f x ]; then cat x; fi",
        "python3 -m pytest -q 2>&1 | tail -20", "echo $((1 + 2))",
        "export PATH=\"$HOME/bin:$PATH\"", "x=$(git rev-parse HEAD) && echo $x",
        "grep -rn 'main(' src | head", "find . -name '*.o' -delete", "tar -czf out.tgz dir",
        "docker run --rm alpine echo hi", "dd if=/dev/zero of=x", "case $1 in start) run;; esac"}) {
    INFO(cmd);
    const CommandPolicy::Verdict v = p.check_shell(cmd);
    INFO(v.rule << " / " << v.reason);
    CHECK(v.blocked == (std::string_view(cmd) == "dd if=/dev/zero of=x"));
  }
}

// ---- verdicts, argv, limits -------------------------------------------------------------------

TEST_CASE("verdict fields", "[command_policy]") {
  const CommandPolicy p = policy({"npm publish", "git push"});
  CommandPolicy::Verdict v = p.check_shell("ls && sudo git   push origin");
  CHECK(v.blocked);
  CHECK(v.rule == "git push");
  CHECK(v.command == "git push origin");
  CHECK(v.reason == "denied command");
  v = p.check_shell("git $x");
  CHECK(v.blocked);
  CHECK(v.rule == "git push");
  CHECK(v.command == "git $x");
  CHECK(v.reason.find("run time") != std::string::npos);
  v = p.check_shell("echo 'unterminated");
  CHECK(v.blocked);
  CHECK(v.rule == kUnparsableRule);
  CHECK(v.command == "echo 'unterminated");
  CHECK(v.reason.find("unterminated single quote") != std::string::npos);
  v = p.check_shell("ls");
  CHECK_FALSE(v.blocked);
  CHECK(v.rule.empty());
  CHECK(v.command.empty());
}

TEST_CASE("verdict: long commands are shortened", "[command_policy]") {
  const std::string text = "git push " + std::string(5000, 'x');
  const CommandPolicy::Verdict v = push_policy().check_shell(text);
  CHECK(v.blocked);
  CHECK(v.command.size() <= 520);
  CHECK(v.command.ends_with("..."));
}

TEST_CASE("check_argv", "[command_policy]") {
  const CommandPolicy& p = push_policy();
  CHECK(blocks_argv(p, {"git", "push"}));
  CHECK(blocks_argv(p, {"/usr/bin/git", "push", "origin"}));
  CHECK(blocks_argv(p, {"sudo", "-u", "root", "git", "push"}));
  CHECK(blocks_argv(p, {"bash", "-c", "ls && git push"}));
  CHECK(blocks_argv(p, {"env", "-i", "sh", "-c", "git push"}));
  CHECK(blocks_argv(p, {"bash", "-c", "'unterminated"}));
  CHECK_FALSE(blocks_argv(p, {"git", "status"}));
  CHECK_FALSE(blocks_argv(p, {}));
  // argv words are what exec received: nothing left to expand.
  CHECK_FALSE(blocks_argv(p, {"git", "$x"}));
  CHECK_FALSE(blocks_argv(p, {"git", "pu*"}));
  CHECK_FALSE(blocks_argv(p, {"echo", "git push"}));
  CHECK_FALSE(blocks_argv(p, {"sh", "script.sh"}));
  CHECK(blocks_argv(p, {"sh", "-c", "git $x"}));  // but shell text is still shell text
}

TEST_CASE("empty policy blocks nothing", "[command_policy]") {
  const CommandPolicy p = policy({}, {"git push"}, false);
  CHECK_FALSE(blocks(p, "git push"));
  CHECK_FALSE(blocks(p, "echo 'unterminated"));
  CHECK_FALSE(blocks(p, "shutdown now"));
  CHECK_FALSE(blocks_argv(p, {"reboot"}));
}

TEST_CASE("unparsable shell text is refused", "[command_policy]") {
  const CommandPolicy& p = push_policy();
  for (const char* text : {"echo 'a", "echo \"a", "(ls", "ls)", "echo $(ls", "echo `ls",
                           "bash -c 'echo \"x'", "eval 'echo \"'"}) {
    INFO(text);
    const CommandPolicy::Verdict v = p.check_shell(text);
    CHECK(v.blocked);
    CHECK(v.rule == kUnparsableRule);
  }
}

TEST_CASE("depth limit on nested shells", "[command_policy]") {
  const CommandPolicy& p = push_policy();
  auto quoted_shells = [](int levels) {  // sh -c "sh -c ... ls", quotes escaped per level
    std::string text = "ls";
    for (int i = 0; i < levels; ++i) {
      std::string quoted = "'";
      for (const char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
      text = "sh -c " + quoted + "'";
    }
    return text;
  };
  CHECK_FALSE(blocks(p, quoted_shells(4)));
  CHECK(blocks(p, quoted_shells(4) + "; git push"));
  auto evals = [](int levels) {  // eval eval ... ls: one level each, linear in size
    std::string text = "ls";
    for (int i = 0; i < levels; ++i) text = "eval " + text;
    return text;
  };
  CHECK_FALSE(blocks(p, evals(kMaxShellDepth)));
  const CommandPolicy::Verdict v = p.check_shell(evals(kMaxShellDepth + 1));
  CHECK(v.blocked);
  CHECK(v.rule == kUnparsableRule);
  CHECK(v.reason.find("nested") != std::string::npos);
  CHECK(blocks(p, evals(200)));
}

TEST_CASE("wrapper layer limit", "[command_policy]") {
  const CommandPolicy& p = push_policy();
  std::string text;
  for (int i = 0; i < kMaxWrapperLayers; ++i) text += "nice ";
  CHECK_FALSE(blocks(p, text + "ls"));
  CHECK(blocks(p, text + "git push"));
  CHECK(blocks(p, text + "nice nice ls"));
  std::vector<std::string> argv(1000, "env");
  argv.push_back("ls");
  CHECK(blocks_argv(p, argv));
}

TEST_CASE("robustness: hostile and large input", "[command_policy]") {
  const CommandPolicy p = policy({"git push"}, {"git push origin docs"}, true);
  SECTION("long inputs") {
    std::string many;
    for (int i = 0; i < 20000; ++i) many += "echo " + std::to_string(i) + " && ";
    CHECK_FALSE(blocks(p, many + "ls"));
    CHECK(blocks(p, many + "git push"));
    CHECK_FALSE(blocks(p, "echo " + std::string(1 << 20, 'a')));
  }
  SECTION("deep nesting of every kind") {
    // (50,000 backticks are 25,000 empty substitutions: a run-time program, left to the
    // runtime check; that case only has to come back without crashing.)
    CHECK_NOTHROW(p.check_shell(std::string(50000, '`')));
    for (const char* open : {"(", "$(", "\"$(", "${x:-", "$((", "((", "<(", "( "}) {
      INFO(open);
      std::string s;
      for (int i = 0; i < 50000; ++i) s += open;
      CHECK(p.check_shell(s).blocked);  // unparsable, too deep or unknown; never a crash
    }
    for (const char* balanced : {"$'", "\"", "'", "{ "}) {
      std::string s;
      for (int i = 0; i < 50000; ++i) s += balanced;
      CHECK_FALSE(p.check_shell(s).blocked);
    }
  }
  SECTION("pathological words stay fast") {
    CHECK_FALSE(blocks(p, "echo " + std::string(1 << 20, '[')));
    std::string stars = "git \"";
    for (int i = 0; i < 5000; ++i) stars += "a${x}";
    CHECK(blocks(p, stars + "\""));  // too many stars to tell: assumed to fit
    std::string globs = "git ";
    for (int i = 0; i < 2000; ++i) globs += "*a*a*a*a*a ";
    CHECK(blocks(p, globs));
    std::string few = "git ";
    for (int i = 0; i < 20000; ++i) few += "x*y*z ";
    CHECK_FALSE(blocks(p, few));
  }
  SECTION("balanced but deep parentheses") {
    std::string s;
    for (int i = 0; i < 1000; ++i) s += "( ";
    s += "ls";
    for (int i = 0; i < 1000; ++i) s += " )";
    CHECK(p.check_shell(s).blocked);
  }
  SECTION("pseudo-random text never crashes") {
    const std::string alphabet = "ab $'\"`\\(){};|&<>\n#*?[]=-!~0123456789cgpushx";
    std::uint32_t state = 12345;
    for (int round = 0; round < 3000; ++round) {
      std::string text;
      const int len = static_cast<int>(state % 64);
      for (int i = 0; i < len; ++i) {
        state = state * 1103515245 + 12345;
        text += alphabet[(state >> 16) % alphabet.size()];
      }
      state = state * 1103515245 + 12345;
      const CommandPolicy::Verdict v = p.check_shell(text);
      CHECK((!v.blocked || !v.rule.empty()));
      (void)p.check_argv({"sh", "-c", text});
    }
  }
}

TEST_CASE("verdict: certain only when known words match a rule", "[command_policy]") {
  CommandRules rules;
  rules.deny = {"git push"};
  rules.use_defaults = false;
  const CommandPolicy p(rules);
  CHECK(p.check_argv({"/usr/bin/git", "push", "origin"}).certain);
  CHECK(p.check_argv({"sh", "-c", "git -C x push"}).certain);
  const auto possible = p.check_shell("git $x");
  CHECK(possible.blocked);
  CHECK_FALSE(possible.certain);
  const auto unparsable = p.check_shell("git 'push");
  CHECK(unparsable.blocked);
  CHECK_FALSE(unparsable.certain);
  CHECK_FALSE(p.check_argv({"git", "status"}).certain);
}

TEST_CASE("check_exec: argv and path both judged, certain matches only", "[command_policy]") {
  CommandRules rules;
  rules.deny = {"git push"};
  rules.use_defaults = false;
  const CommandPolicy p(rules);
  CHECK(p.check_exec("/usr/bin/git", {"git", "push"}).blocked);
  // argv[0] spoofed (`exec -a ls git push`): the path names the program.
  const auto spoofed = p.check_exec("/usr/bin/git", {"ls", "push"});
  CHECK(spoofed.blocked);
  CHECK(spoofed.rule == "git push");
  // execve(path, NULL): an empty argv is judged by the path alone.
  CHECK_FALSE(p.check_exec("/usr/bin/git", {}).blocked);
  CHECK(p.check_exec("/bin/sh", {"sh", "-c", "git push"}).blocked);
  // Possible matches do not refuse at run time: the real exec follows and is checked.
  CHECK_FALSE(p.check_exec("/bin/sh", {"sh", "-c", "git $x"}).blocked);
  CHECK_FALSE(p.check_exec("/bin/sh", {"sh", "-c", "git 'push"}).blocked);
  CHECK_FALSE(p.check_exec("/usr/bin/git", {"git", "status"}).blocked);
}

TEST_CASE("a certain refusal is not hidden by an uncertain one before it", "[command_policy]") {
  const CommandPolicy p(CommandRules{});  // the default list
  // `init $x` may be `init 0` (uncertain); `reboot` is certain: the exec is refused for it.
  const auto v = p.check_exec("/bin/sh", {"sh", "-c", "init $x; reboot"});
  CHECK(v.blocked);
  CHECK(v.certain);
  CHECK(v.rule == "reboot");
  // Same across wrapper layers: an uncertain layer (`sudo -u $u` may be `sudo -u root`), then
  // a certain one wrapped inside it.
  CommandRules rules;
  rules.deny = {"sudo -u root", "reboot"};
  rules.use_defaults = false;
  const CommandPolicy q(rules);
  const auto w = q.check_shell("sudo -u $u reboot");
  CHECK(w.blocked);
  CHECK(w.certain);
  CHECK(w.rule == "reboot");
  CHECK_FALSE(q.check_shell("sudo -u $u ls").certain);
  // Preflight reports the certain one too.
  CHECK(p.check_shell("init $x; reboot").rule == "reboot");
}

TEST_CASE("nested shell texts re-read within a budget per check", "[command_policy]") {
  const CommandPolicy p(CommandRules{});
  auto quoted = [](const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
  };
  std::string words;
  for (int i = 0; i < 3000; ++i) words += "a ";
  // Each level is a (( $(sh -c TEXT) )) command: read two ways, so TEXT is checked twice,
  // and the level below it four times, ...
  std::string doubled = words;
  for (int level = 0; level < 4; ++level) doubled = "(( $(sh -c " + quoted(doubled) + ") ))";
  const auto v = p.check_shell(doubled);
  CHECK(v.blocked);
  CHECK_FALSE(v.certain);
  CHECK(v.reason.find("re-read too often") != std::string::npos);
  CHECK_FALSE(p.check_exec("/bin/sh", {"sh", "-c", doubled}).blocked);  // uncertain: let through
  // Nesting without the doubling reads each text once: within the budget.
  std::string nested = words;
  for (int level = 0; level < 4; ++level) nested = "sh -c " + quoted(nested);
  CHECK_FALSE(p.check_shell(nested).blocked);
  CHECK(p.check_shell(nested + "; reboot").rule == "reboot");
}

}  // namespace fence::supervisor

TEST_CASE("ssh rules: upstream's order of evaluation", "[command_policy]") {
  using fence::supervisor::CommandPolicy;
  using fence::supervisor::CommandRules;
  using fence::supervisor::SshRules;
  CommandRules rules{{"git push"}, {}, false, {}};
  rules.ssh = SshRules{{"*.example.com", "10.0.0.*"},
                       {"prod.example.com"},
                       {"ls", "git status"},
                       {"rm -rf"},
                       false,
                       false};
  const CommandPolicy p(rules);
  auto blocked = [&](const std::vector<std::string>& argv) { return p.check_argv(argv).blocked; };
  // 1. deniedHosts first, whatever the user or port.
  CHECK(blocked({"ssh", "prod.example.com"}));
  CHECK(blocked({"ssh", "-p", "22", "me@PROD.example.com", "ls"}));
  CHECK(blocked({"ssh", "ssh://me@prod.example.com:2222/"}));
  CHECK(p.check_argv({"ssh", "prod.example.com"}).rule == "ssh.deniedHosts prod.example.com");
  // 2. allowedHosts.
  CHECK(blocked({"ssh", "evil.test"}));
  CHECK(blocked({"/usr/bin/ssh", "-4", "-i", "key", "evil.test"}));
  // 3. interactive sessions to an allowed host.
  CHECK_FALSE(blocked({"ssh", "dev.example.com"}));
  CHECK_FALSE(blocked({"ssh", "-v", "-o", "ServerAliveInterval=5", "10.0.0.7"}));
  // 4. deniedCommands, 7. allowedCommands (every simple command of the remote text).
  CHECK(blocked({"ssh", "dev.example.com", "rm", "-fr", "/srv"}));
  CHECK_FALSE(blocked({"ssh", "dev.example.com", "ls", "-la"}));
  CHECK_FALSE(blocked({"ssh", "dev.example.com", "git status"}));
  CHECK(blocked({"ssh", "dev.example.com", "ls; cat /etc/shadow"}));
  CHECK(blocked({"ssh", "dev.example.com", "uptime"}));
  CHECK(p.check_argv({"ssh", "dev.example.com", "uptime"}).rule == "ssh.allowedCommands");
  // Options that could send the session elsewhere than the host checked.
  CHECK(blocked({"ssh", "-o", "Hostname=evil.test", "dev.example.com"}));
  CHECK(blocked({"ssh", "-oProxyCommand=nc evil 22", "dev.example.com"}));
  CHECK(blocked({"ssh", "-J", "jump.evil", "dev.example.com"}));
  CHECK(blocked({"ssh", "-F", "/tmp/cfg", "dev.example.com"}));
  // Wrapped, and in shell text.
  CHECK(blocked({"env", "ssh", "evil.test"}));
  CHECK(p.check_shell("true && ssh evil.test").blocked);
  CHECK(p.check_shell("ssh $HOST").blocked);
  CHECK_FALSE(p.check_shell("ssh $HOST").certain);
  // The runtime check refuses only certain matches.
  CHECK(p.check_exec("/usr/bin/ssh", {"ssh", "evil.test"}).blocked);
  CHECK_FALSE(p.check_exec("/usr/bin/ssh", {"ssh", "dev.example.com", "ls"}).blocked);
  // Other programs are not ssh.
  CHECK_FALSE(blocked({"sshd", "evil.test"}));
  CHECK_FALSE(blocked({"scp", "x", "evil.test:"}));

  // OpenSSH reads options after the destination too; ssh's own spellings of a keyword.
  for (const auto& argv : std::vector<std::vector<std::string>>{
           {"ssh", "dev.example.com", "-o", "Hostname=evil.test"},
           {"ssh", "-G", "dev.example.com", "-oProxyCommand=nc evil 22"},
           {"ssh", "-o", " Hostname=evil.test", "dev.example.com"},
           {"ssh", "-o", "\tHostname evil.test", "dev.example.com"},
           {"ssh", "-o", "=Hostname=evil.test", "dev.example.com"},
           {"ssh", "-o", "\"Hostname\" evil.test", "dev.example.com"},
           {"ssh", "-o", "HOSTNAME=evil.test", "dev.example.com"},
           {"ssh", "-o", "CanonicalDomains=evil.test", "dev.example.com"},
           {"ssh", "-o", "ControlPath=/tmp/master", "dev.example.com"},
           {"ssh", "-S", "/tmp/master", "dev.example.com"},
           {"ssh", "-P", "tag", "dev.example.com"},
           {"ssh", "-O", "forward", "dev.example.com"},
           {"ssh", "dev.example.com", "-oRemoteCommand=rm -rf /"},
           {"ssh", "-o", "RemoteCommand=uptime", "dev.example.com", "ls"},
       })
    CHECK(blocked(argv));
  // Harmless options, where ssh puts them.
  CHECK_FALSE(blocked({"ssh", "-vp22", "dev.example.com", "-o", "ServerAliveInterval=5", "ls"}));
  CHECK_FALSE(blocked({"ssh", "-x", "-oPermitLocalCommand=no", "-oClearAllForwardings=yes",
                       "-oRemoteCommand=none", "-oRequestTTY=no", "-oControlMaster=no", "--",
                       "dev.example.com", "ls"}));
  // Port forwarding reaches other hosts through the one checked; slogin is ssh; hosts have
  // no '/'.
  CHECK(blocked({"ssh", "-L", "2222:evil.test:22", "dev.example.com"}));
  CHECK(blocked({"ssh", "-D1080", "dev.example.com"}));
  CHECK(blocked({"ssh", "-o", "LocalForward=2222 evil.test:22", "dev.example.com"}));
  CHECK(blocked({"slogin", "evil.test", "ls"}));
  CHECK(blocked({"ssh", "x/y.example.com", "ls"}));
  // At run time, what the remote shell would run is judged for certain: text fence cannot
  // parse, and the remote shell's own expansions.
  CHECK(p.check_exec("/usr/bin/ssh", {"ssh", "dev.example.com", "rm -rf x\n(("}).blocked);
  CHECK(p.check_exec("/usr/bin/ssh", {"ssh", "dev.example.com", "l$(echo s)"}).blocked);
  // A final dot names the same host.
  CHECK(blocked({"ssh", "prod.example.com."}));
  CHECK(blocked({"ssh", "evil.test."}));
  // The ProxyCommand fence itself sets in GIT_SSH_COMMAND, and no other.
  CommandRules with_proxy = rules;
  with_proxy.ssh.trusted_proxy_commands = {"/usr/bin/nc.openbsd -X 5 -x 127.0.0.1:1080 %h %p"};
  const CommandPolicy git_ssh(with_proxy);
  CHECK_FALSE(
      git_ssh
          .check_argv({"ssh", "-o", "ProxyCommand=/usr/bin/nc.openbsd -X 5 -x 127.0.0.1:1080 %h %p",
                       "dev.example.com", "ls"})
          .blocked);
  CHECK(git_ssh
            .check_argv({"ssh", "-o", "ProxyCommand=/usr/bin/nc.openbsd -X 5 -x 127.0.0.1:9 %h %p",
                         "dev.example.com", "ls"})
            .blocked);

  // 5. inheritDeny, 6. allowAllCommands.
  rules.ssh.allow_all_commands = true;
  CHECK_FALSE(CommandPolicy(rules).check_argv({"ssh", "dev.example.com", "uptime"}).blocked);
  CHECK_FALSE(CommandPolicy(rules).check_argv({"ssh", "dev.example.com", "git push"}).blocked);
  rules.ssh.inherit_deny = true;
  CHECK(CommandPolicy(rules).check_argv({"ssh", "dev.example.com", "git push"}).blocked);
  CHECK(CommandPolicy(rules).check_argv({"ssh", "dev.example.com", "rm -rf /"}).blocked);
  CHECK_FALSE(CommandPolicy(rules).empty());
  // Without a host list nothing is active (the loader refuses such a section).
  CHECK(CommandPolicy(CommandRules{{}, {}, false, SshRules{{}, {}, {"ls"}, {}, false, false}})
            .empty());
}
