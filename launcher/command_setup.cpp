#include "launcher/command_setup.hpp"

#include <sys/stat.h>

#include "launcher/landlock_policy.hpp"
#include "launcher/writable_roots.hpp"

namespace fence::launcher {
namespace {

SeccompOptions seccomp_options_for(const ipc::LaunchSpec& spec, const GuardedNames& guarded,
                                   const ProtectedNames& names) {
  SeccompOptions options;
  // Unix sockets of the command's own work by default; each connect() is performed by init,
  // which reaches a socket file only if it is listed or bound inside the sandbox.
  options.unix_sockets = spec.allow_all_unix_sockets ? UnixSockets::All : UnixSockets::Listed;
  options.report_violations = spec.report_violations;
  options.check_exec = spec.check_exec;
  options.notify_creations = !guarded.empty();
  // Creatable allowWrite entries: every write beneath one, once made, is performed by init's
  // writer thread (launcher/notify/creatable_roots.hpp): the command has no right there itself.
  options.notify_writes = !names.empty() || !spec.creatable.empty();
  return options;
}

std::vector<std::string> plan_lines_for(const CommandPreparation& prep) {
  const ipc::LaunchSpec& spec = *prep.setup.spec;
  std::vector<std::string> lines;
  for (const auto& name : prep.guarded.names)
    lines.push_back("[fence:fs] guard " + name + " (missing: creation refused)");
  if (!prep.names.empty()) {
    std::string line = "[fence:fs] protected at any depth of a writable tree:";
    for (const auto& p : spec.protected_names) line += " " + p;
    for (const auto& p : spec.protected_files) line += " " + p + " (unless a directory)";
    lines.push_back(line);
  }
  if (spec.check_exec)
    lines.push_back(
        "[fence:cmd] runtime command policy: every execve/execveat inside is held until fence "
        "has checked its argv (the command's own exec excepted: checked before start); best "
        "effort against a process that rewrites its argv from another thread meanwhile");
  if (prep.setup.seccomp.mediates_connect())
    lines.push_back(
        "[fence:net] connect() performed by init: a unix socket file only if listed in "
        "allowUnixSockets or bound inside the sandbox (datagram unix sockets refused)");
  if (spec.report_violations)
    lines.push_back(
        "[fence:seccomp] violations reported: denied syscalls, and writes refused by the "
        "filesystem policy (with their path)");
  return lines;
}

}  // namespace

CommandPreparation prepare_command_setup(const ipc::LaunchSpec& spec) {
  CommandPreparation prep;
  prep.setup.spec = &spec;
  prep.setup.landlock = landlock_policy_for(spec);
  // In the command child, stdin, stdout and stderr are fds 0, 1 and 2 (command_child.cpp).
  prep.setup.landlock.held_files = {0, 1, 2};
  // Protected names at any depth of a writable tree, and protected paths that do not exist
  // yet, are guarded by init (notify/filesystem_guard.hpp).
  prep.names = protected_names_for(spec);
  prep.guarded = find_guarded_names(spec, prep.names);
  prep.setup.seccomp = seccomp_options_for(spec, prep.guarded, prep.names);
  prep.plan_lines = plan_lines_for(prep);
  return prep;
}

ProtectedNames protected_names_for(const ipc::LaunchSpec& spec) {
  // A creatable entry is a writable root once the command has made it.
  std::vector<std::string> roots = writable_roots(spec);
  roots.insert(roots.end(), spec.creatable.begin(), spec.creatable.end());
  return ProtectedNames(std::move(roots), spec.protected_names, spec.protected_files,
                        spec.creatable_protected, spec.protect_bare_repositories);
}

std::vector<std::string> filter_plan_lines(const CommandSetup& setup, int abi) {
  std::vector<std::string> lines;
  for (auto& line : platform::describe_landlock(setup.landlock, abi))
    lines.push_back("[fence:landlock] " + line);
  for (auto& line : describe_seccomp(setup.seccomp)) lines.push_back("[fence:seccomp] " + line);
  return lines;
}

GuardedNames find_guarded_names(const ipc::LaunchSpec& spec, const ProtectedNames& names) {
  GuardedNames guarded;
  for (const auto& path : spec.read_only) {
    struct stat st {};
    const bool writable_later = beneath_writable_root(spec, path) || in_creatable_root(spec, path);
    if (!writable_later || ::lstat(path.c_str(), &st) == 0) continue;
    // Covered by a protected name, which decides for itself (git's sample hooks included).
    if (names.classify(path).protected_tree) continue;
    guarded.names.insert(path);
    for (std::string dir = path.substr(0, path.rfind('/')); !dir.empty();
         dir = dir.substr(0, dir.rfind('/'))) {
      if (::lstat(dir.c_str(), &st) == 0) break;
      guarded.ancestors.insert(dir);
    }
  }
  return guarded;
}

}  // namespace fence::launcher
