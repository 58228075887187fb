// Stand-ins when shardsim is built without core/c10d (SHARDSIM_WITH_GLOO=OFF
// and no NCCL): real backends are refused with a clear message.
#include "shardsim/core/error.h"
#include "shardsim/runner/real_backends.h"

namespace shardsim::runner {

namespace {
[[noreturn]] void refuse() {
  throw InvalidArgument(
      "this build has no real backends (configured without SHARDSIM_WITH_GLOO and NCCL); "
      "use --backend fiber");
}
}  // namespace

bool have_real_backend(const std::string&) { return false; }
void check_real_specs(const std::vector<RunSpec>& specs) {
  for (const RunSpec& s : specs) {
    if (is_real_backend(s.backend)) refuse();
  }
}
std::vector<RunResult> run_with_launcher(const std::vector<RunSpec>&, const LauncherOptions&,
                                         const ResultSink&) {
  refuse();
}
bool started_as_job_rank() { return false; }
JobReport run_as_job_rank(const std::vector<RunSpec>&, const ResultSink&, const ScenarioLookup&) {
  refuse();
}
int run_as_launched_worker(const std::vector<RunSpec>&, const std::vector<size_t>&, int,
                           const ScenarioLookup&) {
  refuse();
}

}  // namespace shardsim::runner
