// Multi-dimensional meshes: HSDP [Replicate, Shard(0)], FSDP+TP
// [Shard(0), Shard(1)], and distribute -> gather round trips over every
// placement on the run's mesh.
#include <ATen/ATen.h>

#include "real_common.h"
#include "shardsim/core/dtype.h"
#include "shardsim/core/state_dict_utils.h"

namespace shardsim::scenarios {

namespace {

// A model-shaped state dict drawn from the shared stream: weights whose dims
// rarely divide the mesh, biases, a 0-dim tensor and scalars.
Mapping model_state(Random& shared) {
  Mapping layers;
  const std::vector<std::pair<int64_t, int64_t>> dims{{12, 7}, {7, 5}, {5, 3}};
  for (size_t i = 0; i < dims.size(); ++i) {
    layers.set("layer" + std::to_string(i),
               Mapping{{"weight", random_tensor(shared, {dims[i].first, dims[i].second}, at::kFloat)},
                       {"bias", random_tensor(shared, {dims[i].first}, at::kFloat)}});
  }
  return Mapping{{"layers", layers},
                 {"embedding", random_tensor(shared, {9, 6}, at::kBFloat16)},
                 {"scale", random_tensor(shared, {}, at::kFloat)},
                 {"version", int64_t{3}}};
}

void gather_matches(ScenarioContext& ctx, const Placements& placements) {
  const Mapping full = model_state(ctx.shared());
  const DeviceMesh mesh = ctx.run_mesh();
  const Value sharded = shard_tree(ctx, tree_to(full, ctx.device()), mesh, placements);
  const Value gathered = gather_state_dict(sharded, ctx.comm());
  ctx.check_equal(gathered, full, "");
  ctx.record("gathered", gathered);
}

void hsdp(ScenarioContext& ctx) { gather_matches(ctx, {Placement::replicate(), Placement::shard(0)}); }
void fsdp_tp(ScenarioContext& ctx) { gather_matches(ctx, {Placement::shard(0), Placement::shard(1)}); }

Shape two_by_half(int64_t world) { return world % 2 == 0 ? Shape{2, world / 2} : Shape{1, world}; }

// Every combination of S0, S1, R, P over the run's mesh dimensions for a
// few tensors of several dtypes and shapes (uneven and zero-size dims
// included): distribute_tensor gives each rank at::chunk's piece, and
// gather_state_dict gives back the original bit for bit.
void distribute_gather_round_trip(ScenarioContext& ctx) {
  const DeviceMesh mesh = ctx.run_mesh();
  const Shape coord = mesh.coordinate(ctx.rank());
  const std::vector<Placement> choices{Placement::shard(0), Placement::shard(1), Placement::replicate(),
                                       Placement::partial()};
  const std::vector<std::pair<Shape, c10::ScalarType>> tensors{
      {{7, 5}, at::kFloat}, {{3, 0}, at::kDouble}, {{1, 2}, at::kLong}, {{10, 4}, at::kBFloat16},
      {{5, 6}, at::kComplexFloat}};
  const int64_t ndim = mesh.ndim();
  int64_t combos = 1;
  for (int64_t i = 0; i < ndim; ++i) combos *= static_cast<int64_t>(choices.size());
  Mapping full_sd;
  Mapping sharded_sd;
  for (int64_t c = 0; c < combos; ++c) {
    Placements ps;
    for (int64_t i = 0, rest = c; i < ndim; ++i, rest /= static_cast<int64_t>(choices.size())) {
      ps.push_back(choices[static_cast<size_t>(rest % static_cast<int64_t>(choices.size()))]);
    }
    for (size_t t = 0; t < tensors.size(); ++t) {
      const at::Tensor full = random_tensor(ctx.shared(), tensors[t].first, tensors[t].second);
      const std::string key = placements_str(ps) + "/" + dtype_name(tensors[t].second) + shape_str(tensors[t].first);
      const DTensor d = distribute_tensor(ctx.comm(), full, mesh, ps);
      bool partial = false;
      for (const Placement& p : ps) partial = partial || p.is_partial();
      if (!partial) ctx.check_equal(d.local(), chunk_oracle(full, mesh.shape(), coord, ps), key + " local");
      full_sd.set(key, full);
      sharded_sd.set(key, d);
    }
  }
  const Value gathered = gather_state_dict(sharded_sd, ctx.comm());
  ctx.check_equal(gathered, full_sd, "");
  ctx.record("gathered", gathered);
}

}  // namespace

void register_mesh_scenarios(ScenarioRegistry& r) {
  r.add(define_scenario("hsdp_replicate_shard", hsdp)
            .summary("HSDP: a model state dict as [Replicate, Shard(0)] on a 2-D mesh (default 2 x world/2) gathers to the full one")
            .min_world(2)
            .world_multiple(2)
            .default_world(4)
            .default_mesh(two_by_half, 2));
  r.add(define_scenario("fsdp_tp_2d", fsdp_tp)
            .summary("FSDP+TP: a model state dict as [Shard(0), Shard(1)] on a 2-D mesh (biases replicated on TP) gathers to the full one")
            .min_world(2)
            .world_multiple(2)
            .default_world(4)
            .default_mesh(two_by_half, 2));
  r.add(define_scenario("distribute_gather_round_trip", distribute_gather_round_trip)
            .summary("every S0/S1/R/P combination on the run's mesh: distribute_tensor gives each rank its chunk, gather gives back the original")
            .default_world(4));
}

}  // namespace shardsim::scenarios
