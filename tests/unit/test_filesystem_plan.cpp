// The filesystem plan: tiers, the always-protected set (cwd and home), git specifics, and the
// precedence rules (hidden beats everything; nothing is bound beneath a hidden path).
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "supervisor/config/filesystem_plan.hpp"
#include "supervisor/config/git_layout.hpp"
#include "temp_tree.hpp"

namespace fs = std::filesystem;
using fence::supervisor::build_filesystem_plan;
using fence::supervisor::Config;
using fence::supervisor::ConfigError;
using fence::supervisor::FilesystemPlan;
using fence::supervisor::parse_git_hooks_paths;
using fence::testing::TempTree;
using fence::testing::write_file;

namespace {

// A temporary layout with a home directory and a project (the working directory) inside it's
// sibling, so cwd and home protections can be told apart.
struct Layout {
  TempTree tree{"plan"};
  std::string root = tree.path();
  std::string home = root + "/home";
  std::string cwd = root + "/proj";

  Layout() {
    fs::create_directories(home);
    fs::create_directories(cwd + "/.git/hooks");
  }
  void write(const std::string& path, const std::string& content = "") const {
    write_file(path, content);
  }
  FilesystemPlan plan(const Config& config, const std::vector<std::string>& own = {}) const {
    return build_filesystem_plan(config, cwd, home, own);
  }
};

bool contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

bool any_beneath(const std::vector<std::string>& list, const std::string& dir) {
  return std::any_of(list.begin(), list.end(),
                     [&](const std::string& p) { return p == dir || p.starts_with(dir + "/"); });
}

bool has_warning(const FilesystemPlan& plan, const std::string& fragment) {
  return std::any_of(plan.warnings.begin(), plan.warnings.end(),
                     [&](const std::string& w) { return w.find(fragment) != std::string::npos; });
}

}  // namespace

TEST_CASE("plan: default readable set", "[filesystem_policy]") {
  Layout l;
  const FilesystemPlan plan = l.plan(Config{});
  CHECK(contains(plan.readable, "/usr"));
  CHECK(contains(plan.readable, fs::canonical("/etc").string()));
  CHECK(contains(plan.readable, l.cwd));
  CHECK(contains(plan.readable, l.home));
  CHECK_FALSE(contains(plan.readable, "/srv"));
  CHECK(plan.writable.empty());
  CHECK(plan.executable.empty());
  CHECK(plan.hidden.empty());
  CHECK_FALSE(contains(plan.writable, "/tmp"));
  CHECK(std::is_sorted(plan.readable.begin(), plan.readable.end()));
}

TEST_CASE("plan: always-protected names in cwd and home", "[filesystem_policy]") {
  Layout l;
  const FilesystemPlan plan = l.plan(Config{}, {l.root + "/settings.json"});
  for (const std::string& dir : {l.cwd, l.home}) {
    for (const char* name :
         {".gitconfig", ".gitmodules", ".bashrc", ".bash_profile", ".zshrc", ".zprofile",
          ".profile", ".ripgreprc", ".mcp.json", ".vscode", ".idea", ".claude/commands",
          ".claude/agents", ".git/hooks", ".git/config", ".git/commondir"}) {
      INFO(dir << "/" << name);
      CHECK(contains(plan.read_only, dir + "/" + name));
    }
  }
  CHECK(contains(plan.read_only, l.home + "/.fence.json"));
  CHECK(contains(plan.read_only, l.home + "/.config/git/config"));
  CHECK(contains(plan.read_only, l.root + "/settings.json"));
  CHECK(std::is_sorted(plan.read_only.begin(), plan.read_only.end()));
  CHECK(std::adjacent_find(plan.read_only.begin(), plan.read_only.end()) == plan.read_only.end());
}

TEST_CASE("plan: cwd == home gives no duplicates", "[filesystem_policy]") {
  Layout l;
  const FilesystemPlan plan = build_filesystem_plan(Config{}, l.cwd, l.cwd, {});
  CHECK(std::adjacent_find(plan.read_only.begin(), plan.read_only.end()) == plan.read_only.end());
  CHECK(contains(plan.read_only, l.cwd + "/.bashrc"));
}

TEST_CASE("plan: allowGitConfig leaves .git/config out, hooks stay", "[filesystem_policy]") {
  Layout l;
  Config c;
  c.filesystem.allow_git_config = true;
  const FilesystemPlan plan = l.plan(c);
  CHECK(std::find(plan.protected_names.begin(), plan.protected_names.end(), ".git/config") ==
        plan.protected_names.end());
  CHECK_FALSE(contains(plan.read_only, l.cwd + "/.git/config"));
  CHECK_FALSE(contains(plan.read_only, l.home + "/.git/config"));
  CHECK(contains(plan.read_only, l.cwd + "/.git/hooks"));
  CHECK(contains(plan.read_only, l.cwd + "/.git/commondir"));
}

