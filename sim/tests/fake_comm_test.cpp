// Every Comm collective on fibers, world and sub-groups, at several world
// sizes and schedules. Oracles: each rank's input rebuilt from the data seed
// and the rank's number, combined with plain ATen.
#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "shardsim/core/comm.h"
#include "shardsim/core/mesh.h"
#include "shardsim/core/random.h"
#include "shardsim/sim/accelerator.h"
#include "shardsim/sim/fiber_world.h"
#include "world_test_util.h"

namespace shardsim {
namespace sim {
namespace {

using testing::bit_equal;
using testing::device_kind_word;
using testing::world_options;

constexpr uint64_t kDataSeed = 2024;
const uint64_t kScheduleSeeds[] = {1, 7, 99};

// Uneven element counts with zeros: 2, 3, 0, 1, 2, 3, 0, 1, ...
std::vector<int64_t> uneven_counts(int64_t n) {
  std::vector<int64_t> counts(n);
  for (int64_t r = 0; r < n; ++r) counts[r] = (r * 5 + 2) % 4;
  return counts;
}

// The first tensor rank `rank` draws from its data stream.
at::Tensor first_draw(int64_t rank, const Shape& shape, c10::ScalarType dtype) {
  Random rng = rank_stream(kDataSeed, rank);
  return random_tensor(rng, shape, dtype);
}

// World size and where the ranks' tensors live.
class CommOnFibers : public ::testing::TestWithParam<std::tuple<int64_t, DeviceKind>> {
 protected:
  int64_t world() const { return std::get<0>(GetParam()); }
  DeviceKind kind() const { return std::get<1>(GetParam()); }
  WorldOptions options(uint64_t schedule_seed = 1) const {
    return world_options(world(), schedule_seed, kDataSeed, kind());
  }
};

TEST_P(CommOnFibers, AllGatherUnevenAndZeroCounts) {
  const int64_t n = world();
  const std::vector<int64_t> counts = uneven_counts(n);
  for (uint64_t seed : kScheduleSeeds) {
    std::vector<std::vector<at::Tensor>> got(n);
    std::vector<at::Tensor> cat(n);
    WorldResult res = run_world(options(seed), [&](RankEnv& env) {
      const int64_t r = env.rank();
      at::Tensor input = random_tensor(env.data(), {counts[r]}, at::kFloat, env.device());
      got[r].resize(n);
      env.comm().all_gather(input, counts, [&](int64_t src, const at::Tensor& piece) {
        EXPECT_EQ(piece.dim(), 1);
        EXPECT_EQ(piece.device(), env.device());
        got[r][src] = piece.clone();
      });
      input.fill_(-7.0f);  // peers that resume later must still read the original
      // all_gather_cat of a 2-D tensor with the counts as rows.
      at::Tensor rows =
          (at::arange(counts[r] * 3, at::kLong).view({counts[r], 3}) + 100 * r).to(env.device());
      cat[r] = all_gather_cat(env.comm(), rows, 0, counts);
      EXPECT_EQ(cat[r].device(), env.device());
      rows.fill_(-1);
    });
    ASSERT_TRUE(res.ok()) << res;
    std::vector<at::Tensor> expected_rows;
    for (int64_t src = 0; src < n; ++src) {
      expected_rows.push_back(at::arange(counts[src] * 3, at::kLong).view({counts[src], 3}) +
                              100 * src);
    }
    const at::Tensor expected_cat = at::cat(expected_rows, 0);
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t src = 0; src < n; ++src) {
        EXPECT_TRUE(bit_equal(got[r][src], first_draw(src, {counts[src]}, at::kFloat)))
            << "world " << n << " seed " << seed << " rank " << r << " piece " << src;
      }
      EXPECT_TRUE(bit_equal(cat[r], expected_cat)) << "rank " << r;
    }
  }
}

TEST_P(CommOnFibers, AllGatherOfEmptyPiecesEverywhere) {
  const int64_t n = world();
  std::vector<int64_t> calls(n, 0);
  WorldResult res = run_world(options(), [&](RankEnv& env) {
    const std::vector<int64_t> zeros(n, 0);
    env.comm().all_gather(at::empty({0}, at::kDouble), zeros,
                          [&](int64_t, const at::Tensor& piece) {
                            EXPECT_EQ(piece.numel(), 0);
                            ++calls[env.rank()];
                          });
  });
  ASSERT_TRUE(res.ok()) << res;
  for (int64_t r = 0; r < n; ++r) EXPECT_EQ(calls[r], n);
}

TEST_P(CommOnFibers, BroadcastFromFirstAndLastRoot) {
  const int64_t n = world();
  for (int64_t root : {int64_t{0}, n - 1}) {
    for (uint64_t seed : kScheduleSeeds) {
      std::vector<at::Tensor> got(n);
      WorldResult res = run_world(options(seed), [&](RankEnv& env) {
        const int64_t r = env.rank();
        // Same element count, different shapes: broadcast agrees on elements only.
        at::Tensor t = r == root ? random_tensor(env.data(), {2, 3}, at::kDouble, env.device())
                                 : at::full({3, 2}, -1.0, at::kDouble).to(env.device());
        env.comm().broadcast(t, root);
        got[r] = t.clone();
        t.fill_(-5.0);  // the root's later writes must not reach late readers
      });
      ASSERT_TRUE(res.ok()) << res;
      const at::Tensor expected = first_draw(root, {2, 3}, at::kDouble);
      for (int64_t r = 0; r < n; ++r) {
        const at::Tensor want = r == root ? expected : expected.reshape({3, 2});
        EXPECT_TRUE(bit_equal(got[r], want)) << "root " << root << " rank " << r;
      }
    }
  }
}

TEST_P(CommOnFibers, BroadcastBytesOfUnknownLength) {
  const int64_t n = world();
  const int64_t root = n / 2;
  std::vector<std::string> got(n);
  WorldResult res = run_world(options(3), [&](RankEnv& env) {
    std::string bytes = env.rank() == root ? std::string("payload\0of root ", 16) + "x" : "junk";
    env.comm().broadcast_bytes(bytes, root);
    got[env.rank()] = bytes;
  });
  ASSERT_TRUE(res.ok()) << res;
  for (int64_t r = 0; r < n; ++r) EXPECT_EQ(got[r], std::string("payload\0of root ", 16) + "x");
}

TEST_P(CommOnFibers, ScatterUnevenFromARoot) {
  const int64_t n = world();
  const std::vector<int64_t> counts = uneven_counts(n);
  for (int64_t root : {int64_t{0}, n - 1}) {
    for (uint64_t seed : kScheduleSeeds) {
      std::vector<at::Tensor> got(n);
      WorldResult res = run_world(options(seed), [&](RankEnv& env) {
        const int64_t r = env.rank();
        std::vector<at::Tensor> inputs;
        if (r == root) {
          for (int64_t i = 0; i < n; ++i) {
            inputs.push_back(random_tensor(env.data(), {counts[i]}, at::kInt, env.device()));
          }
        }
        at::Tensor out = at::full({counts[r]}, -1, at::kInt).to(env.device());
        env.comm().scatter(out, inputs, counts, root);
        got[r] = out.clone();
        for (at::Tensor& t : inputs) t.fill_(-9);
      });
      ASSERT_TRUE(res.ok()) << res;
      Random rng = rank_stream(kDataSeed, root);
      for (int64_t i = 0; i < n; ++i) {
        const at::Tensor want = random_tensor(rng, {counts[i]}, at::kInt);
        EXPECT_TRUE(bit_equal(got[i], want)) << "root " << root << " rank " << i;
      }
    }
  }
}

TEST_P(CommOnFibers, AllReduceSumsInRankOrder) {
  const int64_t n = world();
  for (c10::ScalarType dtype : {at::kFloat, at::kDouble, at::kLong, at::kHalf, at::kBool}) {
    for (uint64_t seed : kScheduleSeeds) {
      std::vector<at::Tensor> got(n);
      WorldResult res = run_world(options(seed), [&](RankEnv& env) {
        at::Tensor t = random_tensor(env.data(), {7}, dtype, env.device());
        env.comm().all_reduce_sum(t);
        EXPECT_EQ(t.device(), env.device());
        got[env.rank()] = t;
      });
      ASSERT_TRUE(res.ok()) << res;
      // ((x0 + x1) + x2) + ... computed here, one rank at a time.
      at::Tensor expected = first_draw(0, {7}, dtype);
      for (int64_t r = 1; r < n; ++r) expected = expected + first_draw(r, {7}, dtype);
      for (int64_t r = 0; r < n; ++r) {
        EXPECT_TRUE(bit_equal(got[r], expected))
            << c10::toString(dtype) << " rank " << r << ": " << got[r] << " vs " << expected;
      }
    }
  }
}

TEST_P(CommOnFibers, BarrierWaitsForEveryone) {
  const int64_t n = world();
  int64_t arrived = 0;
  std::vector<int64_t> seen(n, -1);
  WorldResult res = run_world(options(5), [&](RankEnv& env) {
    ++arrived;
    env.comm().barrier();
    seen[env.rank()] = arrived;
  });
  ASSERT_TRUE(res.ok()) << res;
  for (int64_t r = 0; r < n; ++r) EXPECT_EQ(seen[r], n);
}

// A 2-D mesh for each world size: 1x1, 1x2, 3x1, 2x4, 8x8.
Shape mesh_shape_for(int64_t n) {
  switch (n) {
    case 1:
      return {1, 1};
    case 2:
      return {1, 2};
    case 3:
      return {3, 1};
    case 8:
      return {2, 4};
    default:
      return {8, n / 8};
  }
}

// The ranks sharing `rank`'s coordinate on every mesh dim but `dim`, in
// order of their coordinate on `dim` (computed from row-major numbering).
std::vector<int64_t> oracle_group(const Shape& shape, int64_t rank, int64_t dim) {
  const int64_t rows = shape[0], cols = shape[1];
  const int64_t row = rank / cols, col = rank % cols;
  std::vector<int64_t> out;
  if (dim == 0) {
    for (int64_t i = 0; i < rows; ++i) out.push_back(i * cols + col);
  } else {
    for (int64_t j = 0; j < cols; ++j) out.push_back(row * cols + j);
  }
  return out;
}

std::string oracle_name(const std::vector<int64_t>& members, int64_t n) {
  if (int64_t(members.size()) == n) return "world";  // rows/cols in order cover the world
  std::string s = "[";
  for (size_t i = 0; i < members.size(); ++i) s += (i ? "," : "") + std::to_string(members[i]);
  return s + "]";
}

TEST_P(CommOnFibers, MeshGroupsRunEveryCollective) {
  const int64_t n = world();
  const Shape shape = mesh_shape_for(n);
  const DeviceMesh mesh(c10::kCPU, shape);
  struct PerRank {
    std::vector<std::vector<at::Tensor>> gathered;  // per mesh dim, per group rank
    std::vector<at::Tensor> reduced, broadcast, scattered;
  };
  for (uint64_t seed : kScheduleSeeds) {
    std::vector<PerRank> got(n);
    WorldResult res = run_world(options(seed), [&](RankEnv& env) {
      const int64_t r = env.rank();
      // Rank r's values: 1000*r + 10*dim + k, never drawn (simple to rebuild).
      for (int64_t dim = 0; dim < 2; ++dim) {
        std::shared_ptr<Comm> g = env.comm().mesh_group(mesh, dim);
        const std::vector<int64_t> members = oracle_group(shape, r, dim);
        EXPECT_EQ(g->members(), members);
        EXPECT_EQ(g->name(), oracle_name(members, n));
        EXPECT_EQ(g->members()[g->rank()], r);
        const int64_t m = g->size();
        std::vector<int64_t> counts(m);
        for (int64_t k = 0; k < m; ++k) counts[k] = members[k] % 3;
        const at::TensorOptions on_device =
            at::TensorOptions().dtype(at::kDouble).device(env.device());
        at::Tensor mine = at::arange(counts[g->rank()], on_device) + 1000.0 * r + 10.0 * dim;
        std::vector<at::Tensor> pieces(m);
        g->all_gather(mine, counts,
                      [&](int64_t src, const at::Tensor& p) { pieces[src] = p.clone(); });
        got[r].gathered.push_back(pieces);
        at::Tensor red = at::full({2}, double(r + dim), on_device);
        g->all_reduce_sum(red);
        got[r].reduced.push_back(red);
        at::Tensor b =
            g->rank() == m - 1 ? at::full({3}, double(r), on_device) : at::zeros({3}, on_device);
        g->broadcast(b, m - 1);
        got[r].broadcast.push_back(b);
        std::vector<at::Tensor> ins;
        if (g->rank() == 0) {
          for (int64_t k = 0; k < m; ++k)
            ins.push_back(at::full({counts[k]}, double(r * 100 + k), on_device));
        }
        at::Tensor out = at::empty({counts[g->rank()]}, on_device);
        g->scatter(out, ins, counts, 0);
        got[r].scattered.push_back(out);
        g->barrier();
        env.comm().barrier();  // world collectives interleave with group ones
      }
    });
    ASSERT_TRUE(res.ok()) << res;
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t dim = 0; dim < 2; ++dim) {
        const std::vector<int64_t> members = oracle_group(shape, r, dim);
        const int64_t m = members.size();
        double sum = 0;
        for (int64_t k = 0; k < m; ++k) {
          const int64_t w = members[k];
          const at::Tensor want = at::arange(w % 3, at::kDouble) + 1000.0 * w + 10.0 * dim;
          EXPECT_TRUE(bit_equal(got[r].gathered[dim][k], want)) << "rank " << r << " dim " << dim;
          sum += double(w + dim);
        }
        EXPECT_TRUE(bit_equal(got[r].reduced[dim], at::full({2}, sum, at::kDouble)));
        EXPECT_TRUE(
            bit_equal(got[r].broadcast[dim], at::full({3}, double(members[m - 1]), at::kDouble)));
        const int64_t k = std::find(members.begin(), members.end(), r) - members.begin();
        EXPECT_TRUE(bit_equal(got[r].scattered[dim],
                              at::full({r % 3}, double(members[0] * 100 + k), at::kDouble)));
      }
    }
  }
}

