#include "shardsim/properties/case_values.h"

#include <ATen/ATen.h>

#include "shardsim/core/error.h"
#include "shardsim/core/random.h"

namespace shardsim::properties {

at::Tensor full_values(const CaseNode& n, uint64_t data_seed, int64_t rank) {
  uint64_t seed = derive_seed(data_seed, n.stream);
  if (n.kind == CaseNode::Kind::kTensor && n.per_rank) {
    seed = derive_seed(seed, static_cast<uint64_t>(rank) + 1);
  }
  Random rng(seed);
  return random_tensor(rng, n.shape, n.dtype);
}

at::Tensor FullValueCache::get(const CaseNode& n, int64_t rank) {
  if (n.kind == CaseNode::Kind::kTensor && n.per_rank) return full_values(n, data_seed_, rank);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = cache_.find(n.stream);
  if (it == cache_.end() || it->second.scalar_type() != n.dtype ||
      it->second.sizes().vec() != n.shape) {
    it = cache_.insert_or_assign(n.stream, full_values(n, data_seed_, rank)).first;
  }
  return it->second;
}

Shape oracle_coordinate(int64_t rank, const Shape& mesh_shape) {
  Shape coord(mesh_shape.size(), 0);
  for (size_t i = mesh_shape.size(); i-- > 0;) {
    coord[i] = rank % mesh_shape[i];
    rank /= mesh_shape[i];
  }
  return coord;
}

LocalLayout oracle_layout(const Shape& global, const Shape& mesh_shape, const Shape& coord,
                          const Placements& placements) {
  Shape start(global.size(), 0);
  Shape size = global;
  std::vector<bool> emptied(global.size(), false);
  for (size_t i = 0; i < placements.size(); ++i) {
    if (!placements[i].is_shard()) continue;
    const auto d = static_cast<size_t>(placements[i].dim());
    // torch.chunk on the indices this rank still holds; missing chunks are empty.
    const at::Tensor indices = at::arange(start[d], start[d] + size[d], at::kLong);
    const std::vector<at::Tensor> chunks = indices.chunk(mesh_shape[i], 0);
    const auto c = static_cast<size_t>(coord[i]);
    if (c < chunks.size() && chunks[c].numel() > 0) {
      start[d] = chunks[c][0].item<int64_t>();
      size[d] = chunks[c].numel();
    } else {
      size[d] = 0;
      emptied[d] = true;
    }
  }
  LocalLayout out{size, start};
  for (size_t d = 0; d < global.size(); ++d) {
    if (emptied[d]) out.offset[d] = global[d];
  }
  return out;
}

bool holds_partial_data(const Placements& placements, const Shape& coord) {
  for (size_t i = 0; i < placements.size(); ++i) {
    if (placements[i].is_partial() && coord[i] != 0) return false;
  }
  return true;
}

at::Tensor oracle_piece(const at::Tensor& full, const LocalLayout& layout) {
  at::Tensor piece = full;
  for (size_t d = 0; d < layout.shape.size(); ++d) {
    const int64_t start = layout.shape[d] == 0 ? 0 : layout.offset[d];
    piece = piece.narrow(static_cast<int64_t>(d), start, layout.shape[d]);
  }
  return piece;
}

at::Tensor additive_identity_like(const at::Tensor& t) {
  if (at::isComplexType(t.scalar_type())) {
    at::Tensor out = at::empty_like(t, at::MemoryFormat::Contiguous);
    if (out.numel() > 0) at::view_as_real(out).fill_(-0.0);
    return out;
  }
  if (at::isFloatingType(t.scalar_type())) {
    return at::full_like(t, -0.0, at::MemoryFormat::Contiguous);
  }
  return at::zeros_like(t, at::MemoryFormat::Contiguous);
}

at::Tensor place_like_node(const at::Tensor& t, const CaseNode& n, c10::Device device) {
  if (!n.strided) return t.to(device, n.dtype, false, /*copy=*/true).contiguous();
  // Every other element of a buffer twice as large: same values, not contiguous.
  std::vector<int64_t> sizes = t.sizes().vec();
  sizes.push_back(2);
  at::Tensor out = at::zeros(sizes, t.options().device(device)).select(-1, 0);
  out.copy_(t);
  return out;
}

DeviceMesh case_mesh(const CaseFile& c, c10::DeviceType type) { return DeviceMesh(type, c.mesh); }

DTensor build_dtensor(const CaseNode& n, const RankBuild& b) {
  const CaseFile& c = *b.c;
  const Shape coord = oracle_coordinate(b.rank, c.mesh);
  const LocalLayout layout = oracle_layout(n.shape, c.mesh, coord, n.placements);
  at::Tensor local = oracle_piece(b.values->get(n), layout);
  if (!holds_partial_data(n.placements, coord)) local = additive_identity_like(local);
  local = place_like_node(local, n, b.device);
  return DTensor(local, DTensorSpec{case_mesh(c, b.mesh_device_type), n.placements, n.shape,
                                    contiguous_strides(n.shape)});
}

ShardedTensor build_sharded(const CaseNode& n, const RankBuild& b) {
  const at::Tensor full = b.values->get(n);
  std::vector<ShardMetadata> all;
  std::vector<LocalShard> mine;
  for (const ShardDesc& s : n.shards) {
    ShardMetadata m{s.offsets, s.sizes, shard_placement(s.rank, c10::Device(b.mesh_device_type))};
    all.push_back(m);
    if (s.rank != b.rank) continue;
    at::Tensor piece = full;
    for (size_t d = 0; d < s.sizes.size(); ++d) {
      piece = piece.narrow(static_cast<int64_t>(d), s.offsets[d], s.sizes[d]);
    }
    mine.push_back(LocalShard{place_like_node(piece, n, b.device), m});
  }
  return ShardedTensor(n.shape, std::move(mine), std::move(all), n.dtype);
}

namespace {

Value scalar_value(const CaseNode& n) {
  switch (n.kind) {
    case CaseNode::Kind::kNone:
      return None{};
    case CaseNode::Kind::kBool:
      return n.flag;
    case CaseNode::Kind::kInt:
      return n.integer;
    case CaseNode::Kind::kFloat:
      return n.real;
    case CaseNode::Kind::kStr:
      return n.text;
    case CaseNode::Kind::kBytes:
      return Bytes{n.text};
    case CaseNode::Kind::kStream:
      return ByteStream{n.text, n.position};
    default:
      throw Error(std::string("not a scalar node: ") + node_kind_name(n.kind));
  }
}

template <typename Leaf>
Value build_tree(const CaseNode& n, const Leaf& leaf) {
  switch (n.kind) {
    case CaseNode::Kind::kTensor:
    case CaseNode::Kind::kDTensor:
    case CaseNode::Kind::kSharded:
      return leaf(n);
    case CaseNode::Kind::kList: {
      List l;
      for (const CaseNode& c : n.items) l.items.push_back(build_tree(c, leaf));
      return l;
    }
    case CaseNode::Kind::kTuple: {
      Tuple t;
      for (const CaseNode& c : n.items) t.items.push_back(build_tree(c, leaf));
      return t;
    }
    case CaseNode::Kind::kDict: {
      Mapping m;
      for (size_t i = 0; i < n.items.size(); ++i) m.set(n.keys[i], build_tree(n.items[i], leaf));
      return m;
    }
    default:
      return scalar_value(n);
  }
}

}  // namespace

Value build_rank_value(const CaseNode& n, const RankBuild& b) {
  return build_tree(n, [&](const CaseNode& leaf) -> Value {
    switch (leaf.kind) {
      case CaseNode::Kind::kDTensor:
        return build_dtensor(leaf, b);
      case CaseNode::Kind::kSharded:
        return build_sharded(leaf, b);
      default:
        return place_like_node(b.values->get(leaf, b.rank), leaf, b.device);
    }
  });
}

Value build_full_value(const CaseNode& n, const RankBuild& b) {
  return build_tree(n, [&](const CaseNode& leaf) -> Value { return b.values->get(leaf, b.rank); });
}

}  // namespace shardsim::properties