TEST_CASE("plan: core.hooksPath from the repository and global config", "[filesystem_policy]") {
  Layout l;
  l.write(l.cwd + "/.git/config", "[core]\n\tbare = false\n\thooksPath = .githooks\n");
  l.write(l.home + "/.gitconfig", "[user]\n  name = x\n[Core]\n  HooksPath = \"~/my hooks\"\n");
  const FilesystemPlan plan = l.plan(Config{});
  CHECK(contains(plan.read_only, l.cwd + "/.githooks"));
  CHECK(contains(plan.read_only, l.home + "/my hooks"));
}

TEST_CASE("plan: git worktree (.git file) protects the real git dirs", "[filesystem_policy]") {
  Layout l;
  fs::remove_all(l.cwd + "/.git");
  const std::string repo = l.root + "/repo";
  fs::create_directories(repo + "/.git/worktrees/w");
  l.write(repo + "/.git/worktrees/w/commondir", "../..\n");
  l.write(repo + "/.git/config", "[core]\n hooksPath = /opt/shared-hooks\n");
  l.write(l.cwd + "/.git", "gitdir: ../repo/.git/worktrees/w\n");
  const FilesystemPlan plan = l.plan(Config{});
  CHECK(contains(plan.read_only, l.cwd + "/.git"));
  CHECK(contains(plan.read_only, repo + "/.git/worktrees/w/hooks"));
  CHECK(contains(plan.read_only, repo + "/.git/worktrees/w/config"));
  CHECK(contains(plan.read_only, repo + "/.git/worktrees/w/commondir"));
  CHECK(contains(plan.read_only, repo + "/.git/hooks"));
  CHECK(contains(plan.read_only, repo + "/.git/config"));
  CHECK(contains(plan.read_only, "/opt/shared-hooks"));
  CHECK_FALSE(contains(plan.read_only, l.cwd + "/.git/hooks"));
}

TEST_CASE("plan: allowWrite, /tmp and missing entries", "[filesystem_policy]") {
  Layout l;
  fs::create_directories(l.cwd + "/out");
  Config c;
  c.filesystem.allow_write = {".", "./out/", "/tmp/", "~/missing"};
  const FilesystemPlan plan = l.plan(c);
  // /tmp is the entry it is: the launcher binds the host's /tmp for it.
  std::vector<std::string> expected{l.cwd, l.cwd + "/out", "/tmp"};
  std::sort(expected.begin(), expected.end());
  CHECK(plan.writable == expected);
  CHECK(contains(plan.writable, "/tmp"));
  CHECK(has_warning(plan, "filesystem.allowWrite: " + l.home + "/missing does not exist"));
  // HOME lies in /tmp here, which this config makes writable: the command may make it anyway.
  CHECK(plan.creatable.empty());
}

TEST_CASE("plan: missing allowWrite entries are creatable only where nothing else decides",
          "[filesystem_policy]") {
  Layout l;
  fs::create_directories(l.home + "/.ssh");
  Config c;
  c.filesystem.allow_write = {".",          "./later",  "~/.npm", "~/.npm/_cacache",
                              "~/.ssh/new", "~/.cfg/x", "~/a/b/c"};
  c.filesystem.deny_read = {"~/.ssh"};
  c.filesystem.deny_write = {"~/.cfg"};
  const FilesystemPlan plan = l.plan(c);
  // Inside the writable cwd: nothing to do; beneath another creatable entry: covered by it;
  // inside a hidden or read-only path: never writable.
  CHECK(plan.creatable == std::vector<std::string>{l.home + "/.npm", l.home + "/a/b/c"});
  CHECK(has_warning(plan, "filesystem.allowWrite: " + l.cwd +
                              "/later does not exist yet; it lies "
                              "in a writable tree"));
  CHECK(has_warning(plan, "filesystem.allowWrite: " + l.home +
                              "/.cfg/x does not exist yet; ignored (inside a read-only or hidden "
                              "path)"));
  CHECK(has_warning(plan, "filesystem.allowWrite: " + l.home +
                              "/.npm does not exist yet; the command may create it"));
}

TEST_CASE("plan: allowRead and allowExecute tiers", "[filesystem_policy]") {
  Layout l;
  fs::create_directories(l.root + "/data");
  fs::create_directories(l.root + "/tools/bin");
  Config c;
  c.filesystem.allow_read = {l.root + "/data", l.root + "/nope"};
  c.filesystem.allow_execute = {"../tools/bin"};
  const FilesystemPlan plan = l.plan(c);
  CHECK(contains(plan.readable, l.root + "/data"));
  CHECK_FALSE(contains(plan.readable, l.root + "/nope"));
  CHECK(plan.executable == std::vector<std::string>{l.root + "/tools/bin"});
  CHECK(has_warning(plan, "filesystem.allowRead: " + l.root + "/nope does not exist"));
}

