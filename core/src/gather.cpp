// gather_state_dict and offload_state_dict_to_cpu.
#include <ATen/ATen.h>

#include "shardsim/core/comm.h"
#include "shardsim/core/error.h"
#include "shardsim/core/state_dict_utils.h"
#include "shardsim/core/traversal.h"

namespace shardsim {

namespace {

// The device a DTensor is gathered on: its mesh's device type, preferring the
// rank's own device of that type.
c10::Device mesh_device(const DTensor& t, const Comm& comm) {
  const c10::DeviceType type = t.mesh().device_type();
  if (t.device().type() == type) return t.device();
  if (comm.device().type() == type) return comm.device();
  return c10::Device(type);
}

// Group rank of the member whose world rank is `world_rank`, or -1.
int64_t group_rank_of(const Comm& comm, int64_t world_rank) {
  const auto& members = comm.members();
  for (size_t i = 0; i < members.size(); ++i) {
    if (members[i] == world_rank) return static_cast<int64_t>(i);
  }
  return -1;
}

// Gathers a ShardedTensor: every member contributes its local shards (in the
// order of the tensor's shards metadata), and every shard is placed by its
// metadata offsets, so any valid tiling gathers correctly.
at::Tensor gather_sharded_tensor(const ShardedTensor& st, Comm& comm, const std::string& path,
                                 bool discard) {
  const int64_t n = comm.size();
  const auto& all = st.shards_metadata();
  std::vector<std::vector<const ShardMetadata*>> owned(n);
  for (const ShardMetadata& m : all) {
    const int64_t g = group_rank_of(comm, m.rank());
    SHARDSIM_CHECK(g >= 0, path, ": shard ", m, " is placed on rank ", m.rank(),
                   ", which is not in process group ", comm.name());
    owned[g].push_back(&m);
  }
  std::vector<int64_t> counts(n, 0);
  for (int64_t g = 0; g < n; ++g) {
    for (const ShardMetadata* m : owned[g]) counts[g] += numel_of(m->sizes);
  }

  // This rank's contribution, flattened in metadata order.
  const int64_t me = comm.rank();
  c10::Device out_device(c10::kCPU);
  std::vector<at::Tensor> mine;
  for (const ShardMetadata* m : owned[me]) {
    const LocalShard* found = nullptr;
    for (const LocalShard& s : st.local_shards()) {
      if (s.metadata == *m) found = &s;
    }
    SHARDSIM_CHECK(found != nullptr, path, ": rank ", comm.members()[me], " does not hold shard ",
                   *m, " that the metadata places on it");
    mine.push_back(found->tensor.reshape({-1}));
  }
  if (!st.local_shards().empty()) out_device = st.local_shards()[0].tensor.device();
  at::Tensor input = mine.empty() ? at::empty({0}, at::TensorOptions().dtype(st.dtype()))
                                  : (mine.size() == 1 ? mine[0].contiguous() : at::cat(mine));

  if (discard) {
    comm.all_gather(input, counts, PieceSink());
    return at::Tensor();
  }
  const at::Tensor flat = comm.all_gather_flat(input, counts);
  at::Tensor out = at::empty(st.size(), at::TensorOptions().dtype(st.dtype()).device(out_device));
  int64_t offset = 0;
  for (int64_t g = 0; g < n; ++g) {
    for (const ShardMetadata* m : owned[g]) {
      const int64_t numel = numel_of(m->sizes);
      if (numel > 0) {
        at::Tensor dst = out;
        for (size_t d = 0; d < m->sizes.size(); ++d) {
          dst = dst.narrow(static_cast<int64_t>(d), m->offsets[d], m->sizes[d]);
        }
        dst.copy_(flat.narrow(0, offset, numel).view(m->sizes));
      }
      offset += numel;
    }
  }
  return out;
}

}  // namespace

Value gather_state_dict(const Value& state_dict, Comm& comm, c10::optional<c10::Device> device,
                        const GatherOptions& options) {
  TraversalHooks hooks = identity_hooks();
  // A rank that ranks_only does not list joins every collective but drops
  // the results, so it does not materialise them.
  // With cpu_offload, the last collective receives straight into CPU memory
  // (the traversal would copy it there anyway).
  const bool offload = options.cpu_offload;
  hooks.dtensor = [&comm, offload](const DTensor& t, const HookContext& ctx) -> Value {
    const c10::Device dev = mesh_device(t, comm);
    const DTensor on_device = t.device() == dev ? t : t.to(dev);
    if (!ctx.listed) {
      full_tensor_discard(comm, on_device);
      return None{};
    }
    return full_tensor(comm, on_device,
                       offload ? c10::optional<c10::Device>(c10::Device(c10::kCPU)) : c10::nullopt);
  };
  hooks.sharded_tensor = [&comm](const ShardedTensor& t, const HookContext& ctx) -> Value {
    at::Tensor full = gather_sharded_tensor(t, comm, ctx.path, !ctx.listed);
    if (!full.defined()) return None{};
    return full;
  };
  TraversalOptions opts;
  opts.comm = &comm;
  opts.device = device;
  opts.cpu_offload = options.cpu_offload;
  opts.ranks_only = options.ranks_only;
  opts.type_check = options.type_check;
  return iterate_state_dict(state_dict, hooks, opts);
}

Value offload_state_dict_to_cpu(const Value& state_dict, Comm* comm,
                                const std::vector<int64_t>& ranks_only, bool type_check) {
  TraversalOptions opts;
  opts.comm = comm;
  opts.cpu_offload = true;
  opts.ranks_only = ranks_only;
  opts.type_check = type_check;
  return iterate_state_dict(state_dict, identity_hooks(), opts);
}

}  // namespace shardsim
