// Scenarios that show fault detection at work. distribute_tensors_verified:
// distribute_tensors relies on every rank passing the same full tensors; with
// DistributeOptions::verify it checks that contract (a digest per key, one
// all-gather) before it writes, so a rank whose full tensor diverged is named
// instead of silently holding a wrong slice.
#include <ATen/ATen.h>

#include "shardsim/core/state_dict_utils.h"
#include "shardsim/runner/scenario.h"
#include "shardsim/scenarios/builtin.h"

namespace shardsim::scenarios {

using namespace shardsim::runner;

namespace {

void distribute_tensors_verified(ScenarioContext& ctx) {
  const int64_t w = ctx.world_size();
  const DeviceMesh mesh = ctx.mesh_1d();
  const Placements s0{Placement::shard(0)};
  const at::Tensor even = random_tensor(ctx.shared(), {w, 3}, at::kFloat);
  const at::Tensor uneven = random_tensor(ctx.shared(), {1, 3}, at::kFloat);
  const DTensor even_dt = distribute_tensor(ctx.comm(), at::zeros({w, 3}), mesh, s0);
  const DTensor uneven_dt = distribute_tensor(ctx.comm(), at::zeros({1, 3}), mesh, s0);
  Mapping sd{{"even", List{{even_dt, even}}}, {"uneven", List{{uneven_dt, uneven}}}};

  DistributeOptions options;
  options.verify = true;
  distribute_tensors(sd, {"even", "uneven"}, ctx.device(), ctx.comm(), options);

  // Oracle: the full tensors every rank drew from the shared stream.
  ctx.check_equal(full_tensor(ctx.comm(), sd.at("even").dtensor()), even, "even");
  ctx.check_equal(full_tensor(ctx.comm(), sd.at("uneven").dtensor()), uneven, "uneven");
  ctx.record("even", even);
  ctx.record("uneven", uneven);
}

}  // namespace

void register_fault_scenarios(ScenarioRegistry& r) {
  r.add(define_scenario("distribute_tensors_verified", distribute_tensors_verified)
            .summary("distribute_tensors with verify: every rank's full tensors are checked to agree before "
                     "the slices are taken"));
}

}  // namespace shardsim::scenarios
