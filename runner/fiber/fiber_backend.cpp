// The fiber backend: a scenario's ranks as fibers of one FiberWorld, each
// rank on the simulated accelerator with its own host memory, seen through
// the run's faults (virtual-time delays, a virtual collective timeout).
#include <ATen/ATen.h>

#include "shardsim/core/faults.h"
#include "shardsim/core/host_memory.h"
#include "shardsim/runner/run.h"
#include "shardsim/sim/fiber_world.h"
#include "shardsim/runner/fiber_backend.h"

namespace shardsim::runner {

namespace {

// The outcome a failing rank stands for.
Outcome failure_outcome(const RankRun& run) {
  if (run.crashed) return Outcome::kCrash;
  return run.assertion ? Outcome::kFailed : Outcome::kError;
}

// The root cause of a stopped world: the first rank to fail (event order)
// if any did, else what stopped it. The reason leads with that cause.
void classify(const sim::WorldResult& world, const std::vector<RankRun>& runs, RunResult& r) {
  std::string head;
  if (!world.failure_order.empty()) {
    const int64_t first = world.failure_order.front();
    const RankRun& run = runs[static_cast<size_t>(first)];
    r.outcome = failure_outcome(run);
    // A world stopped for an error already leads with its failures in order.
    if (world.status != sim::WorldResult::Status::kError) {
      head = "first failure (event order): " + run.message;
    }
  } else {
    switch (world.status) {
      case sim::WorldResult::Status::kDeadlock:
        r.outcome = Outcome::kDeadlock;
        for (const RankRun& run : runs) {
          if (run.exited) head += (head.empty() ? "" : "\n") + run.message;
        }
        break;
      case sim::WorldResult::Status::kMismatch:
        r.outcome = Outcome::kMismatch;
        break;
      case sim::WorldResult::Status::kTimeout:
        r.outcome = Outcome::kTimeout;
        break;
      default:
        r.outcome = Outcome::kError;
    }
  }
  r.reason = head.empty() ? world.diagnosis : head + "\n" + world.diagnosis;
}

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
    options.collective_timeout_ms = collective_timeout_ms(spec);

    ScenarioConfig config;
    config.data_seed = spec.seed;
    config.mesh_shape = spec.mesh;
    config.backend = "fiber";

    auto plan = std::make_shared<FaultPlan>(spec.faults, spec.seed);
    std::vector<RankRun> runs(static_cast<size_t>(spec.world));
    RunCache cache;
    const sim::WorldResult world = sim::run_world(options, [&](sim::RankEnv& env) {
      std::shared_ptr<HostMemory> host = make_host_memory();
      std::shared_ptr<Comm> faulty;
      Comm* comm = &env.comm();
      if (!plan->empty()) {
        auto faults = std::make_shared<RankFaults>(plan, env.rank(),
                                                   [&env](int64_t ms) { env.sleep_ms(ms); });
        faulty = make_faulty_comm(env.comm(), faults);
        comm = faulty.get();
        host = make_faulty_host_memory(std::move(host), faults);
      }
      RankRun run = run_rank(scenario, *comm, *host, config, &cache);
      runs[static_cast<size_t>(env.rank())] = run;
      if (!run.ok) throw Error(run.message);
    });

    RunResult r;
    r.trace = world.trace_digest;
    r.injected = plan->report();
    r.fired = plan->fired();
    if (world.status == sim::WorldResult::Status::kOk) {
      r.outcome = Outcome::kPassed;
      std::vector<uint64_t> per_rank;
      for (const RankRun& run : runs) per_rank.push_back(run.values);
      r.values = combine_values(per_rank);
    } else {
      classify(world, runs, r);
    }
    return r;
  }
};

}  // namespace

std::unique_ptr<Backend> make_fiber_backend() { return std::make_unique<FiberBackend>(); }
bool have_fiber_backend() { return true; }

}  // namespace shardsim::runner
