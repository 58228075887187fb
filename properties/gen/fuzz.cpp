#include "shardsim/properties/fuzz.h"

#include <chrono>
#include <iomanip>
#include <ostream>
#include <sstream>

#include <rapidcheck.h>

#include "shardsim/core/error.h"
#include "shardsim/core/random.h"
#include "shardsim/properties/case_json.h"
#include "shardsim/properties/case_run.h"
#include "shardsim/runner/fiber_backend.h"

namespace shardsim::properties {

runner::RunResult run_case_on_fibers(const CaseFile& c) {
  const std::unique_ptr<runner::Backend> fibers = runner::make_fiber_backend();
  return run_case(c, *fibers);
}

void rc_assert_case_holds(const CaseFile& c, const std::string& tag) {
  const runner::RunResult r = run_case_on_fibers(c);
  if (r.verdict != runner::RunResult::Verdict::kFail) return;
  const std::string path = write_case_to_dir(c, default_case_dir(), c.law + "-" + tag);
  RC_FAIL(format_case_result(r, path) + "case file: " + path +
          "\nreplay: " + replay_command_line(path));
}

std::vector<std::string> select_laws(const std::string& glob) {
  std::vector<std::string> laws;
  for (const std::string& law : law_names()) {
    if (runner::glob_match(glob, law)) laws.push_back(law);
  }
  std::string all;
  for (const std::string& law : law_names()) all += (all.empty() ? "" : ", ") + law;
  SHARDSIM_CHECK_ARG(!laws.empty(), "--property '", glob, "' selects no law (laws: ", all, ")");
  return laws;
}

namespace {

using Clock = std::chrono::steady_clock;

bool fails(const CaseFile& c, runner::RunResult* result) {
  runner::RunResult r = run_case_on_fibers(c);
  const bool failed = r.verdict == runner::RunResult::Verdict::kFail;
  if (result != nullptr) *result = std::move(r);
  return failed;
}

}  // namespace

FuzzSummary run_fuzz(const FuzzOptions& options, std::ostream& progress, std::ostream& out) {
  const std::vector<std::string> laws = select_laws(options.property_glob);
  const std::string dir = options.out_dir.empty() ? default_case_dir() : options.out_dir;
  FuzzSummary summary;
  const Clock::time_point start = Clock::now();
  Clock::time_point last_report = start;
  const auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  const auto report = [&] {
    const double s = elapsed();
    const int64_t n = summary.passed + summary.failed;
    progress << "fuzz: " << n << " cases, " << std::fixed << std::setprecision(1)
             << (s > 0 ? static_cast<double>(n) / s : 0.0) << " cases/s, " << summary.failed
             << " failed, " << std::setprecision(0) << s << " s" << std::endl;
    last_report = Clock::now();
  };

  for (int64_t i = 0;; ++i) {
    if (options.cases > 0 && i >= options.cases) break;
    if (options.time_s > 0 && elapsed() >= options.time_s) break;
    const std::string& law = laws[static_cast<size_t>(i) % laws.size()];
    // Case i depends on (seed, i) alone; sizes sweep 0..100 so small and
    // large cases alternate.
    const rc::Random random(derive_seed(options.seed, static_cast<uint64_t>(i)));
    const int size = static_cast<int>((i * 37) % 101);
    const rc::Shrinkable<CaseFile> shrinkable = gen_case(law, options.limits)(random, size);
    CaseFile c = shrinkable.value();
    c.note = "shardsim fuzz --seed " + std::to_string(options.seed) + ": case " + std::to_string(i);

    runner::RunResult result;
    if (!fails(c, &result)) {
      ++summary.passed;
    } else {
      ++summary.failed;
      progress << "fuzz: case " << i << " (" << law << ") failed; shrinking" << std::endl;
      int64_t budget = options.max_shrinks;
      const auto found = rc::shrinkable::findLocalMin(shrinkable, [&](const CaseFile& smaller) {
        if (budget-- <= 0) return false;
        return fails(smaller, nullptr);
      });
      CaseFile minimal = found.first;
      minimal.note = c.note + ", shrunk " + std::to_string(found.second) + " times";
      fails(minimal, &result);
      const std::string path = write_case_to_dir(minimal, dir);
      summary.case_files.push_back(path);
      out << format_case_result(result, path) << "    case file: " << path << "\n"
          << "    replay: " << replay_command_line(path) << std::endl;
    }
    if (std::chrono::duration<double>(Clock::now() - last_report).count() >=
        options.progress_every_s) {
      report();
    }
  }
  report();
  summary.seconds = elapsed();
  out << summary.passed << " passed, " << summary.failed << " failed" << std::endl;
  return summary;
}

}  // namespace shardsim::properties
