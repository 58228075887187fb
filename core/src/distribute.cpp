// distribute_tensors, broadcast_state_dict and distribute_state_dict.
#include <set>

#include <ATen/ATen.h>

#include "shardsim/core/comm.h"
#include "shardsim/core/dtype.h"
#include "shardsim/core/error.h"
#include "shardsim/core/faults.h"
#include "shardsim/core/sharding.h"
#include "shardsim/core/state_dict_utils.h"
#include "shardsim/core/value_codec.h"
#include "distribute_verify.h"

namespace shardsim {

namespace {

// This rank's slice of `full` under `spec`'s mesh and placements (a view).
at::Tensor local_slice(const at::Tensor& full, const DTensorSpec& spec, int64_t world_rank,
                       const std::string& key) {
  const Shape global(full.sizes().begin(), full.sizes().end());
  const LocalLayout layout = compute_local_shape_and_global_offset(
      global, spec.mesh.shape(), spec.mesh.coordinate(world_rank), spec.placements);
  at::Tensor slice = full;
  for (size_t d = 0; d < layout.shape.size(); ++d) {
    // An empty shard reports the global size as its offset: clamp to a valid start.
    const int64_t start = std::min(layout.offset[d], full.size(static_cast<int64_t>(d)));
    slice = slice.narrow(static_cast<int64_t>(d), start, layout.shape[d]);
  }
  return slice;
}

// The (DTensor, full tensor) pair logic of distribute_tensors for one key.
DTensor slice_into(const DTensor& local, const at::Tensor& full, int64_t world_rank,
                   const std::string& key) {
  const Shape global(full.sizes().begin(), full.sizes().end());
  SHARDSIM_CHECK_T(MismatchError, global == local.shape(), key, ": full tensor of shape ",
                   shape_str(global), " for a DTensor of global shape ", shape_str(local.shape()),
                   " on rank ", world_rank);
  SHARDSIM_CHECK_T(MismatchError, full.scalar_type() == local.dtype(), key, ": full tensor of dtype ",
                   dtype_name(full.scalar_type()), " for a DTensor of dtype ",
                   dtype_name(local.dtype()), " on rank ", world_rank);
  const at::Tensor slice = local_slice(full, local.spec(), world_rank, key);
  if (local.local().device().type() == c10::kMeta) {
    return DTensor(slice.detach().clone(at::MemoryFormat::Contiguous), local.spec());
  }
  SHARDSIM_CHECK_T(MismatchError, local.local().sizes() == slice.sizes(), key, ": rank ", world_rank,
                   " holds a local tensor of shape ", shape_str(local.local().sizes().vec()),
                   " but its slice of the full tensor has shape ", shape_str(slice.sizes().vec()));
  at::Tensor dst = local.local();
  dst.copy_(slice);
  return local;
}

int64_t world_rank_of(const Comm& comm) { return comm.members()[comm.rank()]; }

}  // namespace

void distribute_tensors(Mapping& local_state_dict, const std::vector<std::string>& keys,
                        c10::Device device, Comm& comm, const DistributeOptions& options) {
  const int64_t me = world_rank_of(comm);
  // Per key: the full tensor this rank holds (undefined when the key is skipped).
  std::vector<at::Tensor> fulls(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string& key = keys[i];
    Value* v = local_state_dict.find(key);
    if (v == nullptr || v->is_tensor()) continue;
    const std::vector<Value>* pair = v->is_tuple() ? &v->tuple().items
                                                   : (v->is_list() ? &v->list().items : nullptr);
    SHARDSIM_CHECK_ARG(pair != nullptr && pair->size() == 2 && (*pair)[0].is_dtensor() &&
                           (*pair)[1].is_tensor(),
                       key, ": distribute_tensors expects a (DTensor, full tensor) pair, got ",
                       v->type_name());
    fulls[i] = diverge_point(comm, key, (*pair)[1].tensor());
  }
  if (options.verify) verify_same_full_tensors(comm, keys, fulls);
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!fulls[i].defined()) continue;
    const Value& v = local_state_dict.at(keys[i]);
    SHARDSIM_CHECK_ARG(v.is_tuple() || v.is_list(), keys[i],
                       ": distribute_tensors was given this key twice");
    const Value& local = v.is_tuple() ? v.tuple().items[0] : v.list().items[0];
    DTensor out = slice_into(local.dtensor(), fulls[i], me, keys[i]);
    local_state_dict.set(keys[i], out);
  }
}

