// The real-backend launcher's options, shared by `shardsim run` and
// `shardsim replay`: --master-addr, --master-port, --max-procs, and the
// hidden flags through which the launcher tells a worker what to run.
#pragma once

#include <string>
#include <vector>

#include "shardsim/runner/real_backends.h"

namespace CLI {
class App;
}

namespace shardsim::cli {

struct LaunchOptions {
  runner::LauncherOptions launch;  // --master-addr, --master-port, --max-procs
  std::string worker_specs;           // hidden --worker-specs I,J,...: this process is a worker
  int worker_report_fd = -1;          // hidden --worker-report-fd
};

// Adds the options to `app`, writing into `options`.
void add_launch_options(CLI::App& app, LaunchOptions& options);

// The spec indices of --worker-specs. Throws InvalidArgument when malformed.
std::vector<size_t> worker_spec_indices(const LaunchOptions& options);

// The launcher's options with this executable and the command line
// (argv[0] replaced by `command`, e.g. "run"), for the workers it starts.
runner::LauncherOptions launcher_for(const LaunchOptions& options, const std::string& command,
                                        int argc, char** argv);

// Leaves with _exit once output is flushed: a broken Gloo group's destructor
// can block, and Gloo's threads outlive the world.
[[noreturn]] void leave(int status);

}  // namespace shardsim::cli
