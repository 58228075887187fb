// Scenarios from real use: FSDP, HSDP, FSDP+TP state dicts with optimizer
// state, uneven worlds, broadcast and distribute of full state dicts.
#include "shardsim/scenarios/scenario.h"

namespace shardsim::scenarios {

void register_real_use_scenarios(ScenarioRegistry& registry) {}

}  // namespace shardsim::scenarios
