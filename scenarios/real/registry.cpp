// Scenarios from real use: FSDP, HSDP and FSDP+TP state dicts with optimizer
// state, uneven worlds, 0-dim and empty tensors, ShardedTensor tilings,
// broadcast and distribute of full state dicts, and round trips.
#include "real_common.h"

namespace shardsim::scenarios {

void register_real_use_scenarios(ScenarioRegistry& registry) {
  register_fsdp_scenarios(registry);
  register_mesh_scenarios(registry);
  register_edge_scenarios(registry);
  register_broadcast_scenarios(registry);
}

}  // namespace shardsim::scenarios
