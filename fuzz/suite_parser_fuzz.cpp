// Suite files (TOML): any text either parses into entries that respect the
// documented ranges and expands into a bounded list of runs, or is rejected
// with InvalidArgument naming the file (and line and field) on one line.
#include <string>

#include "fuzz_target.h"
#include "shardsim/core/error.h"
#include "shardsim/runner/scenario.h"
#include "shardsim/runner/suite.h"
#include "shardsim/scenarios/builtin.h"

namespace {

constexpr const char* kSource = "fuzz.toml";

int fuzz_suite_parser(const uint8_t* data, size_t size) {
  using namespace shardsim;
  using namespace shardsim::fuzz;
  const std::string text(reinterpret_cast<const char*>(data), size);
  runner::Suite suite;
  try {
    suite = runner::parse_suite(text, kSource);
  } catch (const InvalidArgument& e) {
    check_message(e.what(), kSource);
    return 0;
  }
  if (suite.entries.empty()) finding("a suite without entries parsed");
  for (const runner::SuiteEntry& e : suite.entries) {
    if (e.scenario.empty()) finding("an entry without a scenario parsed");
    if (e.origin.compare(0, std::string(kSource).size(), kSource) != 0) {
      finding("an entry's origin does not name the file: " + e.origin);
    }
    for (int64_t w : e.worlds) {
      if (w < 1 || w > (int64_t{1} << 20)) finding("world out of range: " + std::to_string(w));
    }
    if (!(e.timeout_s >= 0)) finding("negative or NaN timeout parsed");
  }
  // Expansion against the built-in scenarios: bounded, or refused.
  try {
    const auto runs =
        runner::expand_suite(suite, scenarios::builtin_scenarios(), runner::RunOverrides{});
    if (runs.empty()) return 0;
  } catch (const InvalidArgument& e) {
    check_message(e.what(), kSource);
  }
  return 0;
}

}  // namespace

SHARDSIM_FUZZ_TARGET("suite_parser", fuzz_suite_parser)
