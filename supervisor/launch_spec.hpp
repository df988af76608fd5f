// The LaunchSpec of a run: everything the launcher needs to build the sandbox, computed once
// from the policy, the command line and the places of the run.
#pragma once

#include <string>
#include <vector>

#include "ipc/protocol.hpp"
#include "supervisor/cli.hpp"
#include "supervisor/config/config.hpp"
#include "supervisor/config/filesystem_plan.hpp"

namespace fence::supervisor {

// Where the run happens.
struct RunPlaces {
  std::string cwd;
  std::string home;
};

// The filesystem plan (the configuration's tiers resolved on this host, fence's own files
// protected: its executables, its settings file, the audit file, ~/.fence.json),
// the command, its sanitized environment with the proxy variables, the proxy ports and the
// localhost and inbound fields. Names of environment variables removed go to *removed_env.
// Throws ConfigError for a policy that cannot be planned or ports that collide.
struct LaunchPlan {
  ipc::LaunchSpec spec;
  std::vector<std::string> fs_warnings;         // entries ignored and why, for -d / -m
  std::vector<std::string> net_warnings;        // the same for network entries
  std::vector<std::string> removed_env;         // environment variables not passed on
  std::vector<std::string> env_changes;         // variables changed to work inside, and why
  std::vector<std::string> denied_write_paths;  // FilesystemPlan's: the policy's own denyWrite
  std::vector<std::string> denied_write_names;
};
// Files fence writes on the host during the run, as resolved ("" for none, or for a descriptor
// fence inherited). The audit file is protected from the sandbox; the log file is writable
// inside (unless the policy protects that path) and named by FENCE_LOG_FILE, so fence runs
// inside append their lines to it.
struct OutputFiles {
  std::string audit_file;
  std::string log_file;
};
// `nested`: inside another fence sandbox (supervisor/nested_run.hpp), whose proxy variables the
// command keeps: this run has no proxies of its own.
LaunchPlan build_launch_spec(const CliOptions& cli, const Config& config, const RunPlaces& at,
                             const OutputFiles& outputs, bool nested = false);

}  // namespace fence::supervisor
