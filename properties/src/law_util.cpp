#include <ATen/ATen.h>

#include "laws.h"

namespace shardsim::properties::detail {

void for_each_tensor(const Value& v,
                     const std::function<void(const std::string&, const at::Tensor&)>& visit,
                     const std::string& path) {
  switch (v.kind()) {
    case Value::Kind::kTensor:
      visit(path, v.tensor());
      break;
    case Value::Kind::kDTensor:
      visit(join_path(path, "local"), v.dtensor().local());
      break;
    case Value::Kind::kShardedTensor: {
      const auto& shards = v.sharded_tensor().local_shards();
      for (size_t i = 0; i < shards.size(); ++i) {
        visit(join_path(path, "shard" + std::to_string(i)), shards[i].tensor);
      }
      break;
    }
    case Value::Kind::kMapping: {
      const Mapping& m = v.mapping();
      for (size_t i = 0; i < m.size(); ++i)
        for_each_tensor(m.value(i), visit, join_path(path, m.key(i)));
      break;
    }
    case Value::Kind::kList:
    case Value::Kind::kTuple: {
      const auto& items = v.is_list() ? v.list().items : v.tuple().items;
      for (size_t i = 0; i < items.size(); ++i) {
        for_each_tensor(items[i], visit, join_path(path, std::to_string(i)));
      }
      break;
    }
    default:
      break;
  }
}

namespace {
at::Tensor cpu_clone(const at::Tensor& t) {
  return t.to(c10::kCPU, t.scalar_type(), false, /*copy=*/true).contiguous();
}
}  // namespace

Value clone_to_cpu(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kTensor:
      return cpu_clone(v.tensor());
    case Value::Kind::kDTensor:
      return DTensor(cpu_clone(v.dtensor().local()), v.dtensor().spec());
    case Value::Kind::kShardedTensor: {
      const ShardedTensor& st = v.sharded_tensor();
      std::vector<LocalShard> shards;
      for (const LocalShard& s : st.local_shards())
        shards.push_back({cpu_clone(s.tensor), s.metadata});
      return ShardedTensor(st.size(), std::move(shards), st.shards_metadata(), st.dtype());
    }
    case Value::Kind::kMapping: {
      Mapping out;
      const Mapping& m = v.mapping();
      for (size_t i = 0; i < m.size(); ++i) out.set(m.key(i), clone_to_cpu(m.value(i)));
      return out;
    }
    case Value::Kind::kList: {
      List out;
      for (const Value& x : v.list().items) out.items.push_back(clone_to_cpu(x));
      return out;
    }
    case Value::Kind::kTuple: {
      Tuple out;
      for (const Value& x : v.tuple().items) out.items.push_back(clone_to_cpu(x));
      return out;
    }
    default:
      return v;
  }
}

const Value* child_value(const Value& v, const CaseNode& n, size_t i) {
  if (n.kind == CaseNode::Kind::kDict) {
    return v.is_mapping() && i < n.keys.size() ? v.mapping().find(n.keys[i]) : nullptr;
  }
  const std::vector<Value>* items =
      v.is_list() ? &v.list().items : (v.is_tuple() ? &v.tuple().items : nullptr);
  return items != nullptr && i < items->size() ? &(*items)[i] : nullptr;
}

const Value* value_at(const Value& v, const std::string& path) {
  if (path.empty()) return &v;
  if (v.is_mapping()) {
    // Keys may hold dots: try every prefix of the path as a key, shortest first.
    for (size_t end = path.find('.');; end = path.find('.', end + 1)) {
      const std::string key = path.substr(0, end);
      if (const Value* child = v.mapping().find(key)) {
        const Value* found = value_at(*child, end == std::string::npos ? "" : path.substr(end + 1));
        if (found != nullptr) return found;
      }
      if (end == std::string::npos) return nullptr;
    }
  }
  if (v.is_list() || v.is_tuple()) {
    const auto& items = v.is_list() ? v.list().items : v.tuple().items;
    const size_t end = path.find('.');
    const std::string head = path.substr(0, end);
    if (head.empty() || head.size() > 9 ||
        head.find_first_not_of("0123456789") != std::string::npos) {
      return nullptr;
    }
    const size_t i = std::stoul(head);
    if (i >= items.size()) return nullptr;
    return value_at(items[i], end == std::string::npos ? "" : path.substr(end + 1));
  }
  return nullptr;
}

}  // namespace shardsim::properties::detail
