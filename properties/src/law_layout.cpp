// Laws 1 and 2: the layouts of all ranks tile the global tensor exactly, and
// full_tensor(distribute_tensor(x)) is x, bit for bit, on every rank.
#include <sstream>

#include <ATen/ATen.h>

#include "laws.h"
#include "shardsim/core/dtensor.h"
#include "shardsim/core/sharding.h"

namespace shardsim::properties::detail {

namespace {

std::string describe(const CaseNode& n, const Shape& mesh) {
  std::ostringstream os;
  os << shape_str(n.shape) << " over mesh " << mesh_shape_str(mesh) << " by "
     << placements_str(n.placements);
  return os.str();
}

// How many ranks hold each element: the product of the mesh dimensions that
// do not shard (Replicate and Partial copy; Shard splits).
int64_t replicas(const Placements& placements, const Shape& mesh) {
  int64_t n = 1;
  for (size_t i = 0; i < placements.size(); ++i) {
    if (!placements[i].is_shard()) n *= mesh[i];
  }
  return n;
}

void for_each_dtensor(const CaseNode& root,
                      const std::function<void(const std::string&, const CaseNode&)>& f) {
  for_each_node(root, [&](const std::string& path, const CaseNode& n) {
    if (n.kind == CaseNode::Kind::kDTensor) f(path, n);
  });
}

}  // namespace

// Every rank checks its own layout against the chunk oracle; rank 0 paints
// every rank's layout onto a counter tensor: each element must be painted
// exactly `replicas` times (coverage, no overlap, in bounds).
void law_layout_tiles(LawContext& law) {
  const CaseFile& c = law.c;
  auto& ctx = law.ctx;
  const int64_t me = ctx.rank();
  for_each_dtensor(c.state_dict, [&](const std::string& path, const CaseNode& n) {
    const std::string what = law.at(path) + " " + describe(n, c.mesh);
    const Shape coord = oracle_coordinate(me, c.mesh);
    const LocalLayout got =
        compute_local_shape_and_global_offset(n.shape, c.mesh, coord, n.placements);
    const LocalLayout want = oracle_layout(n.shape, c.mesh, coord, n.placements);
    if (!(got == want)) {
      std::ostringstream os;
      os << what << ": coordinate " << shape_str(coord) << " gets " << got
         << " but torch.chunk gives " << want;
      ctx.check(false, os.str());
    }
    ctx.record(path, List{{Value(at::tensor(got.shape)), Value(at::tensor(got.offset))}});
    if (me != 0) return;

    at::Tensor paint = at::zeros(n.shape, at::kInt);
    for (int64_t r = 0; r < c.world; ++r) {
      const Shape rc = oracle_coordinate(r, c.mesh);
      const LocalLayout l =
          compute_local_shape_and_global_offset(n.shape, c.mesh, rc, n.placements);
      bool empty = false;
      at::Tensor region = paint;
      for (size_t d = 0; d < n.shape.size() && !empty; ++d) {
        const std::string where = what + ": rank " + std::to_string(r) + " (shape " +
                                  shape_str(l.shape) + ", offset " + shape_str(l.offset) + ")";
        if (l.shape[d] == 0) {
          ctx.check(l.offset[d] == n.shape[d], where + ": an empty piece reports offset " +
                                                   std::to_string(l.offset[d]) + " on dim " +
                                                   std::to_string(d) + ", not the global size");
          empty = true;
          continue;
        }
        ctx.check(l.offset[d] >= 0 && l.offset[d] + l.shape[d] <= n.shape[d],
                  where + ": out of bounds on dim " + std::to_string(d));
        region = region.narrow(static_cast<int64_t>(d), l.offset[d], l.shape[d]);
      }
      if (!empty) region.add_(1);
    }
    const int64_t want_count = replicas(n.placements, c.mesh);
    if (paint.numel() > 0) {
      const int64_t lo = paint.min().item<int64_t>();
      const int64_t hi = paint.max().item<int64_t>();
      if (lo != want_count || hi != want_count) {
        std::ostringstream os;
        os << what << ": the ranks' pieces cover each element between " << lo << " and " << hi
           << " times, expected exactly " << want_count << " (";
        os << (lo < want_count ? "a gap" : "an overlap") << ")";
        ctx.check(false, os.str());
      }
    }
  });
}

// distribute_tensor then full_tensor gives back x, bit for bit, on the rank's
// device; the local piece has the chunk oracle's shape; x is left untouched.
void law_distribute_full_tensor(LawContext& law) {
  const CaseFile& c = law.c;
  auto& ctx = law.ctx;
  const DeviceMesh mesh = case_mesh(c, ctx.device().type());
  const Shape coord = oracle_coordinate(ctx.rank(), c.mesh);
  for_each_dtensor(c.state_dict, [&](const std::string& path, const CaseNode& n) {
    const std::string what = law.at(path) + " " + describe(n, c.mesh);
    const at::Tensor x = law.values.get(n);
    const at::Tensor source = place_like_node(x, n, ctx.device());
    const DTensor d = distribute_tensor(ctx.comm(), source, mesh, n.placements);
    const Shape want_local = oracle_layout(n.shape, c.mesh, coord, n.placements).shape;
    const Shape got_local(d.local().sizes().begin(), d.local().sizes().end());
    ctx.check(got_local == want_local, what + ": local piece of shape " + shape_str(got_local) +
                                           ", torch.chunk gives " + shape_str(want_local));
    const at::Tensor y = full_tensor(ctx.comm(), d);
    ctx.check_device(y, ctx.device(), what + " (full tensor)");
    ctx.check_equal(Value(y), Value(x), what + " full_tensor(distribute_tensor(x)) vs x");
    ctx.check_equal(Value(source), Value(x), what + " the source after distribute_tensor");
    ctx.record(path, y);
  });
}

}  // namespace shardsim::properties::detail
