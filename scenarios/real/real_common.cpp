#include "real_common.h"

#include <ATen/ATen.h>

namespace shardsim::scenarios {

at::Tensor chunk_oracle(const at::Tensor& full, const Shape& mesh_shape, const Shape& coord,
                        const Placements& placements) {
  at::Tensor piece = full;
  for (size_t i = 0; i < placements.size(); ++i) {
    if (!placements[i].is_shard()) continue;
    const int64_t d = placements[i].dim();
    if (piece.size(d) == 0) continue;  // nothing left to cut: every piece is empty
    const std::vector<at::Tensor> chunks = at::chunk(piece, mesh_shape[i], d);
    if (coord[i] < static_cast<int64_t>(chunks.size())) {
      piece = chunks[static_cast<size_t>(coord[i])];
    } else {
      piece = piece.narrow(d, 0, 0);
    }
  }
  return piece;
}

Placements placements_for(int64_t dim, const Placements& wanted) {
  Placements out;
  for (const Placement& p : wanted) out.push_back(p.is_shard() && p.dim() >= dim ? Placement::replicate() : p);
  return out;
}

Value shard_tree(ScenarioContext& ctx, const Value& full, const DeviceMesh& mesh,
                 const Placements& placements) {
  switch (full.kind()) {
    case Value::Kind::kTensor: {
      const at::Tensor& t = full.tensor();
      if (t.dim() == 0) return full;
      const Placements ps = placements_for(t.dim(), placements);
      const at::Tensor piece = chunk_oracle(t, mesh.shape(), mesh.coordinate(ctx.rank()), ps);
      const Shape shape(t.sizes().begin(), t.sizes().end());
      const Shape stride(t.strides().begin(), t.strides().end());
      return from_local(piece.to(ctx.device()).clone(at::MemoryFormat::Contiguous), mesh, ps, shape, stride);
    }
    case Value::Kind::kMapping: {
      Mapping out;
      const Mapping& m = full.mapping();
      for (size_t i = 0; i < m.size(); ++i) out.set(m.key(i), shard_tree(ctx, m.value(i), mesh, placements));
      return out;
    }
    case Value::Kind::kList: {
      List out;
      for (const Value& v : full.list().items) out.items.push_back(shard_tree(ctx, v, mesh, placements));
      return out;
    }
    case Value::Kind::kTuple: {
      Tuple out;
      for (const Value& v : full.tuple().items) out.items.push_back(shard_tree(ctx, v, mesh, placements));
      return out;
    }
    default:
      return full;
  }
}

Value tree_to(const Value& v, c10::Device device) {
  switch (v.kind()) {
    case Value::Kind::kTensor: return v.tensor().to(device, v.tensor().scalar_type(), false, /*copy=*/true);
    case Value::Kind::kMapping: {
      Mapping out;
      const Mapping& m = v.mapping();
      for (size_t i = 0; i < m.size(); ++i) out.set(m.key(i), tree_to(m.value(i), device));
      return out;
    }
    case Value::Kind::kList: {
      List out;
      for (const Value& x : v.list().items) out.items.push_back(tree_to(x, device));
      return out;
    }
    case Value::Kind::kTuple: {
      Tuple out;
      for (const Value& x : v.tuple().items) out.items.push_back(tree_to(x, device));
      return out;
    }
    default: return v;
  }
}

}  // namespace shardsim::scenarios
