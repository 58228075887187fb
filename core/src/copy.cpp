// copy_state_dict, create_cpu_state_dict and check_state_dict_similarity.
#include <set>
#include <sstream>

#include <ATen/ATen.h>

#include "shardsim/core/error.h"
#include "shardsim/core/host_memory.h"
#include "shardsim/core/state_dict_utils.h"
#include "shardsim/core/traversal.h"
#include "state_dict_text.h"

namespace shardsim {

namespace {

using detail::path_or_root;
using detail::sorted_keys_str;

std::string tensor_desc(const at::Tensor& t) {
  std::ostringstream os;
  os << c10::toString(t.scalar_type()) << shape_str(t.sizes().vec());
  return os.str();
}


const std::vector<Value>* items_of(const Value& v) {
  if (v.is_list()) return &v.list().items;
  if (v.is_tuple()) return &v.tuple().items;
  return nullptr;
}

// Structural comparison shared by copy validation and the similarity check.
// `strict_specs` additionally compares DTensor specs and ShardedTensor
// metadata (similarity); copying needs only matching local data.
// Returns the first problem, or "" when the structures fit.
std::string structure_difference(const Value& a, const Value& b, const std::string& path,
                                 bool strict_specs, bool type_check) {
  switch (a.kind()) {
    case Value::Kind::kMapping: {
      if (!b.is_mapping()) return path_or_root(path) + ": dict vs " + b.type_name();
      const Mapping& x = a.mapping();
      const Mapping& y = b.mapping();
      bool same = x.size() == y.size();
      for (size_t i = 0; same && i < x.size(); ++i) same = y.contains(x.key(i));
      if (!same) return path_or_root(path) + ": keys " + sorted_keys_str(x) + " vs " + sorted_keys_str(y);
      for (size_t i = 0; i < x.size(); ++i) {
        std::string d = structure_difference(x.value(i), *y.find(x.key(i)), join_path(path, x.key(i)),
                                             strict_specs, type_check);
        if (!d.empty()) return d;
      }
      return "";
    }
    case Value::Kind::kList:
    case Value::Kind::kTuple: {
      const std::vector<Value>* x = items_of(a);
      const std::vector<Value>* y = items_of(b);
      if (y == nullptr) return path_or_root(path) + ": " + a.type_name() + " vs " + b.type_name();
      if (x->size() != y->size()) {
        return path_or_root(path) + ": length " + std::to_string(x->size()) + " vs " + std::to_string(y->size());
      }
      for (size_t i = 0; i < x->size(); ++i) {
        std::string d = structure_difference((*x)[i], (*y)[i], join_path(path, std::to_string(i)),
                                             strict_specs, type_check);
        if (!d.empty()) return d;
      }
      return "";
    }
    case Value::Kind::kTensor: {
      if (!b.is_tensor()) return path_or_root(path) + ": Tensor vs " + b.type_name();
      const at::Tensor& x = a.tensor();
      const at::Tensor& y = b.tensor();
      if (x.scalar_type() != y.scalar_type() || x.sizes() != y.sizes()) {
        return path_or_root(path) + ": " + tensor_desc(x) + " vs " + tensor_desc(y);
      }
      return "";
    }
    case Value::Kind::kDTensor: {
      if (!b.is_dtensor()) return path_or_root(path) + ": DTensor vs " + b.type_name();
      const DTensor& x = a.dtensor();
      const DTensor& y = b.dtensor();
      if (strict_specs && x.spec() != y.spec()) {
        return path_or_root(path) + ": spec " + x.spec().str() + " vs " + y.spec().str();
      }
      if (x.dtype() != y.dtype() || x.local().sizes() != y.local().sizes()) {
        return path_or_root(path) + ": local tensor " + tensor_desc(x.local()) + " vs " + tensor_desc(y.local());
      }
      return "";
    }
    case Value::Kind::kShardedTensor: {
      if (!b.is_sharded_tensor()) return path_or_root(path) + ": ShardedTensor vs " + b.type_name();
      const ShardedTensor& x = a.sharded_tensor();
      const ShardedTensor& y = b.sharded_tensor();
      if (strict_specs && (x.size() != y.size() || x.shards_metadata() != y.shards_metadata())) {
        return path_or_root(path) + ": ShardedTensor size/metadata " + shape_str(x.size()) + " (" +
               std::to_string(x.shards_metadata().size()) + " shards) vs " + shape_str(y.size()) +
               " (" + std::to_string(y.shards_metadata().size()) + " shards)";
      }
      if (x.dtype() != y.dtype()) {
        return path_or_root(path) + ": dtype " + c10::toString(x.dtype()) + " vs " + c10::toString(y.dtype());
      }
      const auto& xs = x.local_shards();
      const auto& ys = y.local_shards();
      if (xs.size() != ys.size()) {
        return path_or_root(path) + ": " + std::to_string(xs.size()) + " local shards vs " +
               std::to_string(ys.size());
      }
      for (size_t i = 0; i < xs.size(); ++i) {
        if (xs[i].tensor.sizes() != ys[i].tensor.sizes() ||
            xs[i].tensor.scalar_type() != ys[i].tensor.scalar_type()) {
          return path_or_root(path) + ": local shard " + std::to_string(i) + " " + tensor_desc(xs[i].tensor) +
                 " vs " + tensor_desc(ys[i].tensor);
        }
      }
      return "";
    }
    case Value::Kind::kOpaque:
      if (type_check) return path_or_root(path) + ": unexpected value of type " + a.type_name();
      return "";
    default:
      return "";  // non-tensor leaves come from the source as they are
  }
}

}  // namespace

Value copy_state_dict(const Value& src, const Value& dst, bool non_blocking, bool type_check) {
  const std::string problem = structure_difference(src, dst, "", /*strict_specs=*/false, type_check);
  if (!problem.empty()) {
    throw MismatchError("copy_state_dict: source and destination differ at " + problem +
                        " (nothing was copied)");
  }
  TraversalOptions opts;
  opts.companion = &dst;
  opts.non_blocking = non_blocking;
  opts.type_check = type_check;
  return iterate_state_dict(src, identity_hooks(), opts);
}

c10::optional<std::string> state_dict_similarity_difference(const Value& a, const Value& b) {
  std::string d = structure_difference(a, b, "", /*strict_specs=*/true, /*type_check=*/false);
  if (d.empty()) return c10::nullopt;
  return d;
}

bool check_state_dict_similarity(const Value& a, const Value& b) {
  return !state_dict_similarity_difference(a, b).has_value();
}

namespace {

at::Tensor fresh_cpu_like(const at::Tensor& t, HostMemory& host, const CreateCpuOptions& o) {
  if (t.dim() == 0) return at::zeros({}, at::TensorOptions().dtype(t.scalar_type()));
  const bool no_data = t.device().type() == c10::kMeta;
  if (t.numel() == 0 || no_data) {
    at::Tensor z = host.allocate(t.sizes(), t.scalar_type(),
                                 o.share_memory ? HostAllocKind::kShared : HostAllocKind::kPlain);
    if (z.numel() > 0) z.zero_();
    return z;
  }
  HostAllocKind kind = HostAllocKind::kPlain;
  if (o.share_memory && o.pin_memory) {
    kind = HostAllocKind::kSharedPinned;
  } else if (o.share_memory) {
    kind = HostAllocKind::kShared;
  } else if (o.pin_memory) {
    kind = HostAllocKind::kPinned;
  }
  return host.allocate(t.sizes(), t.scalar_type(), kind);
}

}  // namespace

Value create_cpu_state_dict(const Value& state_dict, HostMemory& host,
                            const CreateCpuOptions& options) {
  TraversalHooks hooks;
  hooks.tensor = [&](const at::Tensor& t, const HookContext&) -> Value {
    return fresh_cpu_like(t, host, options);
  };
  hooks.dtensor = [&](const DTensor& t, const HookContext&) -> Value {
    return DTensor(fresh_cpu_like(t.local(), host, options), t.spec());
  };
  hooks.sharded_tensor = [&](const ShardedTensor& t, const HookContext&) -> Value {
    std::vector<LocalShard> shards;
    for (const LocalShard& s : t.local_shards()) {
      shards.push_back(LocalShard{fresh_cpu_like(s.tensor, host, options), s.metadata});
    }
    return ShardedTensor(t.size(), std::move(shards), t.shards_metadata(), t.dtype());
  };
  TraversalOptions opts;
  opts.type_check = false;
  return iterate_state_dict(state_dict, hooks, opts);
}

}  // namespace shardsim
