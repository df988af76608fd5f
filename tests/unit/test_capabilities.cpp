// Capabilities and no_new_privs: dropped in a forked child that first holds capabilities
// (real root, or root of a fresh user namespace created by uid 65534), then checked in
// /proc/self/status before and after execve.
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>

#include "child_process.hpp"
#include "platform/capabilities.hpp"

namespace {

using fence::testing::enter_user_namespace_as_nobody;
using fence::testing::fork_with_pipe;

// The Cap* and NoNewPrivs lines of a /proc/<pid>/status text.
std::map<std::string, std::string> privilege_fields(const std::string& status) {
  std::map<std::string, std::string> fields;
  std::istringstream in(status);
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = line.substr(0, colon);
    if (key.rfind("Cap", 0) != 0 && key != "NoNewPrivs") continue;
    const auto value = line.find_first_not_of(" \t", colon + 1);
    fields[key] = value == std::string::npos ? "" : line.substr(value);
  }
  return fields;
}

std::string read_self_status() {
  std::ifstream in("/proc/self/status");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Empty when every capability set is zero and NoNewPrivs is 1; else what is wrong.
std::string check_no_privileges(const std::string& status) {
  const auto fields = privilege_fields(status);
  std::string problems;
  for (const char* key : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}) {
    const auto it = fields.find(key);
    if (it == fields.end() || it->second != "0000000000000000") {
      problems += std::string(key) + "=" + (it == fields.end() ? "missing" : it->second) + " ";
    }
  }
  const auto nnp = fields.find("NoNewPrivs");
  if (nnp == fields.end() || nnp->second != "1") problems += "NoNewPrivs!=1 ";
  return problems;
}

// Puts CAP_NET_BIND_SERVICE in the ambient set so the test sees it cleared.
std::string raise_ambient_capability() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return "capget failed";
  data[0].inheritable |= 1U << CAP_NET_BIND_SERVICE;
  if (::syscall(SYS_capset, &header, data) != 0) return "capset inheritable failed";
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0) != 0) {
    return "ambient raise failed";
  }
  return "";
}

struct DropOutcome {
  std::string before_exec;  // problems seen by the child itself
  std::string after_exec;   // /proc/self/status lines printed by the exec'd shell
};

// Child: optional setup, drop, check, then exec a shell that prints its own Cap lines.
DropOutcome drop_in_child(const std::function<std::string()>& setup) {
  const auto child = fork_with_pipe([&](int out) {
    std::string problems = setup();
    const auto before = privilege_fields(read_self_status());
    if (before.count("CapEff") == 0 || before.at("CapEff") == "0000000000000000") {
      problems += "control: no capabilities before the drop ";
    }
    if (before.count("CapAmb") == 0 || before.at("CapAmb") == "0000000000000000") {
      problems += "control: empty ambient set before the drop ";
    }
    try {
      fence::platform::drop_all_capabilities();
      fence::platform::set_no_new_privs();
    } catch (const std::exception& e) {
      problems += std::string("exception: ") + e.what() + " ";
    }
    problems += check_no_privileges(read_self_status());
    const int expected_bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                              SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED;
    if ((::prctl(PR_GET_SECUREBITS) & expected_bits) != expected_bits) problems += "securebits ";
    if (::prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN) != 0) problems += "CAP_SYS_ADMIN in bounding ";
    problems += "\n--exec--\n";
    (void)!::write(out, problems.data(), problems.size());
    ::dup2(out, STDOUT_FILENO);
    const char* argv[] = {"/bin/sh", "-c", "grep -e Cap -e NoNewPrivs /proc/self/status", nullptr};
    ::execv("/bin/sh", const_cast<char* const*>(argv));
    ::_exit(127);
  });
  CHECK(WIFEXITED(child.status));
  const std::string& out = child.failures;  // the problems, then the exec'd shell's output
  const auto marker = out.find("\n--exec--\n");
  REQUIRE(marker != std::string::npos);
  return {out.substr(0, marker), out.substr(marker + 10)};
}

}  // namespace

TEST_CASE("drop_all_capabilities as real root: nothing left, also after execve", "[caps]") {
  const auto outcome = drop_in_child([] { return raise_ambient_capability(); });
  CHECK(outcome.before_exec == "");
  CHECK(privilege_fields(outcome.after_exec).size() == 6);
  CHECK(check_no_privileges(outcome.after_exec) == "");
}

TEST_CASE("drop_all_capabilities as root of a user namespace (uid 65534 outside)", "[caps]") {
  const auto outcome = drop_in_child([] {
    std::string problems = enter_user_namespace_as_nobody();
    if (problems.empty()) problems = raise_ambient_capability();
    return problems;
  });
  CHECK(outcome.before_exec == "");
  CHECK(privilege_fields(outcome.after_exec).size() == 6);
  CHECK(check_no_privileges(outcome.after_exec) == "");
}
