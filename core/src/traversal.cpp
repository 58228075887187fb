#include "shardsim/core/traversal.h"

#include <set>
#include <sstream>

#include <ATen/ATen.h>

#include "shardsim/core/comm.h"
#include "shardsim/core/error.h"
#include "state_dict_text.h"

namespace shardsim {

TraversalHooks identity_hooks() {
  TraversalHooks h;
  h.sharded_tensor = [](const ShardedTensor& t, const HookContext&) { return Value(t); };
  h.dtensor = [](const DTensor& t, const HookContext&) { return Value(t); };
  h.tensor = [](const at::Tensor& t, const HookContext&) { return Value(t); };
  return h;
}

bool is_listed_rank(const Comm* comm, const std::vector<int64_t>& ranks_only) {
  if (ranks_only.empty()) return true;
  SHARDSIM_CHECK(comm != nullptr, "ranks_only needs a process group to number the ranks");
  const int64_t me = comm->rank();
  for (int64_t r : ranks_only) {
    if (r == me) return true;
  }
  return false;
}

namespace detail {

std::string path_or_root(const std::string& path) { return path.empty() ? "<root>" : path; }

std::string sorted_keys_str(const Mapping& m) {
  std::set<std::string> keys(m.keys().begin(), m.keys().end());
  std::ostringstream os;
  os << "{";
  bool first = true;
  for (const std::string& k : keys) {
    os << (first ? "" : ", ") << "'" << k << "'";
    first = false;
  }
  os << "}";
  return os.str();
}

}  // namespace detail

namespace {

using detail::path_or_root;
using detail::sorted_keys_str;

class Walker {
 public:
  Walker(const TraversalHooks& hooks, const TraversalOptions& options)
      : hooks_(hooks), options_(options), listed_(is_listed_rank(options.comm, options.ranks_only)) {}

  Value walk(const Value& v, const Value* companion, const std::string& path) {
    Value ret = dispatch(v, companion, path);
    if (!listed_) return ret.is_mapping() ? Value(Mapping{}) : Value(None{});
    if (!ret.is_any_tensor()) return ret;
    if (options_.cpu_offload && companion == nullptr) return to_cpu(ret);
    if (companion != nullptr) return copy_into(ret, *companion, path);
    return ret;
  }

 private:
  Value dispatch(const Value& v, const Value* companion, const std::string& path) {
    switch (v.kind()) {
      case Value::Kind::kShardedTensor:
        return hooks_.sharded_tensor(v.sharded_tensor(), context(companion, path));
      case Value::Kind::kDTensor:
        return hooks_.dtensor(v.dtensor(), context(companion, path));
      case Value::Kind::kTensor:
        return hooks_.tensor(v.tensor(), context(companion, path));
      case Value::Kind::kNone:
      case Value::Kind::kBool:
      case Value::Kind::kInt:
      case Value::Kind::kDouble:
      case Value::Kind::kString:
      case Value::Kind::kBytes:
      case Value::Kind::kStream:
        return v;
      case Value::Kind::kMapping: return walk_mapping(v.mapping(), companion, path);
      case Value::Kind::kList: {
        const std::vector<Value>* comp = companion_items(companion, v.list().items.size(), path);
        return List{walk_items(v.list().items, comp, path)};
      }
      case Value::Kind::kTuple: {
        const std::vector<Value>* comp = companion_items(companion, v.tuple().items.size(), path);
        return Tuple{walk_items(v.tuple().items, comp, path)};
      }
      case Value::Kind::kOpaque:
        SHARDSIM_CHECK_ARG(!options_.type_check, path_or_root(path), ": unexpected value of type ",
                           v.type_name(), " (type checking is on)");
        return v;  // value semantics: a deep copy
    }
    throw Error("unreachable value kind");
  }

  HookContext context(const Value* companion, const std::string& path) const {
    return HookContext{options_.comm, options_.device, path, companion, listed_};
  }

