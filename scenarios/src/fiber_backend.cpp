// The fiber backend: a scenario's ranks as fibers of one FiberWorld, each
// rank on the simulated accelerator with its own host memory.
#include <ATen/ATen.h>

#include "shardsim/core/host_memory.h"
#include "shardsim/scenarios/runner.h"
#include "shardsim/sim/fiber_world.h"

namespace shardsim::scenarios {

namespace {

class FiberBackend : public Backend {
 public:
  std::string name() const override { return "fiber"; }

  RunResult run(const Scenario& scenario, const RunSpec& spec) override {
    sim::WorldOptions options;
    options.world_size = spec.world;
    options.schedule_seed = spec.effective_schedule_seed();
    options.data_seed = spec.seed;
    options.device_kind = sim::DeviceKind::kSimulated;
    // ATen kernels can use well over 64 KiB of stack (Adam's sqrt needs more
    // than 128 KiB); only touched pages of a fiber stack cost memory.
    options.stack_bytes = 256 * 1024;

    ScenarioConfig config;
    config.data_seed = spec.seed;
    config.mesh_shape = spec.mesh;
    config.backend = "fiber";

    std::vector<RankRun> runs(static_cast<size_t>(spec.world));
    RunCache cache;
    const sim::WorldResult world = sim::run_world(options, [&](sim::RankEnv& env) {
      std::shared_ptr<HostMemory> host = make_host_memory();
      RankRun run = run_rank(scenario, env.comm(), *host, config, &cache);
      runs[static_cast<size_t>(env.rank())] = run;
      if (!run.ok) throw Error(run.message);
    });

    RunResult r;
    r.trace = world.trace_digest;
    switch (world.status) {
      case sim::WorldResult::Status::kOk: {
        r.outcome = Outcome::kPassed;
        std::vector<uint64_t> per_rank;
        for (const RankRun& run : runs) per_rank.push_back(run.values);
        r.values = combine_values(per_rank);
        break;
      }
      case sim::WorldResult::Status::kError: {
        bool assertion = false;
        for (const RankRun& run : runs) assertion = assertion || (!run.ok && run.assertion);
        r.outcome = assertion ? Outcome::kFailed : Outcome::kError;
        r.reason = world.diagnosis;
        break;
      }
      case sim::WorldResult::Status::kDeadlock:
        r.outcome = Outcome::kDeadlock;
        r.reason = world.diagnosis;
        break;
      case sim::WorldResult::Status::kMismatch:
        r.outcome = Outcome::kMismatch;
        r.reason = world.diagnosis;
        break;
    }
    return r;
  }
};

}  // namespace

std::unique_ptr<Backend> make_fiber_backend() { return std::make_unique<FiberBackend>(); }
bool have_fiber_backend() { return true; }

}  // namespace shardsim::scenarios