TEST_P(CommOnFibers, ExplicitSubgroupsOfEvenAndOddRanks) {
  const int64_t n = world();
  std::vector<int64_t> evens, odds;
  for (int64_t r = 0; r < n; ++r) (r % 2 ? odds : evens).push_back(r);
  std::vector<double> got(n, -1);
  std::vector<std::string> names(n);
  WorldResult res = run_world(options(13), [&](RankEnv& env) {
    const int64_t r = env.rank();
    std::shared_ptr<Comm> g = env.comm().subgroup(r % 2 ? odds : evens);
    EXPECT_EQ(env.comm().subgroup(r % 2 ? odds : evens).get(), g.get()) << "cached";
    at::Tensor t = at::full({1}, double(r), at::kDouble);
    g->all_reduce_sum(t);
    got[r] = t.item<double>();
    names[r] = g->name();
  });
  ASSERT_TRUE(res.ok()) << res;
  double even_sum = 0, odd_sum = 0;
  for (int64_t r : evens) even_sum += r;
  for (int64_t r : odds) odd_sum += r;
  for (int64_t r = 0; r < n; ++r) EXPECT_EQ(got[r], r % 2 ? odd_sum : even_sum) << r;
  if (n == 3) {
    EXPECT_EQ(names[0], "[0,2]");
  }
  if (n == 1) {
    EXPECT_EQ(names[0], "world");
  }
  if (n == 64) {
    EXPECT_EQ(names[1], "[1,3,5,7,9,11,13,15,...,63](32 ranks)");
  }
}