TEST_CASE("plan: denyWrite globs expand, literal entries are kept even if missing",
          "[filesystem_policy]") {
  Layout l;
  l.write(l.cwd + "/a.pem");
  l.write(l.cwd + "/sub/deep/b.pem");
  l.write(l.cwd + "/c.txt");
  Config c;
  c.filesystem.deny_write = {"sub/**/*.pem", "*.pem", ".env", "**/.env.*"};
  const FilesystemPlan plan = l.plan(c);
  CHECK(contains(plan.read_only, l.cwd + "/a.pem"));
  CHECK(contains(plan.read_only, l.cwd + "/sub/deep/b.pem"));
  CHECK_FALSE(contains(plan.read_only, l.cwd + "/c.txt"));
  CHECK(contains(plan.read_only, l.cwd + "/.env"));
  // "**/NAME": a name protected at any depth of the writable trees, no walk of the tree.
  CHECK(contains(plan.protected_names, ".env.*"));
  CHECK_FALSE(contains(plan.protected_names, "*.pem"));
}

TEST_CASE("plan: denyRead hides files and directories and beats every other tier",
          "[filesystem_policy]") {
  Layout l;
  l.write(l.home + "/.ssh/id_rsa", "secret");
  l.write(l.home + "/.ssh/known_hosts");
  l.write(l.cwd + "/secrets/token");
  Config c;
  c.filesystem.deny_read = {"~/.ssh", "~/.ssh/id_rsa", "./secrets/token", ".git", "~/missing"};
  c.filesystem.allow_read = {"~/.ssh/known_hosts"};
  c.filesystem.allow_write = {".", "./.git/hooks", "~/.ssh"};
  const FilesystemPlan plan = l.plan(c);
  // Nested hidden entries collapse to the outermost one.
  CHECK(plan.hidden ==
        std::vector<std::string>{l.home + "/.ssh", l.cwd + "/.git", l.cwd + "/secrets/token"});
  CHECK_FALSE(any_beneath(plan.readable, l.home + "/.ssh"));
  CHECK_FALSE(any_beneath(plan.writable, l.home + "/.ssh"));
  CHECK_FALSE(any_beneath(plan.writable, l.cwd + "/.git"));
  CHECK_FALSE(any_beneath(plan.read_only, l.cwd + "/.git"));  // hidden wins over protected
  CHECK(contains(plan.writable, l.cwd));                      // an ancestor stays
  CHECK(has_warning(plan, "filesystem.denyRead: " + l.home + "/missing does not exist"));
}

TEST_CASE("plan: a hidden /tmp is not writable", "[filesystem_policy]") {
  Layout l;
  Config c;
  c.filesystem.allow_write = {"/tmp"};
  c.filesystem.deny_read = {"/tmp"};
  CHECK_FALSE(contains(l.plan(c).writable, "/tmp"));
}

TEST_CASE("plan: grants never follow symlinks that a sandboxed run could have planted",
          "[filesystem_policy]") {
  Layout l;
  fs::create_directories(l.root + "/elsewhere");
  fs::create_directory_symlink(l.root + "/elsewhere", l.cwd + "/build");
  l.write(l.cwd + "/out/real.log");
  fs::create_symlink(l.home + "/.bashrc", l.cwd + "/out/evil.log");

  SECTION("a literal entry reached through a symlink inside another writable entry") {
    Config c;
    c.filesystem.allow_write = {".", "./build"};
    const FilesystemPlan plan = l.plan(c);
    CHECK(plan.writable == std::vector<std::string>{l.cwd});
    CHECK(has_warning(plan, "reached through symlink " + l.cwd + "/build"));
  }
  SECTION("the same through the literal prefix of a glob") {
    l.write(l.root + "/elsewhere/f.txt");
    Config c;
    c.filesystem.allow_write = {".", "./build/*.txt"};
    const FilesystemPlan plan = l.plan(c);
    CHECK(plan.writable == std::vector<std::string>{l.cwd});
    CHECK(has_warning(plan, "reached through symlink " + l.cwd + "/build"));
  }
  SECTION("a symlink in the working directory is not followed even when it is read-only now") {
    // An earlier run with a writable working directory may have planted it ("out -> /etc").
    Config c;
    c.filesystem.allow_write = {"./build"};
    const FilesystemPlan plan = l.plan(c);
    CHECK(plan.writable.empty());
    CHECK(has_warning(plan, "reached through symlink " + l.cwd + "/build"));
  }
  SECTION("glob matches that are symlinks are skipped for grants") {
    Config c;
    c.filesystem.allow_write = {"out/*.log"};
    const FilesystemPlan plan = l.plan(c);
    CHECK(plan.writable == std::vector<std::string>{l.cwd + "/out/real.log"});
    CHECK(has_warning(plan, "skipping symlink " + l.cwd + "/out/evil.log"));
  }
  SECTION("deny tiers follow symlink matches to their target") {
    l.write(l.home + "/.bashrc");
    Config c;
    c.filesystem.deny_read = {"out/*.log"};
    const FilesystemPlan plan = l.plan(c);
    CHECK(contains(plan.hidden, l.home + "/.bashrc"));
    CHECK(contains(plan.hidden, l.cwd + "/out/real.log"));
  }
}