namespace {

// The description rank 0 broadcasts: per key, ("v", value) for values that
// travel as they are (non-tensors, 0-dim tensors on CPU) or ("t", sizes,
// dtype) for tensors that follow one at a time.
Mapping describe(const Mapping& full) {
  Mapping desc;
  for (size_t i = 0; i < full.size(); ++i) {
    const Value& v = full.value(i);
    if (v.is_dtensor() || v.is_sharded_tensor()) {
      throw InvalidArgument("broadcast_state_dict: " + full.key(i) +
                            " in the full state dict is a " + v.type_name() +
                            " (the full state dict holds plain tensors)");
    }
    if (!v.is_tensor()) {
      desc.set(full.key(i), Tuple{{Value("v"), v}});
    } else if (v.tensor().dim() == 0) {
      desc.set(full.key(i), Tuple{{Value("v"), Value(v.tensor().to(c10::kCPU))}});
    } else {
      List sizes;
      for (int64_t s : v.tensor().sizes()) sizes.items.push_back(s);
      desc.set(full.key(i), Tuple{{Value("t"), Value(sizes), Value(dtype_name(v.tensor().scalar_type()))}});
    }
  }
  return desc;
}

}  // namespace

void broadcast_state_dict(const Mapping& full_state_dict, Mapping& local_state_dict,
                          c10::Device device, Comm& comm, const BroadcastOptions& options) {
  const bool root = comm.rank() == 0;
  const int64_t me = world_rank_of(comm);
  std::string bytes;
  if (root) bytes = encode_value(describe(full_state_dict));
  comm.broadcast_bytes(bytes, /*root=*/0);
  const Value desc_value = decode_value(bytes);
  SHARDSIM_CHECK(desc_value.is_mapping(), "broadcast_state_dict: malformed description");
  const Mapping& desc = desc_value.mapping();

  const std::set<std::string> local_keys(local_state_dict.keys().begin(), local_state_dict.keys().end());
  for (size_t i = 0; i < desc.size(); ++i) {
    const std::string& key = desc.key(i);
    const auto& entry = desc.value(i).tuple().items;
    if (entry[0].as<std::string>() == "v") {
      if (local_state_dict.contains(key)) local_state_dict.set(key, entry[1]);
      continue;
    }
    Shape sizes;
    for (const Value& s : entry[1].list().items) sizes.push_back(s.as<int64_t>());
    const c10::ScalarType dtype = parse_dtype(entry[2].as<std::string>());
    at::Tensor full;
    if (root) {
      full = full_state_dict.at(key).tensor().detach().to(device);
      if (!full.is_contiguous()) full = full.contiguous();
    } else {
      full = at::empty(sizes, at::TensorOptions().dtype(dtype).device(device));
    }
    comm.broadcast(full, /*root=*/0);

    Value* local = local_state_dict.find(key);
    if (local == nullptr) continue;
    Value result = local->is_dtensor() ? Value(slice_into(local->dtensor(), full, me, key)) : Value(full);
    if (options.cpu_offload) {
      const c10::Device cpu(c10::kCPU);
      result = result.is_dtensor() ? Value(result.dtensor().to(cpu))
                                   : Value(full.device().is_cpu() ? full : full.to(cpu));
    }
    local_state_dict.set(key, result);
  }
  if (options.strict) {
    for (const std::string& key : local_keys) {
      if (!desc.contains(key)) local_state_dict.erase(key);
    }
  }
}

void distribute_state_dict(const Mapping& full_state_dict, Mapping& local_state_dict,
                           c10::Device device, Comm& comm) {
  for (size_t i = 0; i < full_state_dict.size(); ++i) {
    const std::string& key = full_state_dict.key(i);
    const Value& value = full_state_dict.value(i);
    if (!value.is_tensor()) {
      local_state_dict.set(key, value);
      continue;
    }
    const at::Tensor& full = value.tensor();
    if (full.dim() == 0) {
      local_state_dict.set(key, full.to(c10::kCPU));
      continue;
    }
    Value* local = local_state_dict.find(key);
    if (local == nullptr) continue;
    if (local->is_dtensor()) {
      const DTensor& d = local->dtensor();
      local_state_dict.set(key, distribute_tensor(comm, full.detach().to(device), d.mesh(),
                                                  d.placements(), device));
    } else {
      local_state_dict.set(key, full.detach().to(device));
    }
  }
}

}  // namespace shardsim
