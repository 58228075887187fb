// Law 5, first half: distribute_tensors, broadcast_state_dict and
// distribute_state_dict leave each rank exactly its slice.
//
// Vocabulary: the case's top-level entries are the keys. A key whose name
// ends in "_absent" is missing from every rank's local state dict (the
// operations must skip it, or set it where the contract says so); every
// local state dict also holds the extra key "~local_only", which only
// broadcast_state_dict with strict removes. *Decoys*: where a contract says
// a rank's own copy of the full state dict is ignored (broadcast off rank 0)
// or loses to rank 0's (distribute_state_dict), the other ranks hold
// different values, so a wrong source shows.
#include <ATen/ATen.h>

#include "laws.h"
#include "shardsim/core/random.h"
#include "shardsim/core/state_dict_utils.h"

namespace shardsim::properties::detail {

namespace {

const char* const kLocalOnly = "~local_only";

bool absent(const std::string& key) {
  const std::string suffix = "_absent";
  return key.size() >= suffix.size() &&
         key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The full state dict as `rank` holds it: plain tensors (DTensor nodes as
// their full values) and scalars; decoy values unless `rank` is 0.
Mapping full_state_dict(LawContext& law, int64_t rank, c10::Device device) {
  FullValueCache decoys(derive_seed(law.c.data_seed, 0xdec0 + static_cast<uint64_t>(rank)));
  FullValueCache& values = rank == 0 ? law.values : decoys;
  RankBuild b = law.build();
  b.values = &values;
  Mapping full;
  const CaseNode& sd = law.c.state_dict;
  for (size_t i = 0; i < sd.items.size(); ++i) {
    const CaseNode& n = sd.items[i];
    if (n.is_tensor_node()) {
      full.set(sd.keys[i], values.get(n, 0).to(device, n.dtype, false, /*copy=*/true));
    } else {
      full.set(sd.keys[i], build_rank_value(n, b));
    }
  }
  return full;
}

// The DTensor a rank starts from: its spec, and a local tensor of the
// oracle's shape (on `device`, or without storage) holding stale values.
DTensor template_dtensor(LawContext& law, const CaseNode& n, bool meta) {
  const DTensor fresh = build_dtensor(n, law.build());
  const at::Tensor& l = fresh.local();
  at::Tensor local =
      meta ? at::empty(l.sizes(), l.options().device(c10::kMeta))
           : place_like_node(additive_identity_like(l).add_(at::ones_like(l)), n, l.device());
  return DTensor(local, fresh.spec());
}

// This rank's slice of `full` by the chunk oracle (Partial ignored, as
// compute_local_shape_and_global_offset does).
at::Tensor slice_of(LawContext& law, const CaseNode& n, const at::Tensor& full) {
  const Shape coord = oracle_coordinate(law.ctx.rank(), law.c.mesh);
  return oracle_piece(full, oracle_layout(n.shape, law.c.mesh, coord, n.placements));
}

// The local state dict every rank starts from.
Mapping local_state_dict(LawContext& law, bool meta) {
  Mapping local;
  const CaseNode& sd = law.c.state_dict;
  for (size_t i = 0; i < sd.items.size(); ++i) {
    const CaseNode& n = sd.items[i];
    if (absent(sd.keys[i])) continue;
    if (n.kind == CaseNode::Kind::kDTensor) {
      local.set(sd.keys[i], template_dtensor(law, n, meta));
    } else if (n.kind == CaseNode::Kind::kTensor) {
      local.set(sd.keys[i], at::zeros({1}, at::TensorOptions().device(law.ctx.device())));
    } else {
      local.set(sd.keys[i], Value("stale"));
    }
  }
  local.set(kLocalOnly, int64_t{7});
  return local;
}

void check_dtensor(LawContext& law, const std::string& key, const Value* got, const DTensor& before,
                   const at::Tensor& want, c10::Device device, bool in_place) {
  auto& ctx = law.ctx;
  ctx.check(got != nullptr && got->is_dtensor(),
            law.at(key) + ": expected a DTensor, got " + (got ? got->type_name() : "nothing"));
  const DTensor& d = got->dtensor();
  ctx.check(d.spec() == before.spec(),
            law.at(key) + ": spec " + d.spec().str() + " vs " + before.spec().str());
  ctx.check_equal(Value(d.local()), Value(want), law.at(key) + " local");
  ctx.check_device(d.local(), device, law.at(key) + " local");
  if (in_place && want.numel() > 0) {
    ctx.check(d.local().is_same(before.local()),
              law.at(key) + ": the slice must be copied into the existing local tensor");
  }
}

}  // namespace

void law_distribute_tensors(LawContext& law) {
  auto& ctx = law.ctx;
  const CaseNode& sd = law.c.state_dict;
  const bool meta = law.c.operation.meta_local;
  Mapping local = local_state_dict(law, meta);
  std::vector<std::string> keys;
  Mapping before = local;
  for (size_t i = 0; i < sd.items.size(); ++i) {
    const CaseNode& n = sd.items[i];
    const std::string& key = sd.keys[i];
    // Scalars are not (DTensor, tensor) pairs: the operation refuses them.
    if (n.is_tensor_node() || absent(key)) keys.push_back(key);
    if (n.kind != CaseNode::Kind::kDTensor || absent(key)) continue;
    const at::Tensor full = law.values.get(n).to(ctx.device(), n.dtype, false, true);
    local.set(key, Tuple{{local.at(key), Value(full)}});
  }
  distribute_tensors(local, keys, ctx.device(), ctx.comm());

  for (size_t i = 0; i < sd.items.size(); ++i) {
    const CaseNode& n = sd.items[i];
    const std::string& key = sd.keys[i];
    if (absent(key)) {
      ctx.check(!local.contains(key), law.at(key) + ": a missing key must stay missing");
      continue;
    }
    if (n.kind == CaseNode::Kind::kDTensor) {
      const at::Tensor want = slice_of(law, n, law.values.get(n));
      check_dtensor(law, key, local.find(key), before.at(key).dtensor(), want, ctx.device(), !meta);
    } else {
      ctx.check(local.at(key).is_tensor() ? local.at(key).tensor().is_same(before.at(key).tensor())
                                          : local.at(key) == before.at(key),
                law.at(key) + ": a key without a (DTensor, tensor) pair must be left alone");
    }
  }
  ctx.check(local.contains(kLocalOnly), law.at(kLocalOnly) + ": a local-only key was removed");
  ctx.record("local", local);
}

void law_broadcast_state_dict(LawContext& law) {
  auto& ctx = law.ctx;
  const auto& op = law.c.operation;
  const CaseNode& sd = law.c.state_dict;
  const c10::Device cpu(c10::kCPU);
  const Mapping full = full_state_dict(law, ctx.rank(), ctx.device());
  Mapping local = local_state_dict(law, /*meta=*/false);
  const Mapping before = local;
  BroadcastOptions options;
  options.strict = op.strict;
  options.cpu_offload = op.cpu_offload;
  broadcast_state_dict(full, local, ctx.device(), ctx.comm(), options);

  for (size_t i = 0; i < sd.items.size(); ++i) {
    const CaseNode& n = sd.items[i];
    const std::string& key = sd.keys[i];
    const Value* got = local.find(key);
    if (absent(key)) {
      ctx.check(got == nullptr,
                law.at(key) + ": a key the local state dict lacks must stay missing");
      continue;
    }
    if (!n.is_tensor_node()) {
      ctx.check_equal(*got, build_rank_value(n, law.build()), law.at(key));
      continue;
    }
    const at::Tensor root_full = law.values.get(n, 0);
    if (n.shape.empty()) {  // 0-dim tensors travel as CPU values
      ctx.check(got->is_tensor(), law.at(key) + ": a 0-dim tensor must arrive as a tensor");
      ctx.check_equal(*got, Value(root_full), law.at(key));
      ctx.check_device(got->tensor(), cpu, law.at(key));
      continue;
    }
    const c10::Device where = op.cpu_offload ? cpu : ctx.device();
    if (n.kind == CaseNode::Kind::kDTensor) {
      check_dtensor(law, key, got, before.at(key).dtensor(), slice_of(law, n, root_full), where,
                    !op.cpu_offload);
    } else {
      ctx.check(got->is_tensor(),
                law.at(key) + ": a plain local value must become the full tensor");
      ctx.check_equal(*got, Value(root_full), law.at(key));
      ctx.check_device(got->tensor(), where, law.at(key));
    }
  }
  ctx.check(local.contains(kLocalOnly) == !op.strict,
            law.at(kLocalOnly) + (op.strict ? ": strict must remove a key the full state dict lacks"
                                            : ": without strict a local-only key stays"));
  ctx.record("local", local);
}

void law_distribute_state_dict(LawContext& law) {
  auto& ctx = law.ctx;
  const CaseNode& sd = law.c.state_dict;
  const c10::Device cpu(c10::kCPU);
  const Mapping full = full_state_dict(law, ctx.rank(), ctx.device());
  Mapping local = local_state_dict(law, /*meta=*/false);
  const Mapping before = local;
  distribute_state_dict(full, local, ctx.device(), ctx.comm());

  const Shape coord = oracle_coordinate(ctx.rank(), law.c.mesh);
  for (size_t i = 0; i < sd.items.size(); ++i) {
    const CaseNode& n = sd.items[i];
    const std::string& key = sd.keys[i];
    const Value* got = local.find(key);
    if (!n.is_tensor_node()) {  // non-tensors are copied, present locally or not
      ctx.check(got != nullptr, law.at(key) + ": a non-tensor value must be copied");
      ctx.check_equal(*got, full.at(key), law.at(key));
      continue;
    }
    const at::Tensor own = full.at(key).tensor();
    if (n.shape.empty()) {  // 0-dim tensors are copied to CPU, present locally or not
      ctx.check(got != nullptr && got->is_tensor(),
                law.at(key) + ": a 0-dim tensor must be copied");
      ctx.check_equal(*got, Value(own), law.at(key));
      ctx.check_device(got->tensor(), cpu, law.at(key));
      continue;
    }
    if (absent(key)) {
      ctx.check(got == nullptr, law.at(key) + ": a tensor key missing locally must be skipped");
      continue;
    }
    if (n.kind == CaseNode::Kind::kDTensor) {
      // Rank 0's data wins; Partial keeps it on coordinate 0 and the identity elsewhere.
      at::Tensor want = slice_of(law, n, law.values.get(n, 0));
      if (!holds_partial_data(n.placements, coord)) want = additive_identity_like(want);
      check_dtensor(law, key, got, before.at(key).dtensor(), want, ctx.device(), false);
    } else {
      ctx.check(got->is_tensor(),
                law.at(key) + ": a plain local value must become the full tensor");
      ctx.check_equal(*got, Value(own), law.at(key));
      ctx.check_device(got->tensor(), ctx.device(), law.at(key));
    }
  }
  ctx.check(local.contains(kLocalOnly), law.at(kLocalOnly) + ": a local-only key was removed");
  ctx.record("local", local);
}

}  // namespace shardsim::properties::detail
