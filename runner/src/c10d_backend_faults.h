// The faults of one spec on one rank of a real world: the run's fault plan
// (core/faults.h: its Comm and HostMemory wrappers, with real sleeps for
// delays), and one fault only real backends have, for tests of dead workers:
//
//   SHARDSIM_TEST_KILL="rank=R[,collective=K][,spec=I]"
//
// in a worker's environment makes the worker of world rank R kill itself
// with SIGKILL just before its K-th collective (default 1) of the spec with
// index I in the run's list (default: every spec). Test-only; not a fault
// spec, so suites cannot ask for it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "shardsim/core/comm.h"
#include "shardsim/core/faults.h"
#include "shardsim/core/host_memory.h"
#include "shardsim/runner/run.h"

namespace shardsim::runner::real {

constexpr const char* kTestKillVariable = "SHARDSIM_TEST_KILL";

struct TestKill {
  int64_t rank = 0;
  int64_t collective = 1;
  std::optional<size_t> spec;  // none: every spec
};
// Parses the variable's value; throws InvalidArgument naming it.
TestKill parse_test_kill(const std::string& text);
// The kill the environment asks for, if any (parsed; throws InvalidArgument).
std::optional<TestKill> test_kill_from_env();

// What one rank runs a spec on.
struct FaultyRank {
  std::shared_ptr<Comm> comm;
  std::shared_ptr<HostMemory> host;
  std::shared_ptr<FaultPlan> plan;  // this process's view: the firings of this rank
};
// `world` and `host` as rank `rank` sees them for spec number `spec_index`
// of the run: through the spec's faults and the test kill. Unchanged when
// none applies.
FaultyRank apply_faults(const std::shared_ptr<Comm>& world, const std::shared_ptr<HostMemory>& host,
                        const RunSpec& spec, size_t spec_index, int64_t rank);

}  // namespace shardsim::runner::real
