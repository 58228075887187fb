// The built-in scenarios: the seed suite (reference-semantics §5), the
// scenarios from real use and those that show fault detection, registered
// through the runner's public scenario API as any user's scenarios are.
#pragma once

#include "shardsim/runner/scenario.h"

namespace shardsim::scenarios {

// Every built-in scenario, built once and immutable afterwards.
const runner::ScenarioRegistry& builtin_scenarios();

// Adds the seed scenarios (gather, distribute, cpu_state_dict, ...) to `registry`.
void register_seed_scenarios(runner::ScenarioRegistry& registry);
// Adds the scenarios drawn from real use (FSDP, meshes, broadcast, edge cases).
void register_real_use_scenarios(runner::ScenarioRegistry& registry);
// Adds the scenarios that show fault detection (verified distribute).
void register_fault_scenarios(runner::ScenarioRegistry& registry);

}  // namespace shardsim::scenarios