  Value walk_mapping(const Mapping& m, const Value* companion, const std::string& path) {
    const Mapping* comp = nullptr;
    if (companion != nullptr) {
      SHARDSIM_CHECK_T(MismatchError, companion->is_mapping(), path_or_root(path),
                       ": companion mismatch: the state dict has a dict, the companion a ",
                       companion->type_name());
      comp = &companion->mapping();
      bool same = comp->size() == m.size();
      for (size_t i = 0; same && i < m.size(); ++i) same = comp->contains(m.key(i));
      SHARDSIM_CHECK_T(MismatchError, same, path_or_root(path),
                       ": companion mismatch: keys ", sorted_keys_str(m), " vs companion keys ",
                       sorted_keys_str(*comp));
    }
    Mapping out;
    for (size_t i = 0; i < m.size(); ++i) {
      const Value* c = comp ? comp->find(m.key(i)) : nullptr;
      Value child = walk(m.value(i), c, join_path(path, m.key(i)));
      // A rank that is not listed ends with {} whatever the children were:
      // it walks them (for their collectives) without keeping them.
      if (listed_) out.set(m.key(i), std::move(child));
    }
    return out;
  }

  const std::vector<Value>* companion_items(const Value* companion, size_t n, const std::string& path) {
    if (companion == nullptr) return nullptr;
    const std::vector<Value>* items = nullptr;
    if (companion->is_list()) items = &companion->list().items;
    if (companion->is_tuple()) items = &companion->tuple().items;
    SHARDSIM_CHECK_T(MismatchError, items != nullptr, path_or_root(path),
                     ": companion mismatch: the state dict has a sequence, the companion a ",
                     companion->type_name());
    SHARDSIM_CHECK_T(MismatchError, items->size() == n, path_or_root(path),
                     ": companion mismatch: length ", n, " vs companion length ", items->size());
    return items;
  }

  std::vector<Value> walk_items(const std::vector<Value>& items, const std::vector<Value>* comp,
                                const std::string& path) {
    std::vector<Value> out;
    if (listed_) out.reserve(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      Value child = walk(items[i], comp ? &(*comp)[i] : nullptr, join_path(path, std::to_string(i)));
      if (listed_) out.push_back(std::move(child));
    }
    return out;
  }

  Value to_cpu(const Value& v) const {
    const c10::Device cpu(c10::kCPU);
    switch (v.kind()) {
      case Value::Kind::kTensor:
        return v.tensor().device().is_cpu() ? v : Value(v.tensor().to(cpu));
      case Value::Kind::kDTensor: return v.dtensor().to(cpu);
      case Value::Kind::kShardedTensor: return v.sharded_tensor().to(cpu);
      default: return v;
    }
  }

  Value copy_into(const Value& ret, const Value& companion, const std::string& path) const {
    const bool nb = options_.non_blocking;
    switch (companion.kind()) {
      case Value::Kind::kDTensor: {
        SHARDSIM_CHECK_T(MismatchError, ret.is_dtensor(), path_or_root(path),
                         ": companion is a DTensor but the result is a ", ret.type_name());
        at::Tensor dst = companion.dtensor().local();
        dst.copy_(ret.dtensor().local(), nb);
        return companion;
      }
      case Value::Kind::kShardedTensor: {
        SHARDSIM_CHECK_T(MismatchError, ret.is_sharded_tensor(), path_or_root(path),
                         ": companion is a ShardedTensor but the result is a ", ret.type_name());
        const auto& src = ret.sharded_tensor().local_shards();
        const auto& dst = companion.sharded_tensor().local_shards();
        SHARDSIM_CHECK_T(MismatchError, src.size() == dst.size(), path_or_root(path), ": ", src.size(),
                         " local shards vs ", dst.size(), " in the companion");
        for (size_t i = 0; i < dst.size(); ++i) {
          at::Tensor d = dst[i].tensor;
          d.copy_(src[i].tensor, nb);
        }
        return companion;
      }
      case Value::Kind::kTensor: {
        SHARDSIM_CHECK_T(MismatchError, ret.is_tensor(), path_or_root(path),
                         ": companion is a tensor but the result is a ", ret.type_name());
        at::Tensor dst = companion.tensor();
        dst.copy_(ret.tensor(), nb);
        return companion;
      }
      default:
        throw MismatchError(path_or_root(path) + ": companion mismatch: the state dict has a " +
                            ret.type_name() + ", the companion a " + companion.type_name());
    }
  }

  const TraversalHooks& hooks_;
  const TraversalOptions& options_;
  const bool listed_;
};

}  // namespace

Value iterate_state_dict(const Value& input, const TraversalHooks& hooks,
                         const TraversalOptions& options) {
  Walker walker(hooks, options);
  return walker.walk(input, options.companion, "");
}

}  // namespace shardsim
