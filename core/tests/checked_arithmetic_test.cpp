// Sizes from outside are multiplied and added with checked arithmetic: each
// boundary below is hand-computed (2^63 - 1 is the largest int64_t), and one
// step past it must be InvalidArgument, never a wrapped value.
#include <gtest/gtest.h>

#include "expect_refusal.h"

#include <cstdint>
#include <limits>
#include <string>

#include "shardsim/core/checked.h"
#include "shardsim/core/dtensor.h"
#include "shardsim/core/error.h"
#include "shardsim/core/mesh.h"
#include "shardsim/core/shape.h"
#include "shardsim/core/sharded_tensor.h"
#include "shardsim/core/sharding.h"

namespace shardsim {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();  // 2^63 - 1

// The message of the InvalidArgument `fn` throws; fails the test otherwise.
template <typename Fn>
std::string refusal(Fn fn) {
  return test::invalid_argument_message(fn);
}

TEST(CheckedArithmetic, MulAtTheLimitAndOnePast) {
  // 2^63 - 1 = 7 * 7 * 73 * 127 * 337 * 92737 * 649657
  EXPECT_EQ(checked_mul(7 * 7 * 73 * 127 * 337, int64_t{92737} * 649657, "x"), kMax);
  EXPECT_EQ(checked_mul(-(int64_t{1} << 62), 2, "x"), std::numeric_limits<int64_t>::min());
  const std::string msg = refusal([] { checked_mul(int64_t{1} << 62, 2, "mesh"); });
  EXPECT_NE(msg.find("mesh: 4611686018427387904 * 2 does not fit"), std::string::npos) << msg;
}

TEST(CheckedArithmetic, AddAtTheLimitAndOnePast) {
  EXPECT_EQ(checked_add(kMax - 5, 5, "x"), kMax);
  const std::string msg = refusal([] { checked_add(kMax - 5, 6, "offset"); });
  EXPECT_NE(msg.find("offset: 9223372036854775802 + 6 does not fit"), std::string::npos) << msg;
}

TEST(CheckedArithmetic, NumelAtTheLimitAndOnePast) {
  EXPECT_EQ(numel_of({kMax}), kMax);
  EXPECT_EQ(numel_of({7 * 7 * 73 * 127 * 337, 92737, 649657}), kMax);
  EXPECT_EQ(numel_of({0, kMax, kMax}), 0);
  const std::string msg = refusal([] { numel_of({int64_t{1} << 62, 2}); });
  EXPECT_NE(msg.find("shape [4611686018427387904, 2] has more elements"), std::string::npos) << msg;
}

TEST(CheckedArithmetic, StridesAtTheLimitAndOnePast) {
  // The outermost size never enters a stride.
  EXPECT_EQ(contiguous_strides({kMax, kMax}), (Shape{kMax, 1}));
  EXPECT_EQ(contiguous_strides({3, (int64_t{1} << 62) - 1, 2}), (Shape{kMax - 1, 2, 1}));
  refusal([] { contiguous_strides({3, int64_t{1} << 62, 2}); });
}

// The input a fuzzer found: each size is in range, the product is ~5.8e19.
TEST(CheckedArithmetic, MeshWhoseProductOverflows) {
  const std::string msg =
      refusal([] { parse_mesh_shape("0959x133x22x30959x133x22x322222", "--mesh"); });
  EXPECT_NE(msg.find("has more than 2^24 ranks"), std::string::npos) << msg;
  EXPECT_EQ(numel_of(parse_mesh_shape("4096x4096", "--mesh")), int64_t{1} << 24);
  refusal([] { parse_mesh_shape("4096x4097", "--mesh"); });
}

TEST(CheckedArithmetic, ShapeWhoseStridesOverflow) {
  // numel 0, but the strides of the other sizes do not fit.
  const std::string msg = refusal(
      [] { parse_shape("0,1099511627776,1099511627776,1099511627776", "--shape"); });
  EXPECT_NE(msg.find("--shape '0,1099511627776,1099511627776,1099511627776' has more elements"),
            std::string::npos)
      << msg;
  EXPECT_EQ(parse_shape("0,1099511627776,8388607", "--shape").size(), 3u);
}

TEST(CheckedArithmetic, ChunksOfTheLargestSize) {
  // ceil((2^63 - 1) / 3) = 3074457345618258603; the last chunk gets the rest.
  const ChunkRange first = chunk_range(kMax, 3, 0);
  const ChunkRange last = chunk_range(kMax, 3, 2);
  EXPECT_EQ(first.start, 0);
  EXPECT_EQ(first.size, 3074457345618258603);
  EXPECT_EQ(last.start, 2 * int64_t{3074457345618258603});
  EXPECT_EQ(last.size, kMax - 2 * int64_t{3074457345618258603});
  // n = 2^62 + 1 pieces of 2^63 - 1: chunk 2, so c * chunk overflows near the end.
  const int64_t n = (int64_t{1} << 62) + 1;
  const ChunkRange past = chunk_range(kMax, n, n - 1);
  EXPECT_EQ(past.size, 0);
  EXPECT_GE(past.start, kMax - 1);
}

TEST(CheckedArithmetic, FromLocalGlobalSizeOverflow) {
  // A meta tensor carries the sizes without the bytes: 2^62 rows on each of 4 ranks.
  const at::Tensor local = at::empty({int64_t{1} << 62}, at::device(c10::kMeta).dtype(at::kByte));
  const std::string msg =
      refusal([&] { from_local(local, DeviceMesh(c10::kCPU, {4}), {Placement::shard(0)}); });
  EXPECT_NE(msg.find("4611686018427387904 * 4 does not fit"), std::string::npos) << msg;
}

TEST(CheckedArithmetic, ShardOffsetPlusSizeOverflow) {
  const std::vector<ShardMetadata> shards{{{kMax}, {1}, "rank:0/cpu"}, {{0}, {4}, "rank:1/cpu"}};
  const std::string msg = refusal([&] { ShardedTensor::validate_tiling({4}, shards); });
  EXPECT_NE(msg.find("is out of bounds on dim 0"), std::string::npos) << msg;
}

}  // namespace
}  // namespace shardsim