TEST_P(CommOnFibers, BadArgumentsFailTheRankAndNameIt) {
  const int64_t n = world();
  WorldResult res = run_world(options(), [&](RankEnv& env) {
    if (env.rank() != n - 1) return;
    std::vector<int64_t> counts(n, 1);
    env.comm().all_gather(at::zeros({2}), counts, [](int64_t, const at::Tensor&) {});
  });
  ASSERT_EQ(res.status, WorldResult::Status::kError) << res;
  const std::string& error = res.ranks[n - 1].error;
  EXPECT_NE(error.find("rank " + std::to_string(n - 1) + ": all_gather on group world"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("input has 2 elements but counts[" + std::to_string(n - 1) + "] = 1"),
            std::string::npos)
      << error;
}

TEST(CommMemory, AllGatherOutputsAreMaterialisedOneRankAtATime) {
  // Each rank's output exists only while that rank runs its sinks; the
  // backend itself holds one output's worth (the packed inputs).
  const int64_t n = 8, elems = 1000;
  const int64_t piece_bytes = elems * 4, output_bytes = n * piece_bytes;
  const int64_t baseline = simulated_bytes_in_use();
  int64_t arrived = 0, peak = 0;
  WorldResult res = run_world(world_options(n, 21), [&](RankEnv& env) {
    const at::TensorOptions opts = at::TensorOptions().device(env.device());
    const at::Tensor mine = at::full({elems}, float(env.rank()), opts);
    ++arrived;
    at::Tensor out;
    env.comm().all_gather(mine, std::vector<int64_t>(n, elems),
                          [&](int64_t src, const at::Tensor& p) {
                            EXPECT_EQ(arrived, n) << "sinks run after every member has arrived";
                            if (!out.defined()) out = at::empty({n * elems}, opts);
                            out.narrow(0, src * elems, elems).copy_(p);
                            peak = std::max(peak, simulated_bytes_in_use() - baseline);
                          });
    EXPECT_TRUE(
        at::equal(out.view({n, elems}).select(1, 0).to(c10::kCPU), at::arange(n, at::kFloat)));
  });
  ASSERT_TRUE(res.ok()) << res;
  // Inputs + the backend's packed copy + one output; every output at once
  // would be n * output_bytes.
  EXPECT_LE(peak, n * piece_bytes + output_bytes + output_bytes + 64 * 1024) << "peak " << peak;
  EXPECT_LT(peak, n * output_bytes / 2);
  EXPECT_EQ(simulated_bytes_in_use(), baseline);
}

TEST(CommAutograd, CollectivesMoveDataOutsideAutograd) {
  // Leaves that require grad take part like any tensor (as on c10d).
  std::vector<double> reduced(3, -1), broadcast(3, -1), gathered(3, -1);
  WorldResult res = run_world(world_options(3, 2), [&](RankEnv& env) {
    const at::TensorOptions opts = at::TensorOptions().dtype(at::kDouble).device(env.device());
    at::Tensor t = at::full({2}, double(env.rank() + 1), opts).requires_grad_();
    env.comm().all_reduce_sum(t);
    reduced[env.rank()] = t.sum().item<double>();
    at::Tensor b = at::full({2}, double(env.rank() + 10), opts).requires_grad_();
    env.comm().broadcast(b, 2);
    broadcast[env.rank()] = b.sum().item<double>();
    double sum = 0;
    env.comm().all_gather(b, {2, 2, 2}, [&](int64_t, const at::Tensor& p) {
      EXPECT_FALSE(p.requires_grad());
      sum += p.sum().item<double>();
    });
    gathered[env.rank()] = sum;
    EXPECT_TRUE(t.requires_grad());
  });
  ASSERT_TRUE(res.ok()) << res;
  for (int64_t r = 0; r < 3; ++r) {
    EXPECT_EQ(reduced[r], 12.0);
    EXPECT_EQ(broadcast[r], 24.0);
    EXPECT_EQ(gathered[r], 72.0);
  }
}

TEST(CommOnMeshes, AMeshOverSomeRanksInAnyOrder) {
  // A 2x2 mesh over world ranks {5, 1, 4, 2} of a 6-rank world; ranks 0 and 3
  // take no part. The source of distribute-like data is the mesh's first rank.
  const DeviceMesh mesh(c10::kCPU, {2, 2}, {5, 1, 4, 2});
  std::vector<std::vector<int64_t>> members(6);
  std::vector<std::string> names(6);
  std::vector<double> sums(6, -1);
  WorldResult res = run_world(world_options(6, 4), [&](RankEnv& env) {
    const int64_t r = env.rank();
    if (r == 0 || r == 3) return;
    std::shared_ptr<Comm> row = env.comm().mesh_group(mesh, 1);
    members[r] = row->members();
    names[r] = row->name();
    at::Tensor t =
        at::full({1}, double(r), at::TensorOptions().dtype(at::kDouble).device(env.device()));
    env.comm().mesh_group(mesh, 0)->all_reduce_sum(t);
    sums[r] = t.item<double>();
  });
  ASSERT_TRUE(res.ok()) << res;
  EXPECT_EQ(members[5], std::vector<int64_t>({5, 1}));
  EXPECT_EQ(members[1], std::vector<int64_t>({5, 1}));
  EXPECT_EQ(members[4], std::vector<int64_t>({4, 2}));
  EXPECT_EQ(names[2], "[4,2]");
  // Columns: {5, 4} and {1, 2}.
  EXPECT_EQ(sums[5], 9.0);
  EXPECT_EQ(sums[4], 9.0);
  EXPECT_EQ(sums[1], 3.0);
  EXPECT_EQ(sums[2], 3.0);
}

INSTANTIATE_TEST_SUITE_P(Worlds, CommOnFibers,
                         ::testing::Combine(::testing::Values(1, 2, 3, 8, 64),
                                            ::testing::Values(DeviceKind::kSimulated,
                                                              DeviceKind::kCpu)),
                         [](const ::testing::TestParamInfo<std::tuple<int64_t, DeviceKind>>& info) {
                           return "W" + std::to_string(std::get<0>(info.param)) + "_" +
                                  device_kind_word(std::get<1>(info.param));
                         });

}  // namespace
}  // namespace sim
}  // namespace shardsim
