// launcher/notify/protected_names: which paths of a writable tree are protected, at any depth.
#include <catch2/catch.hpp>

#include "launcher/notify/protected_names.hpp"

using fence::launcher::NameVerdict;
using fence::launcher::ProtectedNames;

namespace {

const ProtectedNames& names() {
  static const ProtectedNames n({"/home/u/proj", "/home/u/.npm", "/tmp"},
                                {".bashrc", ".vscode", ".claude/commands", ".git/hooks",
                                 ".git/config", ".git/modules/**/hooks", ".git/modules/**/config"},
                                {".git"},
                                {".git/hooks", ".git/hooks/*.sample", ".git/modules/**/hooks",
                                 ".git/modules/**/hooks/*.sample"});
  return n;
}

NameVerdict at(const char* path) {
  return names().classify(path);
}

}  // namespace

TEST_CASE("protected names match at any depth, with everything beneath", "[protected_names]") {
  for (const char* p :
       {"/home/u/proj/.bashrc", "/home/u/proj/a/b/c/d/e/f/.bashrc", "/home/u/proj/x/.vscode",
        "/home/u/proj/x/.vscode/settings.json", "/home/u/proj/.claude/commands/x.md",
        "/home/u/proj/sub/.git/hooks", "/home/u/proj/sub/.git/hooks/pre-commit",
        "/home/u/proj/sub/.git/config", "/home/u/proj/.git/modules/lib/hooks/post-checkout",
        "/home/u/proj/.git/modules/a/b/c/config", "/home/u/.npm/pkg/.bashrc", "/tmp/x/.bashrc"}) {
    INFO(p);
    CHECK(at(p).protected_tree);
    CHECK(at(p).refuses_file());
  }
  for (const char* p :
       {"/home/u/proj/bashrc", "/home/u/proj/.bashrc2", "/home/u/proj/a.bashrc",
        "/home/u/proj/.claude/other.md", "/home/u/proj/.git/HEAD", "/home/u/proj/.git/index",
        "/home/u/proj/.git/refs/heads/config", "/home/u/proj/.git/objects/ab/cdef",
        "/home/u/proj/.git/foo/hooks", "/home/u/proj/sub/hooks/pre-commit"}) {
    INFO(p);
    CHECK_FALSE(at(p).refuses_file());
  }
}

TEST_CASE("only in a writable tree, from its outermost root and that root's own name on",
          "[protected_names]") {
  CHECK_FALSE(at("/home/u/.bashrc").in_writable_root);  // outside: read-only anyway
  CHECK_FALSE(at("/home/u/.bashrc").refuses_file());
  CHECK_FALSE(at("/home/u/projx/.bashrc").in_writable_root);
  CHECK(at("/home/u/proj").in_writable_root);
  CHECK_FALSE(at("/home/u/proj").refuses_file());
  // A root inside a protected place does not open it up...
  const ProtectedNames git_root({"/r/sub/.git"}, {".git/hooks", ".vscode"}, {".git"}, {});
  CHECK(git_root.classify("/r/sub/.git/hooks/pre-commit").refuses_file());
  CHECK_FALSE(git_root.classify("/r/sub/.git/objects/ab").refuses_file());
  CHECK(ProtectedNames({"/home/u/.vscode"}, {".vscode"}, {}, {})
            .classify("/home/u/.vscode/settings.json")
            .refuses_file());
  // ...and neither does a root nested in another one (allowWrite [".", "sub/.git"]).
  const ProtectedNames nested({"/r", "/r/sub/.git"}, {".git/hooks"}, {}, {});
  CHECK(nested.classify("/r/sub/.git/hooks/pre-commit").refuses_file());
  CHECK_FALSE(nested.classify("/r/sub/.git/index").refuses_file());
  // A root's name that matches nothing changes nothing.
  CHECK_FALSE(ProtectedNames({"/home/u/.vscode-projects"}, {".vscode"}, {}, {})
                  .classify("/home/u/.vscode-projects/a")
                  .refuses_file());
  CHECK(ProtectedNames({}, {".bashrc"}, {}, {}).empty());
}

TEST_CASE("a .git that is not a directory is a protected file", "[protected_names]") {
  const NameVerdict v = at("/home/u/proj/wt/.git");
  CHECK(v.protected_file);
  CHECK_FALSE(v.protected_tree);  // a .git directory's contents are git's business
  CHECK(v.refuses_file());
  CHECK_FALSE(at("/home/u/proj/wt/.git/HEAD").refuses_file());
}

TEST_CASE("git's sample hooks may be created, nothing else in a hooks directory",
          "[protected_names]") {
  CHECK(at("/home/u/proj/r/.git/hooks").creatable);
  CHECK(at("/home/u/proj/r/.git/hooks/pre-commit.sample").creatable);
  CHECK(at("/home/u/proj/.git/modules/m/hooks/update.sample").creatable);
  CHECK_FALSE(at("/home/u/proj/r/.git/hooks/pre-commit").creatable);
  CHECK_FALSE(at("/home/u/proj/r/.git/hooks/x/y.sample").creatable);
  CHECK_FALSE(at("/home/u/proj/r/.git/config").creatable);
}

TEST_CASE("ancestors of protected names: where no directory or symlink may be moved",
          "[protected_names]") {
  for (const char* p : {"/home/u/proj/x/.claude", "/home/u/proj/.git", "/home/u/proj/a/.git",
                        "/home/u/proj/.git/modules", "/home/u/proj/.git/modules/lib",
                        "/home/u/proj/.git/modules/a/b/c/index"}) {
    INFO(p);
    CHECK(at(p).ancestor);
  }
  for (const char* p : {"/home/u/proj/x", "/home/u/proj/.git/objects", "/home/u/proj/claude",
                        "/home/u/proj/.git/refs/heads/main"}) {
    INFO(p);
    CHECK_FALSE(at(p).ancestor);
  }
}

TEST_CASE("a place whose path is unknown is refused", "[protected_names]") {
  const NameVerdict v = NameVerdict::unknown();
  CHECK(v.refuses_file());
  CHECK(v.protected_tree);
  CHECK(v.ancestor);
  CHECK_FALSE(v.creatable);
}

TEST_CASE("split_components drops empty components", "[protected_names]") {
  CHECK(fence::launcher::split_components("/a//b/") == std::vector<std::string>{"a", "b"});
  CHECK(fence::launcher::split_components("").empty());
}
