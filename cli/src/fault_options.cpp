#include "fault_options.h"

#include <CLI/CLI.hpp>

namespace shardsim::cli {

void add_fault_options(CLI::App& app, FaultOptions& o) {
  app.add_option("--fault", o.faults,
                 "inject a fault, KIND:key=value,... (repeatable); on fibers: crash, exit, skip, "
                 "mismatch, delay, jitter, alloc, diverge (README, 'Faults and diagnosis'); real "
                 "backends check their own kinds")
      ->allow_extra_args(false);
  app.add_option("--expect", o.expect,
                 "the outcome that makes a run pass: passed, failed, deadlock, mismatch, crash, "
                 "timeout or error (default passed)");
  app.add_flag("--buggify", o.buggify,
               "add fault points drawn from each run's seed (fiber backend); a run passes when "
               "the injected faults explain its outcome");
  app.add_option("--time-limit", o.time_limit_s,
                 "seconds the whole command may take before it stops with status 1 (default "
                 "3600; 0: no limit)")
      ->check(CLI::Range(0.0, 1e7));
}

void apply_fault_options(const FaultOptions& o, runner::RunOverrides& overrides) {
  for (const std::string& f : o.faults) overrides.faults.push_back(runner::parse_fault_at(f, "--fault"));
  if (!o.expect.empty()) {
    try {
      overrides.expect = runner::parse_outcome(o.expect);
    } catch (const InvalidArgument& e) {
      throw InvalidArgument(std::string("--expect: ") + e.what());
    }
  }
}

void finish_fault_options(const FaultOptions& o, std::vector<runner::RunSpec>& specs) {
  for (runner::RunSpec& spec : specs) {
    spec.buggify = spec.buggify || o.buggify;
  }
}

std::string activity_of(const runner::RunSpec& spec) {
  std::string out = "shardsim run --scenario " + spec.scenario + " --backend " + spec.backend;
  if (spec.world > 0) out += " --world " + std::to_string(spec.world);
  if (!spec.mesh.empty()) out += " --mesh " + mesh_shape_str(spec.mesh);
  out += " --seed " + std::to_string(spec.seed);
  if (spec.schedule_seed) out += " --schedule-seed " + std::to_string(*spec.schedule_seed);
  for (const FaultSpec& f : spec.faults) out += " --fault " + f.str();
  if (spec.buggify) out += " --buggify";
  return out;
}

}  // namespace shardsim::cli
