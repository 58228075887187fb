// Seed scenario state_dict_util_distribute_tensors (reference-semantics §5).
#include <ATen/ATen.h>

#include "shardsim/core/state_dict_utils.h"
#include "shardsim/runner/scenario.h"
#include "seed_common.h"

namespace shardsim::scenarios {

namespace {

// An even (world x 2) and an uneven (1 x 2) Shard(0) DTensor, each paired
// with a different full tensor; distribute_tensors must leave each DTensor
// with its size and stride and the paired tensor as its full value. Full
// tensors come from the shared stream, so every rank holds the same ones.
void distribute_tensors_scenario(ScenarioContext& ctx) {
  const int64_t w = ctx.world_size();
  const DeviceMesh mesh = ctx.mesh_1d();
  const Placements s0{Placement::shard(0)};
  const at::Tensor even_tensor = random_tensor(ctx.shared(), {w, 2}, at::kFloat);
  const at::Tensor uneven_tensor = random_tensor(ctx.shared(), {1, 2}, at::kFloat);
  const at::Tensor even_old = random_tensor(ctx.shared(), {w, 2}, at::kFloat);
  const at::Tensor uneven_old = random_tensor(ctx.shared(), {1, 2}, at::kFloat);
  const DTensor even_dtensor = distribute_tensor(ctx.comm(), even_old, mesh, s0);
  const DTensor uneven_dtensor = distribute_tensor(ctx.comm(), uneven_old, mesh, s0);

  Mapping local_sd{{"even", List{{even_dtensor, even_tensor}}},
                   {"uneven", List{{uneven_dtensor, uneven_tensor}}}};
  const std::vector<std::string> keys{"even", "uneven"};
  const std::vector<const DTensor*> refs{&even_dtensor, &uneven_dtensor};
  const std::vector<at::Tensor> olds{even_old, uneven_old};
  const std::vector<at::Tensor> wanted{even_tensor, uneven_tensor};

  distribute_tensors(local_sd, keys, ctx.device(), ctx.comm());

  for (size_t i = 0; i < keys.size(); ++i) {
    const Value& v = local_sd.at(keys[i]);
    ctx.check(v.is_dtensor(), keys[i] + ": not a DTensor after distribute_tensors but a " + v.type_name());
    const DTensor& d = v.dtensor();
    ctx.check(d.shape() == refs[i]->shape(), keys[i] + ": size changed to " + shape_str(d.shape()));
    ctx.check(d.stride() == refs[i]->stride(), keys[i] + ": stride changed to " + shape_str(d.stride()));
    const at::Tensor full = full_tensor(ctx.comm(), d);
    ctx.check_not_equal(full, olds[i], keys[i] + " full tensor vs the old full tensor");
    ctx.check_equal(full, wanted[i], keys[i] + " full tensor");
    ctx.record(keys[i], full);
  }
}

}  // namespace

void register_seed_distribute_scenarios(ScenarioRegistry& r) {
  r.add(define_scenario("state_dict_util_distribute_tensors", distribute_tensors_scenario)
            .summary("distribute_tensors leaves an even and an uneven Shard(0) DTensor with their size and stride "
                     "and the paired full tensor as their value"));
}

}  // namespace shardsim::scenarios
