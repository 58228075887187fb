#include "shardsim/core/flatten.h"

#include "shardsim/core/error.h"

namespace shardsim {

std::string path_str(const ValuePath& path) {
  std::string out;
  for (const PathStep& s : path) {
    out = join_path(out, s.kind == PathStep::Kind::kKey ? s.key : std::to_string(s.index));
  }
  return out;
}

namespace {

bool is_leaf(const Value& v) {
  if (v.is_mapping()) return v.mapping().empty();
  if (v.is_list()) return v.list().items.empty();
  if (v.is_tuple()) return v.tuple().items.empty();
  return true;
}

void walk(const Value& v, ValuePath& path,
          const std::function<void(const ValuePath&, const Value&)>& visit) {
  if (!path.empty() && is_leaf(v)) {
    visit(path, v);
    return;
  }
  if (v.is_mapping()) {
    const Mapping& m = v.mapping();
    for (size_t i = 0; i < m.size(); ++i) {
      PathStep step;
      step.kind = PathStep::Kind::kKey;
      step.key = m.key(i);
      path.push_back(step);
      walk(m.value(i), path, visit);
      path.pop_back();
    }
    return;
  }
  const bool tuple = v.is_tuple();
  const auto& items = tuple ? v.tuple().items : v.list().items;
  for (size_t i = 0; i < items.size(); ++i) {
    PathStep step;
    step.kind = tuple ? PathStep::Kind::kTupleIndex : PathStep::Kind::kListIndex;
    step.index = static_cast<int64_t>(i);
    step.tuple_size = tuple ? static_cast<int64_t>(items.size()) : 0;
    path.push_back(step);
    walk(items[i], path, visit);
    path.pop_back();
  }
}

// The container a step lives in, created empty.
Value empty_container_for(const PathStep& step) {
  switch (step.kind) {
    case PathStep::Kind::kKey: return Mapping{};
    case PathStep::Kind::kListIndex: return List{};
    case PathStep::Kind::kTupleIndex: {
      Tuple t;
      t.items.resize(static_cast<size_t>(step.tuple_size));
      return t;
    }
  }
  return None{};
}

// Sets `leaf` at `path[depth..]` inside `node`, creating containers as needed.
void place(Value& node, const ValuePath& path, size_t depth, const Value& leaf, const std::string& key) {
  const PathStep& step = path[depth];
  const bool last = depth + 1 == path.size();
  Value* child = nullptr;
  switch (step.kind) {
    case PathStep::Kind::kKey: {
      SHARDSIM_CHECK_ARG(node.is_mapping(), "unflatten: key '", key, "' conflicts with another at '",
                         step.key, "'");
      Mapping& m = node.mapping();
      if (!m.contains(step.key)) m.set(step.key, last ? leaf : empty_container_for(path[depth + 1]));
      child = m.find(step.key);
      break;
    }
    case PathStep::Kind::kListIndex: {
      SHARDSIM_CHECK_ARG(node.is_list(), "unflatten: key '", key, "' conflicts with another at index ",
                         step.index);
      SHARDSIM_CHECK_ARG(step.index >= 0 && step.index < (int64_t{1} << 32), "unflatten: key '", key,
                         "' has index ", step.index);
      auto& items = node.list().items;
      if (static_cast<int64_t>(items.size()) <= step.index) items.resize(static_cast<size_t>(step.index) + 1);
      child = &items[static_cast<size_t>(step.index)];
      if (child->is_none()) *child = last ? leaf : empty_container_for(path[depth + 1]);
      break;
    }
    case PathStep::Kind::kTupleIndex: {
      SHARDSIM_CHECK_ARG(node.is_tuple(), "unflatten: key '", key, "' conflicts with another at index ",
                         step.index);
      auto& items = node.tuple().items;
      SHARDSIM_CHECK_ARG(step.index >= 0 && step.index < static_cast<int64_t>(items.size()),
                         "unflatten: key '", key, "' has tuple index ", step.index, " of ", items.size());
      child = &items[static_cast<size_t>(step.index)];
      if (child->is_none()) *child = last ? leaf : empty_container_for(path[depth + 1]);
      break;
    }
  }
  if (last) {
    *child = leaf;
    return;
  }
  place(*child, path, depth + 1, leaf, key);
}

}  // namespace

void traverse_state_dict(const Mapping& state_dict,
                         const std::function<void(const ValuePath&, const Value&)>& visit) {
  ValuePath path;
  walk(Value(state_dict), path, visit);
}

FlatStateDict flatten_state_dict(const Mapping& state_dict) {
  FlatStateDict flat;
  traverse_state_dict(state_dict, [&](const ValuePath& path, const Value& leaf) {
    const std::string key = path_str(path);
    SHARDSIM_CHECK_ARG(!flat.values.contains(key), "flatten_state_dict: two values flatten to the key '",
                       key, "'");
    flat.values.set(key, leaf);
    flat.keys.push_back(key);
    flat.paths.push_back(path);
  });
  return flat;
}

Mapping unflatten_state_dict(const FlatStateDict& flat) {
  SHARDSIM_CHECK_ARG(flat.keys.size() == flat.paths.size(), "unflatten: ", flat.keys.size(), " keys but ",
                     flat.paths.size(), " paths");
  Value root = Mapping{};
  for (size_t i = 0; i < flat.keys.size(); ++i) {
    const Value* leaf = flat.values.find(flat.keys[i]);
    SHARDSIM_CHECK_ARG(leaf != nullptr, "unflatten: key '", flat.keys[i], "' has no value");
    SHARDSIM_CHECK_ARG(!flat.paths[i].empty(), "unflatten: key '", flat.keys[i], "' has an empty path");
    SHARDSIM_CHECK_ARG(flat.paths[i][0].kind == PathStep::Kind::kKey, "unflatten: key '", flat.keys[i],
                       "' does not start with a mapping key");
    place(root, flat.paths[i], 0, *leaf, flat.keys[i]);
  }
  return root.mapping();
}

}  // namespace shardsim
