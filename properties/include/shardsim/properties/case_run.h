// Running a case: as a generated scenario, so it runs on any backend the
// runner has (fibers, and the real c10d backends), through run_spec.
#pragma once

#include <string>

#include "shardsim/properties/case_file.h"
#include "shardsim/runner/run.h"
#include "shardsim/runner/scenario.h"

namespace shardsim::properties {

// The scenario that runs `c` on each rank: it rebuilds the state dict from
// the description, applies the operation with its options and checks the
// law against its oracle. It accepts exactly the case's world, and its
// default mesh is the case's. `name` (default: the law) names it in result lines.
runner::Scenario scenario_from_case(const CaseFile& c, const std::string& name = "");

// The run of `c` on `backend`: world, mesh, seeds, faults and expected outcome
// from the case.
runner::RunSpec run_spec_from_case(const CaseFile& c, const std::string& backend,
                                      const std::string& name = "");

// Runs `c` on `backend`. Law schedule_independence runs the operation under
// each of its schedule seeds twice and fails unless every run gives the same
// values and each seed the same trace both times; it needs the fiber
// scheduler (on other backends the result is a SKIP).
runner::RunResult run_case(const CaseFile& c, runner::Backend& backend,
                              const std::string& name = "");

// The standard result line(s) of `r` (format_result), whose rerun line is
// the replay of the case file at `path`.
std::string format_case_result(const runner::RunResult& r, const std::string& path);

}  // namespace shardsim::properties
