// Flattening nested state dicts to one level with dotted keys, and back; and
// a visitor over every leaf (PyTorch's flatten_state_dict /
// unflatten_state_dict / traverse_state_dict, with lists flattened too).
#pragma once

#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "shardsim/core/value.h"

namespace shardsim {

// One step of a path: a mapping key, or an index into a list or tuple.
struct PathStep {
  enum class Kind { kKey, kListIndex, kTupleIndex };
  Kind kind = Kind::kKey;
  std::string key;    // kKey
  int64_t index = 0;  // the index kinds
  // For a tuple step: the tuple's length (unflatten rebuilds it whole).
  int64_t tuple_size = 0;

  friend bool operator==(const PathStep& a, const PathStep& b) {
    return a.kind == b.kind && a.key == b.key && a.index == b.index && a.tuple_size == b.tuple_size;
  }
};
using ValuePath = std::vector<PathStep>;
// "a.b.0.c"
std::string path_str(const ValuePath& path);

// The flattened form: one level keyed by dotted paths, plus where each came from.
struct FlatStateDict {
  Mapping values;                        // "a.b.0.c" -> leaf
  std::vector<std::string> keys;         // in traversal order
  std::vector<ValuePath> paths;          // paths[i] belongs to keys[i]
};

// Leaves are every value that is not a non-empty mapping, list or tuple
// (empty containers are kept as leaves so that unflatten restores them).
// Throws InvalidArgument when two leaves flatten to the same key (e.g. keys
// "a.b" and "a" -> "b"), naming the key.
FlatStateDict flatten_state_dict(const Mapping& state_dict);

// Rebuilds the nesting from flattened values and their paths (lists grow as
// needed; missing list entries become None). flatten then unflatten is the
// identity. Throws InvalidArgument when a key has no path or paths conflict.
Mapping unflatten_state_dict(const FlatStateDict& flat);

// Calls `visit(path, leaf)` on every leaf in traversal order (leaves as above).
void traverse_state_dict(const Mapping& state_dict,
                         const std::function<void(const ValuePath&, const Value&)>& visit);

}  // namespace shardsim
