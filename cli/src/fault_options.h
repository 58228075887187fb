// shardsim run's fault and diagnosis options: --fault, --expect, --buggify
// and --time-limit (the collective --timeout is shared with real backends).
#pragma once

#include <string>
#include <vector>

#include "shardsim/runner/run.h"
#include "shardsim/runner/suite.h"

namespace CLI {
class App;
}

namespace shardsim::cli {

struct FaultOptions {
  std::vector<std::string> faults;  // --fault, repeatable
  std::string expect;               // --expect OUTCOME
  bool buggify = false;             // --buggify
  double time_limit_s = 3600;       // --time-limit; 0: none
};

// Adds the options to `app`, writing into `options`.
void add_fault_options(CLI::App& app, FaultOptions& options);
// The parts that override suite entries (--fault adds to each entry's
// faults, --expect replaces its expect). Throws InvalidArgument for --expect.
void apply_fault_options(const FaultOptions& options, runner::RunOverrides& overrides);
// After expansion: switches buggify on and checks every fault of the specs
// the fiber backend runs (real backends check their own). Throws
// InvalidArgument naming the origin and the bad fault.
void finish_fault_options(const FaultOptions& options, std::vector<runner::RunSpec>& specs);

// "shardsim run --scenario S --backend B [--world W] --seed S ..." for the watchdog.
std::string activity_of(const runner::RunSpec& spec);

}  // namespace shardsim::cli
