#include "launch_options.h"

#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>

#include "shardsim/core/error.h"
#include "shardsim/runner/fiber_backend.h"

namespace shardsim::cli {

void add_launch_options(CLI::App& app, LaunchOptions& o) {
  app.add_option("--master-addr", o.launch.master_addr,
                 "gloo/nccl launcher: the address rank 0 serves the rendezvous store on (default "
                 "127.0.0.1)");
  app.add_option("--master-port", o.launch.master_port,
                 "gloo/nccl launcher: the store's port (default: a free port for each world)")
      ->check(CLI::Range(1, 65535));
  app.add_option("--max-procs", o.launch.max_procs,
                 "gloo/nccl launcher: worlds above this many processes are skipped (default 16)")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  app.add_option("--worker-specs", o.worker_specs)->group("");
  app.add_option("--worker-report-fd", o.worker_report_fd)->group("");
}

std::vector<size_t> worker_spec_indices(const LaunchOptions& o) {
  std::vector<size_t> out;
  std::istringstream in(o.worker_specs);
  for (std::string item; std::getline(in, item, ',');) {
    SHARDSIM_CHECK_ARG(!item.empty() && item.size() < 10 &&
                           item.find_first_not_of("0123456789") == std::string::npos,
                       "--worker-specs '", o.worker_specs, "': expected spec indices I[,I...]");
    out.push_back(static_cast<size_t>(std::stoull(item)));
  }
  return out;
}

runner::LauncherOptions launcher_for(const LaunchOptions& o, const std::string& command,
                                        int argc, char** argv) {
  char buffer[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  SHARDSIM_CHECK(n > 0, "cannot find the shardsim executable (/proc/self/exe)");
  runner::LauncherOptions launch = o.launch;
  launch.executable.assign(buffer, static_cast<size_t>(n));
  launch.args.assign(argv, argv + argc);
  launch.args[0] = command;
  launch.in_process_backend = [] { return runner::make_fiber_backend(); };
  return launch;
}

void leave(int status) {
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  std::_Exit(status);
}

}  // namespace shardsim::cli
