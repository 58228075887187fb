// DTensor distribute_tensor -> full_tensor on fibers: every placement
// combination on 1-, 2- and 3-dim meshes, even, uneven, empty and zero-size
// shards. Oracles: the full tensor from the shared data stream, each local
// tensor against plain ATen narrow at compute_local_shape_and_global_offset,
// and for Partial the rank-order sum of the locals.
#include <algorithm>
#include <map>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "shardsim/core/dtensor.h"
#include "shardsim/core/mesh.h"
#include "shardsim/core/placement.h"
#include "shardsim/core/random.h"
#include "shardsim/core/sharding.h"
#include "shardsim/sim/accelerator.h"
#include "shardsim/sim/fiber_world.h"
#include "world_test_util.h"

namespace shardsim {
namespace sim {
namespace {

using testing::bit_equal;
using testing::world_options;

constexpr uint64_t kDataSeed = 31337;

int64_t product(const Shape& s) {
  int64_t p = 1;
  for (int64_t x : s) p *= x;
  return p;
}

// Row-major coordinate of `rank` (computed here, not by DeviceMesh).
Shape coordinate_of(int64_t rank, const Shape& mesh) {
  Shape c(mesh.size());
  for (size_t i = mesh.size(); i-- > 0;) {
    c[i] = rank % mesh[i];
    rank /= mesh[i];
  }
  return c;
}

at::Tensor slice_of(const at::Tensor& full, const LocalLayout& layout) {
  at::Tensor t = full;
  for (int64_t d = 0; d < full.dim(); ++d) t = t.narrow(d, layout.offset[d], layout.shape[d]);
  return t;
}

// Every placement list of `ndim` entries over Shard(0..tensor_dims-1), R, P.
std::vector<Placements> all_placements(int64_t ndim, int64_t tensor_dims) {
  std::vector<Placement> one = {Placement::replicate(), Placement::partial()};
  for (int64_t d = 0; d < tensor_dims; ++d) one.push_back(Placement::shard(d));
  std::vector<Placements> out = {{}};
  for (int64_t i = 0; i < ndim; ++i) {
    std::vector<Placements> next;
    for (const Placements& p : out) {
      for (const Placement& q : one) {
        Placements r = p;
        r.push_back(q);
        next.push_back(r);
      }
    }
    out = next;
  }
  return out;
}

struct Case {
  Shape mesh;
  Placements placements;
  Shape shape;
  c10::ScalarType dtype;
  std::vector<int64_t> mesh_ranks = {};  // default 0..n-1
  int64_t world = 0;                     // default the mesh's size
  std::string str() const {
    std::ostringstream os;
    os << "mesh " << shape_str(mesh) << " " << placements_str(placements) << " shape "
       << shape_str(shape) << " " << c10::toString(dtype);
    return os.str();
  }
};

// Runs one case on a world of the mesh's size and checks every oracle.
void check_round_trip(const Case& c, uint64_t schedule_seed,
                      DeviceKind device_kind = DeviceKind::kSimulated) {
  SCOPED_TRACE(c.str());
  const int64_t n = product(c.mesh);
  std::vector<int64_t> mesh_ranks = c.mesh_ranks;
  if (mesh_ranks.empty()) {
    mesh_ranks.resize(n);
    std::iota(mesh_ranks.begin(), mesh_ranks.end(), 0);
  }
  const int64_t world = c.world > 0 ? c.world : n;
  const DeviceMesh mesh(c10::kCPU, c.mesh, mesh_ranks);
  // Indexed by position in the mesh (its row-major coordinate order).
  std::vector<at::Tensor> locals(n), fulls(n), replicated(n);
  WorldResult res =
      run_world(world_options(world, schedule_seed, kDataSeed, device_kind), [&](RankEnv& env) {
        const auto pos = std::find(mesh_ranks.begin(), mesh_ranks.end(), env.rank());
        if (pos == mesh_ranks.end()) return;  // not in the mesh
        const size_t me = pos - mesh_ranks.begin();
        const at::Tensor full = random_tensor(env.shared(), c.shape, c.dtype);
        const DTensor dt = distribute_tensor(env.comm(), full, mesh, c.placements);
        locals[me] = dt.local();
        fulls[me] = full_tensor(env.comm(), dt);
        replicated[me] = redistribute_to_replicate(env.comm(), dt).local();
      });
  ASSERT_TRUE(res.ok()) << res;
  Random shared = shared_stream(kDataSeed);
  const at::Tensor full = random_tensor(shared, c.shape, c.dtype);
  // Locals of ranks that agree on every non-Partial coordinate, summed in rank order.
  std::map<Shape, at::Tensor> partial_sums;
  for (int64_t r = 0; r < n; ++r) {
    const Shape coord = coordinate_of(r, c.mesh);
    const LocalLayout layout =
        compute_local_shape_and_global_offset(c.shape, c.mesh, coord, c.placements);
    const at::Tensor want = slice_of(full, layout);
    bool source = true;  // coordinate 0 on every Partial mesh dim
    Shape key = coord;
    for (size_t i = 0; i < c.placements.size(); ++i) {
      if (!c.placements[i].is_partial()) continue;
      source = source && coord[i] == 0;
      key[i] = 0;
    }
    EXPECT_EQ(locals[r].sizes().vec(), layout.shape) << "rank " << r;
    EXPECT_EQ(locals[r].device(), device_kind == DeviceKind::kCpu
                                      ? c10::Device(c10::kCPU)
                                      : simulated_device(mesh_ranks[r] % 8));
    EXPECT_EQ(fulls[r].device(), locals[r].device());
    const at::Tensor local = locals[r].to(c10::kCPU);
    if (source) {
      EXPECT_TRUE(bit_equal(local, want)) << "rank " << r;
    } else {
      EXPECT_TRUE(at::equal(local, at::zeros_like(want))) << "rank " << r;
    }
    auto it = partial_sums.find(key);
    if (it == partial_sums.end()) {
      partial_sums.emplace(key, local.clone());
    } else {
      it->second = it->second + local;
    }
    EXPECT_TRUE(bit_equal(fulls[r], full)) << "full_tensor on rank " << r;
    EXPECT_TRUE(bit_equal(replicated[r], full)) << "redistribute_to_replicate on rank " << r;
    EXPECT_FALSE(fulls[r].is_alias_of(locals[r])) << "rank " << r;
  }
  for (const auto& kv : partial_sums) {
    const LocalLayout layout =
        compute_local_shape_and_global_offset(c.shape, c.mesh, kv.first, c.placements);
    EXPECT_TRUE(bit_equal(kv.second, slice_of(full, layout)))
        << "sum of the Partial locals at " << shape_str(kv.first);
  }
}

void run_all(const std::vector<Shape>& meshes, const std::vector<Shape>& shapes,
             c10::ScalarType dtype, DeviceKind device_kind = DeviceKind::kSimulated) {
  uint64_t seed = 1;
  for (const Shape& mesh : meshes) {
    for (const Shape& shape : shapes) {
      for (const Placements& p : all_placements(mesh.size(), shape.size())) {
        check_round_trip({mesh, p, shape, dtype}, seed++, device_kind);
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
  }
}

TEST(DTensorOnFibers, OneDimMeshes) {
  // Even (4x6 over 2), uneven (5x7 over 3, 4), empty shards (1x2 over 4),
  // zero-size dims, 0-dim tensors.
  run_all({{1}, {2}, {3}, {4}}, {{4, 6}, {5, 7}, {1, 2}, {0, 3}, {}}, at::kFloat);
}

TEST(DTensorOnFibers, TwoDimMeshes) {
  run_all({{2, 2}, {2, 3}, {3, 2}}, {{4, 6}, {5, 7}, {1, 2}, {8, 3}, {0, 5}}, at::kFloat);
}

TEST(DTensorOnFibers, ThreeDimMeshes) {
  run_all({{2, 2, 2}, {1, 2, 3}}, {{8, 4, 3}, {5, 3, 7}, {1, 2, 1}}, at::kFloat);
}

TEST(DTensorOnFibers, OnCpuDevices) {
  run_all({{3}, {2, 3}}, {{5, 7}, {1, 2}}, at::kFloat, DeviceKind::kCpu);
}

TEST(DTensorOnFibers, OtherDtypes) {
  for (c10::ScalarType dtype : {at::kDouble, at::kLong, at::kHalf, at::kBool, at::kComplexFloat}) {
    run_all({{2, 3}}, {{5, 7}}, dtype);
  }
}

TEST(DTensorOnFibers, AMeshOverSomeRanksInAnyOrder) {
  // World ranks {5, 1, 4, 2} of 6 form a 2x2 mesh; 0 and 3 stay out.
  for (const Placements& p : all_placements(2, 2)) {
    check_round_trip({{2, 2}, p, {5, 3}, at::kFloat, {5, 1, 4, 2}, 6}, 11);
  }
}

TEST(DTensorOnFibers, OneTensorDimShardedOnSeveralMeshDims) {
  // reference-semantics §4: size 8 on a 2x3 mesh with [S0, S0] gives
  // coordinate (0,2) an empty shard whose offset is the global size.
  const Shape mesh = {2, 3};
  const Placements p = {Placement::shard(0), Placement::shard(0)};
  const LocalLayout layout = compute_local_shape_and_global_offset({8}, mesh, {0, 2}, p);
  EXPECT_EQ(layout.shape, Shape({0}));
  EXPECT_EQ(layout.offset, Shape({8}));
  check_round_trip({mesh, p, {8}, at::kFloat}, 5);
  check_round_trip({{2, 2, 2},
                    {Placement::shard(0), Placement::shard(0), Placement::shard(0)},
                    {11, 2},
                    at::kFloat},
                   6);
  check_round_trip({{3, 2}, {Placement::shard(1), Placement::shard(1)}, {2, 5}, at::kLong}, 7);
}

}  // namespace
}  // namespace sim
}  // namespace shardsim
