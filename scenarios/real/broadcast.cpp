// broadcast_state_dict (rank 0 holds the full state dict) with and without
// strict and cpu_offload, and distribute_state_dict (every rank holds one,
// rank 0's data wins).
#include <ATen/ATen.h>

#include "real_common.h"
#include "shardsim/core/state_dict_utils.h"

namespace shardsim::scenarios {

namespace {

// The full state dict, from the shared stream (so every rank can rebuild it
// as an oracle even though only rank 0 passes it).
Mapping full_state(Random& shared) {
  return Mapping{{"w1", random_tensor(shared, {7, 3}, at::kFloat)},
                 {"w2", random_tensor(shared, {4}, at::kFloat)},
                 {"w3", random_tensor(shared, {5, 2}, at::kBFloat16)},
                 {"step", at::tensor(int64_t{12}).reshape({})},
                 {"lr", 0.5},
                 {"name", "adamw"},
                 {"full_only", random_tensor(shared, {2}, at::kFloat)}};
}

// Each rank's local state dict before the call: w1 a Shard(0) DTensor with
// real storage, w3 a DTensor on the meta device (no storage), w2 a plain
// tensor, scalars with stale values, and a key the full dict lacks.
Mapping local_state(ScenarioContext& ctx, const DeviceMesh& mesh) {
  const Placements s0{Placement::shard(0)};
  const at::Tensor stale = at::zeros({7, 3});
  Mapping local;
  local.set("w1", shard_tree(ctx, stale, mesh, s0));
  const Shape w3_local = chunk_oracle(at::empty({5, 2}), mesh.shape(), mesh.coordinate(ctx.rank()), s0).sizes().vec();
  local.set("w3", from_local(at::empty(w3_local, at::TensorOptions().dtype(at::kBFloat16).device(c10::kMeta)),
                             mesh, s0, Shape{5, 2}, Shape{2, 1}));
  local.set("w2", at::zeros({4}, at::TensorOptions().device(ctx.device())));
  local.set("step", at::tensor(int64_t{0}).reshape({}));
  local.set("lr", 0.0);
  local.set("local_only", int64_t{42});
  return local;
}

void check_broadcast(ScenarioContext& ctx, const Mapping& full, const Mapping& local, const DeviceMesh& mesh,
                     bool strict, bool cpu_offload) {
  const std::string label = std::string("strict=") + (strict ? "true" : "false") +
                            " cpu_offload=" + (cpu_offload ? "true" : "false") + ": ";
  const c10::Device want_device = cpu_offload ? c10::Device(c10::kCPU) : ctx.device();
  const Shape coord = mesh.coordinate(ctx.rank());
  for (const char* key : {"w1", "w3"}) {
    const DTensor& d = local.at(key).dtensor();
    ctx.check_equal(d.local(), chunk_oracle(full.at(key).tensor(), mesh.shape(), coord, d.placements()),
                    label + key + " local");
    ctx.check_device(d.local(), want_device, label + key + " local");
  }
  ctx.check_equal(local.at("w2"), full.at("w2"), label + "w2");
  ctx.check_device(local.at("w2").tensor(), want_device, label + "w2");
  ctx.check_equal(local.at("step"), full.at("step"), label + "step");
  ctx.check_equal(local.at("lr"), 0.5, label + "lr");
  ctx.check(!local.contains("name"), label + "'name' was added although the local dict lacks it");
  ctx.check(!local.contains("full_only"), label + "'full_only' was added although the local dict lacks it");
  ctx.check(local.contains("local_only") != strict,
            label + (strict ? "'local_only' survived strict" : "'local_only' was dropped without strict"));
}

void broadcast_from_rank0(ScenarioContext& ctx) {
  const DeviceMesh mesh = ctx.mesh_1d();
  const Mapping full = full_state(ctx.shared());
  const Mapping nothing;
  for (bool strict : {false, true}) {
    for (bool cpu_offload : {false, true}) {
      Mapping local = local_state(ctx, mesh);
      BroadcastOptions o;
      o.strict = strict;
      o.cpu_offload = cpu_offload;
      broadcast_state_dict(ctx.rank() == 0 ? full : nothing, local, ctx.device(), ctx.comm(), o);
      check_broadcast(ctx, full, local, mesh, strict, cpu_offload);
      ctx.record("local", local);
    }
  }
}

// Every rank holds a full state dict, but ranks other than 0 hold a
// perturbed copy: DTensors must end up with rank 0's data (distribute_tensor
// semantics), plain tensors with the rank's own.
void distribute_rank0_wins(ScenarioContext& ctx) {
  const DeviceMesh mesh = ctx.mesh_1d();
  const Mapping rank0 = full_state(ctx.shared());
  Mapping mine;
  for (size_t i = 0; i < rank0.size(); ++i) {
    const Value& v = rank0.value(i);
    const bool perturb = ctx.rank() != 0 && v.is_tensor() && v.tensor().dim() > 0;
    mine.set(rank0.key(i), perturb ? Value(v.tensor() + static_cast<double>(ctx.rank())) : v);
  }
  Mapping local = local_state(ctx, mesh);
  local.erase("w3");  // a tensor key missing locally is skipped
  distribute_state_dict(mine, local, ctx.device(), ctx.comm());

  const Shape coord = mesh.coordinate(ctx.rank());
  const DTensor& w1 = local.at("w1").dtensor();
  ctx.check_equal(w1.local(), chunk_oracle(rank0.at("w1").tensor(), mesh.shape(), coord, w1.placements()),
                  "w1 local (rank 0's data)");
  ctx.check_device(w1.local(), ctx.device(), "w1 local");
  ctx.check_equal(local.at("w2"), mine.at("w2"), "w2 (this rank's own full tensor)");
  ctx.check_equal(local.at("step"), rank0.at("step"), "step");
  ctx.check_equal(local.at("lr"), 0.5, "lr");
  ctx.check_equal(local.at("name"), "adamw", "name");
  ctx.check(!local.contains("w3") && !local.contains("full_only"), "a tensor key missing locally was added");
  ctx.check_equal(local.at("local_only"), int64_t{42}, "local_only");
  ctx.record("local", local);
}

}  // namespace

void register_broadcast_scenarios(ScenarioRegistry& r) {
  r.add(define_scenario("broadcast_state_dict", broadcast_from_rank0)
            .summary("rank 0 broadcasts its full state dict: DTensors (real and meta) keep their slice, plain tensors the full "
                     "value, with and without strict and cpu_offload")
            .default_world(3));
  r.add(define_scenario("distribute_state_dict", distribute_rank0_wins)
            .summary("every rank holds a full state dict (perturbed off rank 0): DTensors take rank 0's slice, plain tensors the "
                     "rank's own")
            .default_world(3));
}

}  // namespace shardsim::scenarios
