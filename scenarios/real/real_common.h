// Helpers shared by the scenarios from real use: building sharded state
// dicts from full ones, and oracles that slice with torch.chunk's rule
// (at::chunk), independently of shardsim's sharding arithmetic.
#pragma once

#include <ATen/core/Tensor.h>

#include "shardsim/core/value.h"
#include "shardsim/runner/scenario.h"
#include "shardsim/scenarios/builtin.h"

namespace shardsim::scenarios {

// The built-in scenarios are written against the runner's public API, as a user's are.
using namespace shardsim::runner;

// The piece of `full` held at mesh coordinate `coord` under `placements`,
// cut mesh dimension by mesh dimension with at::chunk (which returns fewer
// pieces than asked when sizes do not divide: the missing ones are empty).
// Replicate and Partial keep everything. A view of `full`.
at::Tensor chunk_oracle(const at::Tensor& full, const Shape& mesh_shape, const Shape& coord,
                        const Placements& placements);

// The placements a tensor of `dim` dims gets from `wanted`: Shard(d) with
// d >= dim becomes Replicate (scalars and vectors are replicated the way
// FSDP+TP replicates biases).
Placements placements_for(int64_t dim, const Placements& wanted);

// `full` with every tensor of one or more dims replaced by this rank's
// DTensor (local on `ctx.device()`, a fresh copy of chunk_oracle's piece);
// 0-dim tensors and non-tensors are kept as they are.
Value shard_tree(ScenarioContext& ctx, const Value& full, const DeviceMesh& mesh,
                 const Placements& placements);

// `v` with every plain tensor moved to `device` (a copy).
Value tree_to(const Value& v, c10::Device device);

void register_fsdp_scenarios(ScenarioRegistry& r);
void register_mesh_scenarios(ScenarioRegistry& r);
void register_edge_scenarios(ScenarioRegistry& r);
void register_broadcast_scenarios(ScenarioRegistry& r);

}  // namespace shardsim::scenarios