TEST_CASE("plan: glob limits surface as ConfigError naming the field", "[filesystem_policy]") {
  Layout l;
  for (int i = 0; i < 513; ++i) l.write(l.cwd + "/many/f" + std::to_string(i));
  Config c;
  c.filesystem.deny_read = {"many/*"};
  CHECK_THROWS_MATCHES(l.plan(c), ConfigError,
                       Catch::Matchers::Predicate<ConfigError>([](const ConfigError& e) {
                         const std::string m = e.what();
                         return m.starts_with("filesystem.denyRead: glob") &&
                                m.find("matches more than 512 paths") != std::string::npos;
                       }));
}

TEST_CASE("plan: git config hooksPath parser", "[filesystem_policy]") {
  using V = std::vector<std::string>;
  CHECK(parse_git_hooks_paths("[core]\nhooksPath = .githooks\n") == V{".githooks"});
  CHECK(parse_git_hooks_paths("[core]\n\thookspath=/a ; comment\n") == V{"/a"});
  CHECK(parse_git_hooks_paths("[CORE]\n  HOOKSPATH = \"/with space\" # c\n") == V{"/with space"});
  CHECK(parse_git_hooks_paths("[core] hooksPath = /same-line\n") == V{"/same-line"});
  CHECK(parse_git_hooks_paths("[core]\nhooksPath = \"a\\\"b\\\\c\"\n") == V{"a\"b\\c"});
  CHECK(parse_git_hooks_paths("[core]\nhooksPath = /one\n[core]\nhooksPath = /two\r\n") ==
        V{"/one", "/two"});
  CHECK(parse_git_hooks_paths("[user]\nhooksPath = /not-core\n").empty());
  CHECK(parse_git_hooks_paths("[core \"x\"]\nhooksPath = /sub\n").empty());
  CHECK(parse_git_hooks_paths("# [core]\n; hooksPath = /c\n").empty());
  CHECK(parse_git_hooks_paths("[core]\nhooksPath =\n").empty());
  CHECK(parse_git_hooks_paths("").empty());
  // A backslash at the end of a line continues the value on the next one, as git reads it
  // (git runs the hooks in /ab here, not in "/a\\").
  CHECK(parse_git_hooks_paths("[core]\nhooksPath = /a\\\nb\n") == V{"/ab"});
  CHECK(parse_git_hooks_paths("[core]\nhooksPath = /a\\\r\nb\r\n") == V{"/ab"});
  CHECK(parse_git_hooks_paths("[core]\nhooksPath = \"/a \\\n b\"\n") == V{"/a  b"});
  CHECK(parse_git_hooks_paths("[core]\nhooksPath = /a\\\n\nhooksPath = /c\n") == V{"/a", "/c"});
  // The continued line is the value's, not a line of its own; a comment does not continue.
  CHECK(parse_git_hooks_paths("[core]\nhooksPath = /a\\\n[user]\nhooksPath = /x\n") ==
        V{"/a[user]", "/x"});  // still in [core]
  CHECK(parse_git_hooks_paths("[core]\nhooksPath = /a # c\\\nhooksPath = /b\n") == V{"/a", "/b"});
}

TEST_CASE("plan: no usable home directory", "[filesystem_policy]") {
  Layout l;
  const FilesystemPlan plan = build_filesystem_plan(Config{}, l.cwd, "", {});
  CHECK(contains(plan.read_only, l.cwd + "/.bashrc"));
  CHECK(contains(plan.readable, l.cwd));
  Config c;
  c.filesystem.deny_read = {"~/.ssh"};
  CHECK_THROWS_WITH(build_filesystem_plan(c, l.cwd, "", {}),
                    "filesystem.denyRead: cannot expand \"~/.ssh\": home directory is not an "
                    "absolute path");
}
