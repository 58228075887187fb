// Seed scenarios about gathering and offloading (reference-semantics §5):
// gather_state_dict_dtensor, gather_with_cpu_and_ranks_only,
// cpu_and_ranks_only and complicated_dict.
#include <ATen/ATen.h>

#include "shardsim/core/state_dict_utils.h"
#include "shardsim/runner/scenario.h"
#include "seed_common.h"

namespace shardsim::scenarios {

namespace {

// Every rank draws its 3x3x3 local from its own data stream; the oracle
// rebuilds every rank's draw and concatenates along dim 0 with plain ATen.
void gather_state_dict_dtensor(ScenarioContext& ctx) {
  const DeviceMesh mesh = ctx.mesh_1d();
  const at::Tensor local = random_tensor(ctx.data(), {3, 3, 3}, at::kFloat, ctx.device());
  Mapping sd{{"dtensor", from_local(local, mesh, {Placement::shard(0)})}};

  const Value gathered = gather_state_dict(sd, ctx.comm());

  const at::Tensor expected = oracle_gather_dim0(ctx, {3, 3, 3}, /*draws_before=*/0);
  ctx.check_equal(gathered.mapping().at("dtensor"), expected, "dtensor");
  ctx.check_device(gathered.mapping().at("dtensor").tensor(), ctx.device(), "dtensor");
  ctx.record("gathered", gathered);
}

void gather_with_cpu_and_ranks_only(ScenarioContext& ctx) {
  const DeviceMesh mesh = ctx.mesh_1d();
  const at::Tensor local = random_tensor(ctx.data(), {3, 3, 3}, at::kFloat, ctx.device());
  Mapping sd{{"dtensor", from_local(local, mesh, {Placement::shard(0)})}};

  GatherOptions options;
  options.cpu_offload = true;
  options.ranks_only = {0, 2};
  const Value gathered = gather_state_dict(sd, ctx.comm(), c10::nullopt, options);

  if (ctx.rank() == 0 || ctx.rank() == 2) {
    const at::Tensor expected = oracle_gather_dim0(ctx, {3, 3, 3}, 0);
    const at::Tensor& got = gathered.mapping().at("dtensor").tensor();
    ctx.check_equal(got, expected, "dtensor");
    ctx.check_device(got, c10::Device(c10::kCPU), "dtensor");
  } else {
    ctx.check_equal(gathered, Mapping{}, "<gathered state dict>");
  }
  ctx.record("gathered", gathered);
}

void cpu_and_ranks_only(ScenarioContext& ctx) {
  const at::Tensor t1 = at::arange(10, at::TensorOptions().device(ctx.device()));
  const at::Tensor t2 = at::ones({10}, at::TensorOptions().device(ctx.device()));
  Mapping sd{{"tensor1", t1}, {"tensor2", t2}};

  const Value cpu = offload_state_dict_to_cpu(sd, &ctx.comm(), {0, 2});

  if (ctx.rank() == 0 || ctx.rank() == 2) {
    const Mapping& m = cpu.mapping();
    for (size_t i = 0; i < m.size(); ++i) {
      ctx.check_device(m.value(i).tensor(), c10::Device(c10::kCPU), m.key(i));
      if (!ctx.device().is_cpu()) {
        ctx.check(!ScenarioContext::same_storage(m.value(i).tensor(), sd.value(i).tensor()),
                  m.key(i) + ": the offloaded tensor shares storage with the source");
      }
    }
    ctx.check_equal(m.at("tensor1"), at::arange(10), "tensor1");
    ctx.check_equal(m.at("tensor2"), at::ones({10}), "tensor2");
  } else {
    ctx.check_equal(cpu, Mapping{}, "<offloaded state dict>");
  }
  ctx.record("offloaded", cpu);
}

// A dict with a DTensor, a list of 10 DTensors interleaved with plain
// tensors, and a plain tensor; every DTensor draws a fresh local.
void complicated_dict(ScenarioContext& ctx) {
  const DeviceMesh mesh = ctx.mesh_1d();
  const auto on_device = at::TensorOptions().device(ctx.device());
  const int64_t kPairs = 10;

  List dist_list;
  for (int64_t i = 0; i < kPairs; ++i) {
    const at::Tensor local = random_tensor(ctx.data(), {3, 3, 3}, at::kFloat, ctx.device());
    dist_list.items.push_back(from_local(local, mesh, {Placement::shard(0)}));
    dist_list.items.push_back(at::ones({10}, on_device));
  }
  const at::Tensor local = random_tensor(ctx.data(), {3, 3, 3}, at::kFloat, ctx.device());
  Mapping dist_sd{{"local", from_local(local, mesh, {Placement::shard(0)})},
                  {"list", dist_list},
                  {"arange", at::arange(10, on_device)}};

  const Value gathered = gather_state_dict(dist_sd, ctx.comm());

  List expected_list;
  for (int64_t i = 0; i < kPairs; ++i) {
    expected_list.items.push_back(oracle_gather_dim0(ctx, {3, 3, 3}, i));
    expected_list.items.push_back(at::ones({10}));
  }
  Mapping expected{{"local", oracle_gather_dim0(ctx, {3, 3, 3}, kPairs)},
                   {"list", expected_list},
                   {"arange", at::arange(10)}};
  ctx.check_equal(gathered, expected, "");
  ctx.record("gathered", gathered);
}

}  // namespace

void register_seed_gather_scenarios(ScenarioRegistry& r) {
  r.add(define_scenario("gather_state_dict_dtensor", gather_state_dict_dtensor)
            .summary("a Shard(0) DTensor of per-rank random 3x3x3 locals gathers to their concatenation, on the mesh's device"));
  r.add(define_scenario("gather_with_cpu_and_ranks_only", gather_with_cpu_and_ranks_only)
            .summary("the same gather with cpu_offload and ranks_only=(0,2): ranks 0 and 2 get it on CPU, others {}")
            .min_world(3)
            .default_world(4));
  r.add(define_scenario("cpu_and_ranks_only", cpu_and_ranks_only)
            .summary("offload_state_dict_to_cpu with ranks_only=(0,2): listed ranks get CPU copies, others {}")
            .min_world(3)
            .default_world(4));
  r.add(define_scenario("complicated_dict", complicated_dict)
            .summary("a dict with a DTensor, a list of 10 DTensors interleaved with tensors, and a tensor gathers value for value")
            .default_world(4));
}

}  // namespace shardsim::scenarios
