// The fuzz driver behind `shardsim fuzz`, and the check the rapidcheck laws
// run: a case is run on fibers; a failing one is shrunk, written as a case
// file and reported with the command that replays it.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "shardsim/properties/case_file.h"
#include "shardsim/properties/generators.h"
#include "shardsim/runner/run.h"

namespace shardsim::properties {

// Runs `c` on the fiber backend; the result (run_case).
runner::RunResult run_case_on_fibers(const CaseFile& c);

// For rapidcheck properties: runs `c` on fibers and, when it fails, writes
// it to default_case_dir() as <law>-<tag>.json (the same file for every
// shrink step, so the file ends as the shrunk case) and fails the property
// (RC_FAIL) with the result, the file and the replay command.
void rc_assert_case_holds(const CaseFile& c, const std::string& tag);

struct FuzzOptions {
  std::string property_glob = "*";  // laws whose names match (law_names())
  double time_s = 0;                // stop after this long (0: no limit)
  int64_t cases = 0;                // stop after this many cases (0: no limit)
  uint64_t seed = 1;                // case i is generated from (seed, i) alone
  std::string out_dir;              // where failing cases go ("" = default_case_dir())
  GenLimits limits = {256, 3, 4, 1024, 3, 5, 40};  // larger than the default run's
  int64_t max_shrinks = 200;                       // runs spent shrinking one failure
  double progress_every_s = 1.0;                   // progress lines on the progress stream
};

struct FuzzSummary {
  int64_t passed = 0;
  int64_t failed = 0;
  std::vector<std::string> case_files;  // one per failure
  double seconds = 0;
};

// The laws `glob` selects. Throws InvalidArgument when it selects none.
std::vector<std::string> select_laws(const std::string& glob);

// Runs cases round-robin over the selected laws until the time or case
// limit, printing progress (cases run, cases per second, failures) to
// `progress` and each failure (result line, case file, replay command) to
// `out`, then the closing line "N passed, M failed".
FuzzSummary run_fuzz(const FuzzOptions& options, std::ostream& progress, std::ostream& out);

}  // namespace shardsim::properties
