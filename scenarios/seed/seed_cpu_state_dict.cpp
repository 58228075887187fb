// Seed scenarios about CPU state dicts (reference-semantics §5):
// create_cpu_state_dict (all four pin/share combinations, and the lifetime
// of page-locked shared memory) and cpu_offload_for_dtensor.
#include <ATen/ATen.h>

#include "shardsim/core/host_memory.h"
#include "shardsim/core/state_dict_utils.h"
#include "shardsim/core/value_codec.h"
#include "shardsim/runner/scenario.h"
#include "seed_common.h"

namespace shardsim::scenarios {

namespace {

const c10::Device kCpu(c10::kCPU);

// A column-wise ShardedTensor of global size [4, 2*world]: rank r owns
// columns [2r, 2r+2), drawn from its data stream.
ShardedTensor column_sharded(ScenarioContext& ctx) {
  const int64_t w = ctx.world_size();
  std::vector<ShardMetadata> all;
  for (int64_t r = 0; r < w; ++r) {
    all.push_back(ShardMetadata{{0, 2 * r}, {4, 2}, shard_placement(r, ctx.device())});
  }
  const at::Tensor mine = random_tensor(ctx.data(), {4, 2}, at::kFloat, ctx.device());
  return ShardedTensor({4, 2 * w}, {LocalShard{mine, all[static_cast<size_t>(ctx.rank())]}}, all);
}

// Every tensor leaf of a state dict (plain, DTensor local, ShardedTensor
// shards) with its path.
void for_each_tensor(const Mapping& sd, const std::function<void(const std::string&, const at::Tensor&)>& f) {
  for (size_t i = 0; i < sd.size(); ++i) {
    const Value& v = sd.value(i);
    if (v.is_tensor()) f(sd.key(i), v.tensor());
    if (v.is_dtensor()) f(sd.key(i) + ".local", v.dtensor().local());
    if (v.is_sharded_tensor()) {
      for (size_t s = 0; s < v.sharded_tensor().local_shards().size(); ++s) {
        f(sd.key(i) + ".shard" + std::to_string(s), v.sharded_tensor().local_shards()[s].tensor);
      }
    }
  }
}

void verify_cpu_state_dict(ScenarioContext& ctx, const Mapping& sd, Mapping& cpu, const CreateCpuOptions& o,
                           const std::string& label) {
  const std::string at = label + ": ";
  // The similarity check holds, fails when one tensor's size changes, and never writes.
  ctx.check(check_state_dict_similarity(sd, cpu), at + "state dicts not similar: " +
                                                      state_dict_similarity_difference(sd, cpu).value_or(""));
  const Value tensor1 = cpu.at("tensor1");
  cpu.set("tensor1", at::arange(11));
  ctx.check(!check_state_dict_similarity(sd, cpu), at + "similar although tensor1 has 11 elements");
  cpu.set("tensor1", tensor1);
  ctx.check(is_poisoned(cpu.at("tensor2").tensor()), at + "tensor2 was written before the copy");
  ctx.check_not_equal(cpu.at("tensor2"), at::ones({10}), at + "tensor2 before the copy");

  copy_state_dict(sd, cpu);

  for_each_tensor(cpu, [&](const std::string& path, const at::Tensor& t) {
    ctx.check_device(t, kCpu, at + path);
  });
  const auto distinct = [&](const at::Tensor& src, const at::Tensor& dst, const std::string& path) {
    ctx.check(!ScenarioContext::same_storage(src, dst), at + path + " shares storage with the source");
  };
  distinct(sd.at("tensor1").tensor(), cpu.at("tensor1").tensor(), "tensor1");
  distinct(sd.at("tensor2").tensor(), cpu.at("tensor2").tensor(), "tensor2");
  distinct(sd.at("dtensor").dtensor().local(), cpu.at("dtensor").dtensor().local(), "dtensor.local");
  distinct(sd.at("sharded").sharded_tensor().local_shards()[0].tensor,
           cpu.at("sharded").sharded_tensor().local_shards()[0].tensor, "sharded.shard0");
  ctx.check_equal(cpu.at("tensor1"), at::arange(10), at + "tensor1");
  ctx.check_equal(cpu.at("tensor2"), at::ones({10}), at + "tensor2");
  const int64_t r = ctx.rank();
  ctx.check_equal(cpu.at("dtensor").dtensor().local(), at::arange(50 * r, 50 + 50 * r).reshape({5, 10}),
                  at + "dtensor.local");
  ctx.check(cpu.at("dtensor").dtensor().spec() == sd.at("dtensor").dtensor().spec(),
            at + "dtensor.spec differs: " + cpu.at("dtensor").dtensor().spec().str());
  ctx.check_equal(cpu.at("sharded").sharded_tensor().local_shards()[0].tensor,
                  sd.at("sharded").sharded_tensor().local_shards()[0].tensor, at + "sharded.shard0");
  ctx.check_equal(cpu.at("non_tensor_bytes_io"), sd.at("non_tensor_bytes_io"), at + "non_tensor_bytes_io");
  ctx.check_equal(cpu.at("non_tensor_bytes"), sd.at("non_tensor_bytes"), at + "non_tensor_bytes");
  ctx.check_equal(cpu.at("lr"), 1.5, at + "lr");
  ctx.check_equal(cpu.at("step"), at::tensor(7.0f).reshape({}), at + "step");
  ctx.check_equal(cpu.at("nested"), Mapping{{"list", List{{1, 2, 3, 4}}}}, at + "nested");
  if (o.pin_memory) ctx.check(is_page_locked(cpu.at("tensor1").tensor()), at + "tensor1 is not page-locked");
  if (o.share_memory) ctx.check(is_shared(cpu.at("tensor1").tensor()), at + "tensor1 is not shared");
}

void create_cpu_state_dict_scenario(ScenarioContext& ctx) {
  const auto dev = at::TensorOptions().device(ctx.device());
  const int64_t w = ctx.world_size();
  const DeviceMesh mesh = ctx.mesh_1d();
  const std::string blob = encode_value(at::ones({10}));
  Mapping sd{
      {"tensor1", at::arange(10, dev)},
      {"tensor2", at::ones({10}, dev)},
      {"dtensor", distribute_tensor(ctx.comm(), at::arange(50 * w, dev).reshape({5 * w, 10}), mesh,
                                    {Placement::shard(0)})},
      {"sharded", column_sharded(ctx)},
      {"non_tensor_bytes_io", ByteStream{blob, 0}},
      {"non_tensor_bytes", Bytes{blob}},
      {"step", at::tensor(7.0f).reshape({})},
      {"lr", 1.5},
      {"nested", Mapping{{"list", List{{1, 2, 3, 4}}}}},
  };

  HostMemory& host = ctx.host_memory();
  const HostMemoryStats baseline = host.stats();
  for (bool share : {false, true}) {
    for (bool pin : {false, true}) {
      const CreateCpuOptions o{pin, share};
      const std::string label = std::string("pin_memory=") + (pin ? "true" : "false") +
                                " share_memory=" + (share ? "true" : "false");
      Value created = create_cpu_state_dict(sd, host, o);
      Mapping& cpu = created.mapping();
      verify_cpu_state_dict(ctx, sd, cpu, o, label);
      if (!(pin && share)) continue;

      // The lifetime check: registrations are released exactly once, when the
      // last tensor or view of their storage dies, never while one lives.
      const HostMemoryStats live = host.stats();
      ctx.check(live.live_registrations > baseline.live_registrations, label + ": nothing was page-locked");
      at::Tensor view = cpu.at("tensor2").tensor().narrow(0, 2, 5);
      auto weak1 = cpu.at("tensor1").tensor().storage().getWeakStorageImpl();
      auto weak2 = cpu.at("tensor2").tensor().storage().getWeakStorageImpl();
      cpu.erase("tensor1");
      ctx.check(weak1.expired(), label + ": tensor1's storage outlived its last tensor");
      ctx.check_equal(host.stats().total_released - live.total_released, int64_t{1},
                      label + ": registrations released after dropping tensor1");
      created = Value();  // drop the dict; `view` keeps tensor2's storage alive
      ctx.check(!weak2.expired(), label + ": tensor2's storage died while a view of it lives");
      ctx.check(host.stats().live_registrations == baseline.live_registrations + 1,
                label + ": expected exactly tensor2's registration to live while its view does, got " +
                    std::to_string(host.stats().live_registrations - baseline.live_registrations));
      view = at::Tensor();
      ctx.check(weak2.expired(), label + ": tensor2's storage outlived its last view");
      const HostMemoryStats after = host.stats();
      ctx.check_equal(after.live_registrations, baseline.live_registrations, label + ": live registrations");
      ctx.check_equal(after.locked_bytes, baseline.locked_bytes, label + ": locked bytes");
      ctx.check_equal(after.double_releases, int64_t{0}, label + ": double releases");
      ctx.check_equal(after.total_released - baseline.total_released,
                      after.total_registered - baseline.total_registered, label + ": released vs registered");
      ctx.check_equal(after.live_shared_segments, baseline.live_shared_segments, label + ": live shared segments");
    }
  }
  ctx.record("state_dict", sd);
}

void cpu_offload_for_dtensor(ScenarioContext& ctx) {
  const DeviceMesh mesh = ctx.mesh_1d();
  Mapping sd{{"k", from_local(at::ones({8, 8}, at::TensorOptions().device(ctx.device())), mesh,
                              {Placement::shard(0)})}};
  Value created = create_cpu_state_dict(sd, ctx.host_memory());
  Mapping& cpu_sd = created.mapping();

  ctx.check(cpu_sd.at("k").is_dtensor(), "k: create_cpu_state_dict did not keep the DTensor");
  ctx.check_device(cpu_sd.at("k").dtensor().local(), kCpu, "k.local (created)");
  if (!ctx.device().is_cpu()) {
    ctx.check(!sd.at("k").dtensor().local().device().is_cpu(), "k.local (source) is on CPU");
  }
  const auto local_of = [](const Mapping& m) { return Value(m.at("k").dtensor().local()); };
  ctx.check_not_equal(local_of(cpu_sd), sd.at("k").dtensor().local().to(kCpu), "k before the copy");
  copy_state_dict(sd, cpu_sd, /*non_blocking=*/true);
  ctx.check_equal(local_of(cpu_sd), sd.at("k").dtensor().local().to(kCpu), "k after the copy");
  at::Tensor src = sd.at("k").dtensor().local();
  src.add_(1);
  ctx.check_not_equal(local_of(cpu_sd), src.to(kCpu), "k after the source changed");
  copy_state_dict(sd, cpu_sd, /*non_blocking=*/true);
  ctx.check_equal(local_of(cpu_sd), at::full({8, 8}, 2.0f), "k after the second copy");
  ctx.record("cpu_state_dict", cpu_sd);
}

}  // namespace

void register_seed_cpu_state_dict_scenarios(ScenarioRegistry& r) {
  r.add(define_scenario("create_cpu_state_dict", create_cpu_state_dict_scenario)
            .summary("create_cpu_state_dict for every pin/share combination: similarity, copy into distinct CPU "
                     "storage, and the exactly-once release of page-locked shared memory"));
  r.add(define_scenario("cpu_offload_for_dtensor", cpu_offload_for_dtensor)
            .summary("create_cpu_state_dict of an 8x8 Shard(0) DTensor gives a CPU DTensor that copy_state_dict "
                     "(non_blocking) keeps equal to its source"));
}

}  // namespace shardsim::scenarios
