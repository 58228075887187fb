// Generators of meshes, shapes, placements, tilings and state dicts.
#include <algorithm>
#include <cmath>

#include <rapidcheck.h>

#include "shardsim/properties/generators.h"

namespace shardsim::properties {

namespace {

// inRange over int64_t with an inclusive upper bound.
rc::Gen<int64_t> between(int64_t lo, int64_t hi) { return rc::gen::inRange<int64_t>(lo, hi + 1); }

}  // namespace

const std::vector<c10::ScalarType>& generated_dtypes() {
  static const std::vector<c10::ScalarType> dtypes = {
      at::kFloat, at::kDouble, at::kBFloat16, at::kHalf, at::kChar,         at::kShort,
      at::kInt,   at::kLong,   at::kByte,     at::kBool, at::kComplexFloat,
  };
  return dtypes;
}

rc::Gen<c10::ScalarType> gen_dtype() {
  return rc::gen::map(between(0, static_cast<int64_t>(generated_dtypes().size()) - 1),
                      [](int64_t i) { return generated_dtypes()[static_cast<size_t>(i)]; });
}

rc::Gen<Shape> gen_mesh_shape(const GenLimits& limits) {
  return rc::gen::exec([limits] {
    const int64_t dims = *between(1, std::max<int64_t>(1, limits.max_mesh_dims));
    Shape mesh;
    int64_t ranks = 1;
    // Every dim but the last stays near the dims-th root of the world, so
    // multi-dim meshes are not mostly 1s; the last takes what is left.
    const auto root = static_cast<int64_t>(
        std::pow(static_cast<double>(limits.max_world), 1.0 / static_cast<double>(dims)));
    for (int64_t i = 0; i < dims; ++i) {
      const int64_t room = std::max<int64_t>(1, limits.max_world / ranks);
      const int64_t cap = i + 1 == dims ? room : std::min(room, std::max<int64_t>(2, 2 * root));
      const int64_t m = *between(1, cap);
      mesh.push_back(m);
      ranks *= m;
    }
    return mesh;
  });
}

rc::Gen<Shape> gen_shape(const Shape& mesh, const GenLimits& limits) {
  return rc::gen::exec([mesh, limits] {
    const int64_t dims = *between(0, limits.max_tensor_dims);
    Shape shape;
    int64_t numel = 1;
    for (int64_t d = 0; d < dims; ++d) {
      const int64_t budget = std::max<int64_t>(0, limits.max_numel / std::max<int64_t>(1, numel));
      // A size near a multiple of some mesh size (even and uneven splits),
      // or any small size; zero is where both shrink to.
      const int64_t m =
          mesh[static_cast<size_t>(*between(0, static_cast<int64_t>(mesh.size()) - 1))];
      const int64_t near = std::max<int64_t>(0, m * *between(0, 2) + *between(-1, 1));
      int64_t size = *rc::gen::oneOf(between(0, 9), rc::gen::just(near));
      size = std::min(size, budget);
      shape.push_back(size);
      if (size > 0) numel *= size;
    }
    return shape;
  });
}

rc::Gen<Placements> gen_placements(const Shape& shape, const Shape& mesh, bool partial) {
  return rc::gen::exec([shape, mesh, partial] {
    Placements ps;
    for (size_t i = 0; i < mesh.size(); ++i) {
      // 0: Replicate (where shrinking goes), 1: Shard, 2: Partial.
      const int64_t kind = *between(0, partial ? 2 : 1);
      if (kind == 1 && !shape.empty()) {
        ps.push_back(Placement::shard(*between(0, static_cast<int64_t>(shape.size()) - 1)));
      } else if (kind == 2) {
        ps.push_back(Placement::partial());
      } else {
        ps.push_back(Placement::replicate());
      }
    }
    return ps;
  });
}

rc::Gen<std::vector<ShardDesc>> gen_tiling(const Shape& shape, int64_t world) {
  return rc::gen::exec([shape, world] {
    std::vector<ShardDesc> boxes = {ShardDesc{Shape(shape.size(), 0), shape, 0}};
    const int64_t cuts = *between(0, 6);
    for (int64_t k = 0; k < cuts; ++k) {
      ShardDesc& box =
          boxes[static_cast<size_t>(*between(0, static_cast<int64_t>(boxes.size()) - 1))];
      std::vector<size_t> cuttable;
      for (size_t d = 0; d < shape.size(); ++d) {
        if (box.sizes[d] >= 2) cuttable.push_back(d);
      }
      if (cuttable.empty()) continue;
      const size_t d =
          cuttable[static_cast<size_t>(*between(0, static_cast<int64_t>(cuttable.size()) - 1))];
      const int64_t at = *between(1, box.sizes[d] - 1);
      ShardDesc upper = box;
      upper.offsets[d] += at;
      upper.sizes[d] -= at;
      box.sizes[d] = at;
      boxes.push_back(upper);
    }
    // Sometimes an empty shard too: it covers nothing but takes part in the gather.
    if (!shape.empty() && *between(0, 3) == 3) {
      ShardDesc empty{Shape(shape.size(), 0), shape, 0};
      const size_t d = static_cast<size_t>(*between(0, static_cast<int64_t>(shape.size()) - 1));
      empty.offsets[d] = *between(0, shape[d]);
      empty.sizes[d] = 0;
      boxes.push_back(empty);
    }
    for (ShardDesc& b : boxes) b.rank = *between(0, world - 1);
    return boxes;
  });
}

namespace {

const char* const kKeyStems[] = {"w", "bias", "step", "exp_avg", "layers", "opt", "emb", "x"};

CaseNode scalar_node(int64_t pick) {
  CaseNode n;
  switch (pick) {
    case 0:
      n.kind = CaseNode::Kind::kNone;
      break;
    case 1:
      n.kind = CaseNode::Kind::kBool;
      n.flag = *rc::gen::arbitrary<bool>();
      break;
    case 2:
      n.kind = CaseNode::Kind::kInt;
      n.integer = *between(-3, 1000);
      break;
    case 3:
      n.kind = CaseNode::Kind::kFloat;
      n.real = static_cast<double>(*between(-8, 8)) * 0.25;
      break;
    case 4:
      n.kind = CaseNode::Kind::kStr;
      n.text = *rc::gen::container<std::string>(rc::gen::inRange('a', 'z'));
      break;
    case 5:
      n.kind = CaseNode::Kind::kBytes;
      n.text = *rc::gen::container<std::string>(rc::gen::arbitrary<char>());
      break;
    default:
      n.kind = CaseNode::Kind::kStream;
      n.text = *rc::gen::container<std::string>(rc::gen::arbitrary<char>());
      n.position = *between(0, static_cast<int64_t>(n.text.size()));
      break;
  }
  return n;
}

CaseNode tensor_node(CaseNode::Kind kind, const TreeSpec& spec, const GenLimits& limits,
                     int64_t world) {
  CaseNode n;
  n.kind = kind;
  n.dtype = *gen_dtype();
  n.shape = *gen_shape(spec.mesh, limits);
  if (kind == CaseNode::Kind::kTensor) n.per_rank = *between(0, 1) == 1;
  n.strided = *between(0, 3) == 3;
  if (kind == CaseNode::Kind::kDTensor)
    n.placements = *gen_placements(n.shape, spec.mesh, spec.partial);
  if (kind == CaseNode::Kind::kSharded) n.shards = *gen_tiling(n.shape, world);
  return n;
}

CaseNode node(const TreeSpec& spec, const GenLimits& limits, int64_t depth, int64_t world) {
  // The kinds this node may take, simplest first (shrinking goes there).
  std::vector<CaseNode::Kind> kinds;
  if (spec.scalars) kinds.push_back(CaseNode::Kind::kNone);
  if (spec.plain_tensors) kinds.push_back(CaseNode::Kind::kTensor);
  if (spec.dtensors) kinds.push_back(CaseNode::Kind::kDTensor);
  if (spec.sharded) kinds.push_back(CaseNode::Kind::kSharded);
  if (spec.scalars) kinds.push_back(CaseNode::Kind::kInt);  // stands for every scalar kind
  if (spec.containers && depth < limits.max_depth) {
    kinds.push_back(CaseNode::Kind::kList);
    kinds.push_back(CaseNode::Kind::kTuple);
    kinds.push_back(CaseNode::Kind::kDict);
  }
  const CaseNode::Kind kind =
      kinds[static_cast<size_t>(*between(0, static_cast<int64_t>(kinds.size()) - 1))];
  switch (kind) {
    case CaseNode::Kind::kNone:
      return scalar_node(0);
    case CaseNode::Kind::kInt:
      return scalar_node(*between(1, 6));
    case CaseNode::Kind::kTensor:
    case CaseNode::Kind::kDTensor:
    case CaseNode::Kind::kSharded:
      return tensor_node(kind, spec, limits, world);
    default:
      break;
  }
  CaseNode n;
  n.kind = kind;
  const int64_t count = *between(0, limits.max_items - 1);
  for (int64_t i = 0; i < count; ++i) {
    if (kind == CaseNode::Kind::kDict) {
      n.keys.push_back(std::string(kKeyStems[*between(0, 7)]) + std::to_string(i));
    }
    n.items.push_back(node(spec, limits, depth + 1, world));
  }
  return n;
}

// Numbers the streams of every tensor node in traversal order, so that no
// two tensors share values and the numbering survives shrinking.
void number_streams(CaseNode& n, uint64_t& next) {
  if (n.is_tensor_node()) n.stream = next++;
  for (CaseNode& c : n.items) number_streams(c, next);
}

}  // namespace

rc::Gen<CaseNode> gen_state_dict(const TreeSpec& spec, const GenLimits& limits) {
  return rc::gen::exec([spec, limits] {
    int64_t world = 1;
    for (int64_t m : spec.mesh) world *= m;
    CaseNode root;
    root.kind = CaseNode::Kind::kDict;
    const int64_t count = *between(1, limits.max_items);
    for (int64_t i = 0; i < count; ++i) {
      std::string key = std::string(kKeyStems[*between(0, 7)]) + std::to_string(i);
      if (spec.absent_keys && *between(0, 3) == 3) key += "_absent";
      root.keys.push_back(key);
      root.items.push_back(node(spec, limits, 0, world));
    }
    uint64_t next = 1;
    number_streams(root, next);
    return root;
  });
}

}  // namespace shardsim::properties
