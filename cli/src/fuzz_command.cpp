// shardsim fuzz: the laws on larger worlds and trees than the test run,
// with failures shrunk and written as case files.
#include <iostream>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "shardsim/core/error.h"

#if SHARDSIM_HAVE_FUZZ
#include "shardsim/properties/fuzz.h"
#endif

namespace shardsim::cli {

int fuzz_command(int argc, char** argv) {
  CLI::App app(
      "Run the property laws on generated cases (round-robin over the laws the glob selects), "
      "larger than the test run's. Progress on stderr about every second (cases run, cases per "
      "second, failures); each failure is shrunk, written as a case file and printed with its "
      "replay command. Case i depends on --seed and i alone: the same --seed and --cases give "
      "the same cases. Closes with 'N passed, M failed'.\n"
      "Exit status: 0 nothing failed, 1 a law failed, 2 bad usage.",
      "shardsim fuzz");
  std::string glob = "*";
  app.add_option("--property", glob,
                 "laws whose names match GLOB (default *): layout_tiles, "
                 "distribute_full_tensor, gather_state_dict, cpu_state_dict, "
                 "slices_and_flatten, pinned_lifetime, schedule_independence");
  double seconds = 0;
  auto* time_opt =
      app.add_option("--time", seconds, "stop after SECONDS")->check(CLI::PositiveNumber);
  int64_t cases = 0;
  auto* cases_opt =
      app.add_option("--cases", cases, "stop after N cases (default 100 without --time)")
          ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  time_opt->excludes(cases_opt);
  uint64_t seed = 1;
  app.add_option("--seed", seed, "fuzz seed S (default 1)");
  std::string out;
  app.add_option("--out", out,
                 "directory for failing cases (default $SHARDSIM_CASE_DIR, else the "
                 "build's cases/failures)");
  int64_t max_world = 256;
  app.add_option("--max-world", max_world, "largest world generated (default 256)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;

#if SHARDSIM_HAVE_FUZZ
  properties::FuzzOptions options;
  options.property_glob = glob;
  options.time_s = seconds;
  options.cases = cases > 0 ? cases : (seconds > 0 ? 0 : 100);
  options.seed = seed;
  options.out_dir = out;
  options.limits.max_world = max_world;
  const properties::FuzzSummary summary = properties::run_fuzz(options, std::cerr, std::cout);
  return summary.failed > 0 ? 1 : 0;
#else
  return usage_error(app.get_name(),
                     "this build has no fuzzer (configure with SHARDSIM_WITH_PROPERTIES=ON and "
                     "SHARDSIM_WITH_FIBERS=ON)");
#endif
}

}  // namespace shardsim::cli
