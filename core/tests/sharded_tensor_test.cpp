// ShardedTensor: construction accepts exactly the tilings of the global size
// and names the offending shard (index and metadata) otherwise.
#include <gtest/gtest.h>

#include "expect_refusal.h"

#include <ATen/ATen.h>

#include <sstream>

#include "shardsim/core/error.h"
#include "shardsim/core/random.h"
#include "shardsim/core/sharded_tensor.h"

namespace shardsim {
namespace {

using Metas = std::vector<ShardMetadata>;

ShardMetadata meta(Shape offsets, Shape sizes, int64_t rank) {
  return ShardMetadata{std::move(offsets), std::move(sizes),
                       "rank:" + std::to_string(rank) + "/cpu"};
}

std::string printed(const ShardMetadata& m) {
  std::ostringstream os;
  os << m;
  return os.str();
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// The message of the InvalidArgument that validate_tiling throws ("" if none).
std::string tiling_error(const Shape& global, const Metas& all) {
  try {
    ShardedTensor::validate_tiling(global, all);
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "";
}

using test::invalid_argument_message;

// Independent oracle: paint every shard's box into a count tensor with
// narrow; a tiling has every box in bounds and every element painted once.
bool oracle_tiles(const Shape& global, const Metas& all) {
  at::Tensor count = at::zeros(global, at::kInt);
  for (const ShardMetadata& m : all) {
    if (m.offsets.size() != global.size() || m.sizes.size() != global.size()) return false;
    if (m.rank() < 0) return false;
    at::Tensor box = count;
    for (size_t d = 0; d < global.size(); ++d) {
      if (m.offsets[d] < 0 || m.sizes[d] < 0 || m.offsets[d] + m.sizes[d] > global[d]) return false;
      box = box.narrow(static_cast<int64_t>(d), m.offsets[d], m.sizes[d]);
    }
    box.add_(1);
  }
  return count.numel() == 0 || at::equal(count, at::ones_like(count));
}

// --- Valid tilings ------------------------------------------------------------------

TEST(ShardedTensorTiling, ValidTilingsAreAccepted) {
  // Row-wise, column-wise, 2-D blocks, uneven, with empty shards, out of order,
  // several shards on one rank, a zero-size tensor and a 0-dim one.
  const std::vector<std::pair<Shape, Metas>> cases = {
      {{4, 3}, {meta({0, 0}, {2, 3}, 0), meta({2, 0}, {2, 3}, 1)}},
      {{3, 4}, {meta({0, 0}, {3, 2}, 0), meta({0, 2}, {3, 2}, 1)}},
      {{4, 4},
       {meta({0, 0}, {2, 2}, 0), meta({0, 2}, {2, 2}, 1), meta({2, 0}, {2, 2}, 2),
        meta({2, 2}, {2, 2}, 3)}},
      {{5, 3}, {meta({0, 0}, {3, 3}, 0), meta({3, 0}, {2, 3}, 1)}},
      {{1, 2}, {meta({0, 0}, {1, 2}, 0), meta({1, 0}, {0, 2}, 1), meta({1, 0}, {0, 2}, 2)}},
      {{6}, {meta({4}, {2}, 2), meta({0}, {1}, 0), meta({1}, {3}, 1)}},
      {{4}, {meta({0}, {2}, 0), meta({2}, {2}, 0)}},
      {{0, 3}, {meta({0, 0}, {0, 3}, 0), meta({0, 0}, {0, 3}, 1)}},
      {{0, 3}, {}},
      {{}, {meta({}, {}, 0)}},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(tiling_error(c.first, c.second), "") << shape_str(c.first);
    EXPECT_TRUE(oracle_tiles(c.first, c.second)) << shape_str(c.first);
  }
}

TEST(ShardedTensorTiling, AgreesWithPaintingOracleOnRandomBoxes) {
  Random rng(20240611);
  int64_t accepted = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    const size_t ndim = static_cast<size_t>(rng.range(1, 2));
    Shape global(ndim);
    for (int64_t& s : global) s = rng.range(0, 4);
    Metas all;
    if (rng.chance(0.5)) {
      // A grid tiling (always valid), then perhaps one random change.
      std::vector<std::vector<int64_t>> cuts(ndim);
      for (size_t d = 0; d < ndim; ++d) {
        cuts[d] = {0};
        while (cuts[d].back() < global[d]) cuts[d].push_back(rng.range(cuts[d].back(), global[d]));
        if (global[d] == 0) cuts[d].push_back(0);
      }
      const int64_t rows = static_cast<int64_t>(cuts[0].size()) - 1;
      const int64_t cols = ndim == 2 ? static_cast<int64_t>(cuts[1].size()) - 1 : 1;
      for (int64_t i = 0; i < rows; ++i) {
        for (int64_t j = 0; j < cols; ++j) {
          Shape off{cuts[0][i]}, size{cuts[0][i + 1] - cuts[0][i]};
          if (ndim == 2) {
            off.push_back(cuts[1][j]);
            size.push_back(cuts[1][j + 1] - cuts[1][j]);
          }
          all.push_back(meta(off, size, i * cols + j));
        }
      }
      if (!all.empty() && rng.chance(0.5)) {
        ShardMetadata& m = all[rng.uniform(all.size())];
        const size_t d = rng.uniform(ndim);
        (rng.chance(0.5) ? m.offsets[d] : m.sizes[d]) += rng.range(-1, 1);
      }
    } else {
      const int64_t n = rng.range(1, 4);
      for (int64_t k = 0; k < n; ++k) {
        Shape off(ndim), size(ndim);
        for (size_t d = 0; d < ndim; ++d) {
          off[d] = rng.range(0, 4);
          size[d] = rng.range(0, 4);
        }
        all.push_back(meta(off, size, k));
      }
    }
    const bool want = oracle_tiles(global, all);
    const std::string got = tiling_error(global, all);
    accepted += want ? 1 : 0;
    std::ostringstream what;
    what << "global " << shape_str(global) << " shards:";
    for (const ShardMetadata& m : all) what << " " << m;
    ASSERT_EQ(got.empty(), want) << what.str() << " error: " << got;
  }
  // Both verdicts must be well represented for the agreement to mean anything.
  EXPECT_GT(accepted, 1000);
  EXPECT_LT(accepted, 3000);
}

// --- Invalid tilings name the shard --------------------------------------------------

TEST(ShardedTensorTiling, OutOfBounds) {
  const Metas all = {meta({0, 0}, {2, 3}, 0), meta({2, 0}, {3, 3}, 1)};
  const std::string msg = tiling_error({4, 3}, all);
  EXPECT_TRUE(contains(msg, "shard 1 " + printed(all[1]))) << msg;
  EXPECT_TRUE(contains(msg, "out of bounds on dim 0: 2 + 3 > 4")) << msg;
  const std::string neg = tiling_error({4}, {meta({-1}, {5}, 0)});
  EXPECT_TRUE(contains(neg, "shard 0 ")) << neg;
  EXPECT_TRUE(contains(neg, "negative offset or size on dim 0")) << neg;
}

TEST(ShardedTensorTiling, Overlap) {
  const Metas all = {meta({0, 0}, {2, 3}, 0), meta({3, 0}, {1, 3}, 2), meta({1, 1}, {2, 2}, 1)};
  const std::string msg = tiling_error({4, 3}, all);
  EXPECT_TRUE(contains(msg, "shard 0 " + printed(all[0]) + " overlaps shard 2 " + printed(all[2])))
      << msg;
}

TEST(ShardedTensorTiling, IncompleteCoverage) {
  const std::string msg = tiling_error({4, 3}, {meta({0, 0}, {3, 3}, 0)});
  EXPECT_TRUE(contains(msg, "cover 9 of the 12 elements of global size [4, 3]")) << msg;
  EXPECT_TRUE(contains(tiling_error({2}, {}), "cover 0 of the 2 elements"));
}

TEST(ShardedTensorTiling, MissingRankOrWrongDims) {
  const ShardMetadata no_rank{{0}, {4}, "cpu"};
  const std::string msg = tiling_error({4}, {no_rank});
  EXPECT_TRUE(contains(msg, "shard 0 " + printed(no_rank))) << msg;
  EXPECT_TRUE(contains(msg, "without a rank")) << msg;
  for (const std::string bad : {"rank:/cpu", "rank:x/cpu", "", "Rank:0/cpu"}) {
    const ShardMetadata m{{0}, {4}, bad};
    EXPECT_TRUE(contains(tiling_error({4}, {m}), "without a rank")) << bad;
  }
  const std::string dims = tiling_error({4, 2}, {meta({0}, {4}, 0)});
  EXPECT_TRUE(contains(dims, "shard 0 ")) << dims;
  EXPECT_TRUE(contains(dims, "does not have the 2 dims")) << dims;
  EXPECT_TRUE(contains(tiling_error({-1}, {}), "negative size")) << tiling_error({-1}, {});
}

// --- Construction with local shards -------------------------------------------------

TEST(ShardedTensor, ConstructsWithLocalShards) {
  const Metas all = {meta({0, 0}, {2, 3}, 0), meta({2, 0}, {1, 3}, 1), meta({3, 0}, {0, 3}, 2)};
  const ShardedTensor t({3, 3}, {LocalShard{at::ones({1, 3}), all[1]}}, all);
  EXPECT_EQ(t.size(), (Shape{3, 3}));
  ASSERT_EQ(t.local_shards().size(), 1u);
  EXPECT_EQ(t.local_shards()[0].metadata, all[1]);
  EXPECT_EQ(t.shards_metadata(), all);
  EXPECT_EQ(t.dtype(), at::kFloat);
  // A rank without local shards, and a rank holding an empty one.
  EXPECT_NO_THROW(ShardedTensor({3, 3}, {}, all));
  EXPECT_NO_THROW(ShardedTensor({3, 3}, {LocalShard{at::zeros({0, 3}), all[2]}}, all));
  const ShardedTensor moved = t.to(c10::Device(c10::kCPU));
  EXPECT_EQ(moved.local_shards()[0].metadata, all[1]);
  EXPECT_TRUE(moved.local_shards()[0].tensor.is_same(t.local_shards()[0].tensor));
}

TEST(ShardedTensor, LocalShardMismatchesNameTheShard) {
  const Metas all = {meta({0, 0}, {2, 3}, 0), meta({2, 0}, {2, 3}, 1)};
  std::string msg = invalid_argument_message([&] {
    ShardedTensor({4, 3}, {LocalShard{at::zeros({2, 2}), all[0]}}, all);
  });
  EXPECT_TRUE(contains(msg, "local shard 0 " + printed(all[0]) + " holds a tensor of shape [2, 2]"))
      << msg;
  msg = invalid_argument_message([&] {
    ShardedTensor({4, 3},
                  {LocalShard{at::zeros({2, 3}), all[0]},
                   LocalShard{at::zeros({2, 3}), meta({2, 0}, {2, 3}, 7)}},
                  all);
  });
  EXPECT_TRUE(contains(msg, "local shard 1 ")) << msg;
  EXPECT_TRUE(contains(msg, "rank:7/cpu")) << msg;
  EXPECT_TRUE(contains(msg, "is not among the tensor's shards metadata")) << msg;
  msg = invalid_argument_message([&] {
    ShardedTensor({4, 3}, {LocalShard{at::Tensor(), all[1]}}, all);
  });
  EXPECT_TRUE(contains(msg, "local shard 0 " + printed(all[1]) + " has no tensor")) << msg;
  msg = invalid_argument_message([&] {
    ShardedTensor(
        {4, 3},
        {LocalShard{at::zeros({2, 3}), all[0]}, LocalShard{at::zeros({2, 3}, at::kDouble), all[1]}},
        all);
  });
  EXPECT_TRUE(contains(msg, "local shard 1 ")) << msg;
  EXPECT_TRUE(contains(msg, "Double")) << msg;
  // Bad tilings are caught by the constructor too.
  msg = invalid_argument_message([&] { ShardedTensor({5, 3}, {}, all); });
  EXPECT_TRUE(contains(msg, "cover 12 of the 15")) << msg;
}

TEST(ShardMetadata, RankAndPrinting) {
  EXPECT_EQ(meta({0}, {1}, 0).rank(), 0);
  EXPECT_EQ((ShardMetadata{{0}, {1}, "rank:12/cuda:1"}).rank(), 12);
  EXPECT_EQ((ShardMetadata{{0}, {1}, "rank:3"}).rank(), 3);
  EXPECT_EQ((ShardMetadata{{0}, {1}, "cpu"}).rank(), -1);
  EXPECT_EQ((ShardMetadata{{0}, {1}, "rank:"}).rank(), -1);
  EXPECT_EQ(printed(meta({2, 0}, {1, 3}, 1)),
            "ShardMetadata(offsets=[2, 0], sizes=[1, 3], placement=rank:1/cpu)");
  EXPECT_EQ(shard_placement(0, c10::Device(c10::kCPU)), "rank:0/cpu");
  EXPECT_EQ(shard_placement(1, c10::Device(c10::kCUDA, 1)), "rank:1/cuda:1");
  EXPECT_NE(meta({0}, {1}, 0), meta({0}, {1}, 1));
  EXPECT_NE(meta({0}, {1}, 0), meta({1}, {1}, 0));
  EXPECT_NE(meta({0}, {1}, 0), meta({0}, {2}, 0));
}

}  // namespace
}  // namespace shardsim
