// Oracles shared by the seed scenarios.
#pragma once

#include <ATen/core/Tensor.h>

#include "shardsim/core/random.h"
#include "shardsim/runner/scenario.h"
#include "shardsim/scenarios/builtin.h"

namespace shardsim::scenarios {

// The built-in scenarios are written against the runner's public API, as a user's are.
using namespace shardsim::runner;

// The full tensor a Shard(0) DTensor gathers to when every rank r drew its
// float32 local of `shape` as the (draws_before+1)-th draw of that shape from
// its data stream: rebuilt for every rank from the data seed, concatenated
// along dim 0 with plain ATen on CPU (once per run, shared by the ranks).
at::Tensor oracle_gather_dim0(ScenarioContext& ctx, const Shape& shape, int64_t draws_before);

void register_seed_gather_scenarios(ScenarioRegistry& r);
void register_seed_cpu_state_dict_scenarios(ScenarioRegistry& r);
void register_seed_distribute_scenarios(ScenarioRegistry& r);

}  // namespace shardsim::scenarios
