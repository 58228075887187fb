// DeviceMesh (row-major coordinates, groups along a mesh dim), placements and
// the textual forms of shapes and meshes.
#include <gtest/gtest.h>

#include "expect_refusal.h"

#include <ATen/ATen.h>

#include <sstream>

#include "shardsim/core/error.h"
#include "shardsim/core/mesh.h"
#include "shardsim/core/placement.h"
#include "shardsim/core/shape.h"

namespace shardsim {
namespace {

using Ranks = std::vector<int64_t>;

using test::invalid_argument_message;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

template <typename T>
std::string printed(const T& v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// --- DeviceMesh -----------------------------------------------------------------

TEST(DeviceMesh, OneDim) {
  const DeviceMesh mesh(c10::kCPU, {4});
  EXPECT_EQ(mesh.ndim(), 1);
  EXPECT_EQ(mesh.size(), 4);
  EXPECT_EQ(mesh.ranks(), (Ranks{0, 1, 2, 3}));
  for (int64_t r = 0; r < 4; ++r) {
    EXPECT_EQ(mesh.coordinate(r), (Shape{r}));
    EXPECT_EQ(mesh.rank_at({r}), r);
    EXPECT_EQ(mesh.group_ranks(r, 0), (Ranks{0, 1, 2, 3}));
  }
}

TEST(DeviceMesh, TwoDimIsRowMajor) {
  const DeviceMesh mesh(c10::kCPU, {2, 3});
  EXPECT_EQ(mesh.size(0), 2);
  EXPECT_EQ(mesh.size(1), 3);
  EXPECT_EQ(mesh.coordinate(0), (Shape{0, 0}));
  EXPECT_EQ(mesh.coordinate(2), (Shape{0, 2}));
  EXPECT_EQ(mesh.coordinate(3), (Shape{1, 0}));
  EXPECT_EQ(mesh.coordinate(4), (Shape{1, 1}));
  EXPECT_EQ(mesh.rank_at({1, 2}), 5);
  // Along mesh dim 0 the group is a column, along dim 1 a row.
  EXPECT_EQ(mesh.group_ranks(4, 0), (Ranks{1, 4}));
  EXPECT_EQ(mesh.group_ranks(4, 1), (Ranks{3, 4, 5}));
  EXPECT_EQ(mesh.group_ranks(0, 0), (Ranks{0, 3}));
}

TEST(DeviceMesh, ThreeDim) {
  const DeviceMesh mesh(c10::kCPU, {2, 2, 2});
  EXPECT_EQ(mesh.coordinate(5), (Shape{1, 0, 1}));
  EXPECT_EQ(mesh.coordinate(6), (Shape{1, 1, 0}));
  EXPECT_EQ(mesh.rank_at({0, 1, 1}), 3);
  EXPECT_EQ(mesh.group_ranks(5, 0), (Ranks{1, 5}));
  EXPECT_EQ(mesh.group_ranks(5, 1), (Ranks{5, 7}));
  EXPECT_EQ(mesh.group_ranks(5, 2), (Ranks{4, 5}));
}

TEST(DeviceMesh, NonContiguousRanks) {
  const DeviceMesh mesh(c10::kCPU, {2, 2}, {10, 3, 7, 0});
  EXPECT_TRUE(mesh.contains(7));
  EXPECT_FALSE(mesh.contains(1));
  EXPECT_EQ(mesh.coordinate(10), (Shape{0, 0}));
  EXPECT_EQ(mesh.coordinate(7), (Shape{1, 0}));
  EXPECT_EQ(mesh.coordinate(0), (Shape{1, 1}));
  EXPECT_EQ(mesh.rank_at({0, 1}), 3);
  EXPECT_EQ(mesh.group_ranks(3, 0), (Ranks{3, 0}));
  EXPECT_EQ(mesh.group_ranks(3, 1), (Ranks{10, 3}));
  EXPECT_THROW(mesh.coordinate(1), Error);
  EXPECT_THROW(mesh.rank_at({2, 0}), Error);
  EXPECT_THROW(mesh.rank_at({0}), Error);
  EXPECT_THROW(mesh.group_ranks(3, 2), Error);
}

// Every mesh of 1..3 dims with sizes 1..4, over a shuffled rank list: an
// odometer (which is row-major by construction) gives the expected coordinate
// of the i-th listed rank, and each group varies exactly one coordinate.
TEST(DeviceMesh, EveryMeshAgainstOdometer) {
  for (size_t ndim = 1; ndim <= 3; ++ndim) {
    Shape shape(ndim, 1);
    while (true) {
      const int64_t n = numel_of(shape);
      Ranks ranks(n);
      // A permutation of 100..100+n-1 (n has no factor 7).
      for (int64_t i = 0; i < n; ++i) ranks[i] = (i * 7 + 3) % n + 100;
      const DeviceMesh mesh(c10::kCPU, shape, ranks);
      Shape coord(ndim, 0);
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_EQ(mesh.coordinate(ranks[i]), coord) << mesh;
        ASSERT_EQ(mesh.rank_at(coord), ranks[i]) << mesh;
        for (size_t d = 0; d < ndim; ++d) {
          Ranks want;
          Shape c = coord;
          for (int64_t k = 0; k < shape[d]; ++k) {
            c[d] = k;
            int64_t flat = 0;
            for (size_t e = 0; e < ndim; ++e) flat = flat * shape[e] + c[e];
            want.push_back(ranks[flat]);
          }
          ASSERT_EQ(mesh.group_ranks(ranks[i], static_cast<int64_t>(d)), want) << mesh;
        }
        for (size_t k = ndim; k-- > 0;) {  // advance the odometer, last dim fastest
          if (++coord[k] < shape[k]) break;
          coord[k] = 0;
        }
      }
      size_t k = ndim;
      while (k > 0 && shape[k - 1] == 4) shape[--k] = 1;
      if (k == 0) break;
      ++shape[k - 1];
    }
  }
}

TEST(DeviceMesh, BadMeshesAreRejected) {
  EXPECT_TRUE(contains(invalid_argument_message([] { (void)DeviceMesh(c10::kCPU, {}); }),
                       "at least one dimension"));
  EXPECT_TRUE(contains(invalid_argument_message([] {
                         (void)DeviceMesh(c10::kCPU, {2, 0});
                       }),
                       "at least 1"));
  EXPECT_TRUE(
      contains(invalid_argument_message([] { (void)DeviceMesh(c10::kCPU, {-2}); }), "at least 1"));
  const std::string count = invalid_argument_message([] {
    (void)DeviceMesh(c10::kCPU, {2, 2}, {0, 1, 2});
  });
  EXPECT_TRUE(contains(count, "holds 4 ranks but 3 were given")) << count;
  const std::string twice = invalid_argument_message([] {
    (void)DeviceMesh(c10::kCPU, {3}, {0, 1, 1});
  });
  EXPECT_TRUE(contains(twice, "rank 1 appears twice")) << twice;
  const std::string neg = invalid_argument_message([] {
    (void)DeviceMesh(c10::kCPU, {2}, {0, -1});
  });
  EXPECT_TRUE(contains(neg, "negative rank -1")) << neg;
}

TEST(DeviceMesh, CompareAndPrint) {
  const DeviceMesh a(c10::kCPU, {2, 3});
  EXPECT_EQ(a, DeviceMesh(c10::kCPU, {2, 3}, {0, 1, 2, 3, 4, 5}));
  EXPECT_NE(a, DeviceMesh(c10::kCPU, {3, 2}));
  EXPECT_NE(a, DeviceMesh(c10::kCPU, {2, 3}, {0, 1, 2, 3, 5, 4}));
  EXPECT_NE(a, DeviceMesh(c10::kMeta, {2, 3}));
  EXPECT_EQ(printed(a), "DeviceMesh(cpu, 2x3, ranks=[0..5])");
  EXPECT_EQ(printed(DeviceMesh(c10::kCPU, {2}, {4, 5})), "DeviceMesh(cpu, 2, ranks=[4..5])");
  EXPECT_EQ(printed(DeviceMesh(c10::kCPU, {2, 2}, {10, 3, 7, 0})),
            "DeviceMesh(cpu, 2x2, ranks=[10, 3, 7, 0])");
}

// --- Placement --------------------------------------------------------------------

TEST(Placement, ParseWords) {
  EXPECT_EQ(Placement::parse("S0"), Placement::shard(0));
  EXPECT_EQ(Placement::parse("S12"), Placement::shard(12));
  EXPECT_EQ(Placement::parse("s1"), Placement::shard(1));
  EXPECT_EQ(Placement::parse("R"), Placement::replicate());
  EXPECT_EQ(Placement::parse("P"), Placement::partial());
  EXPECT_EQ(Placement::parse("S3").dim(), 3);
  EXPECT_TRUE(Placement::parse("S3").is_shard());
  EXPECT_TRUE(Placement::parse("R").is_replicate());
  EXPECT_TRUE(Placement::parse("P").is_partial());
}

TEST(Placement, MalformedWordsNameTheWord) {
  for (const std::string word : {"", "S", "X", "S-1", "Sx", "RR", "S1a", "Shard(0)", "0", "S 1"}) {
    const std::string msg = invalid_argument_message([&] { Placement::parse(word); });
    EXPECT_TRUE(contains(msg, "'" + word + "'")) << word << ": " << msg;
  }
  EXPECT_THROW(Placement::shard(-1), InvalidArgument);
  EXPECT_THROW(Placement::replicate().dim(), Error);
}

TEST(Placement, PrintAndCompare) {
  EXPECT_EQ(Placement::shard(0).word(), "S0");
  EXPECT_EQ(Placement::replicate().word(), "R");
  EXPECT_EQ(Placement::partial().word(), "P");
  EXPECT_EQ(Placement::shard(2).str(), "Shard(2)");
  EXPECT_EQ(Placement::replicate().str(), "Replicate()");
  EXPECT_EQ(Placement::partial().str(), "Partial(sum)");
  EXPECT_EQ(printed(Placement::shard(1)), "Shard(1)");
  EXPECT_EQ(printed(Placements{Placement::shard(0), Placement::replicate()}),
            "[Shard(0), Replicate()]");
  EXPECT_EQ(placements_str({}), "[]");
  EXPECT_NE(Placement::shard(0), Placement::shard(1));
  EXPECT_NE(Placement::replicate(), Placement::partial());
  EXPECT_NE(Placement::shard(0), Placement::replicate());
  EXPECT_EQ(Placement::parse(Placement::shard(7).word()), Placement::shard(7));
}

TEST(Placement, ParseLists) {
  EXPECT_EQ(parse_placements("S0,S1"), (Placements{Placement::shard(0), Placement::shard(1)}));
  EXPECT_EQ(parse_placements("S0 R"), (Placements{Placement::shard(0), Placement::replicate()}));
  EXPECT_EQ(parse_placements("S0, P"), (Placements{Placement::shard(0), Placement::partial()}));
  EXPECT_EQ(parse_placements("R"), (Placements{Placement::replicate()}));
  EXPECT_TRUE(contains(invalid_argument_message([] { parse_placements(""); }), "empty"));
  const std::string bad = invalid_argument_message([] { parse_placements("S0,X"); });
  EXPECT_TRUE(contains(bad, "'X'")) << bad;
  // An empty word between separators is a malformed list, not a shorter one.
  for (const std::string text : {"S0,,R", ",S0", "S0,", "S0;;R"}) {
    const std::string msg = invalid_argument_message([&] { parse_placements(text); });
    EXPECT_TRUE(contains(msg, "'" + text + "'")) << text << ": " << msg;
    EXPECT_TRUE(contains(msg, "empty")) << text << ": " << msg;
  }
}

// --- Shapes and mesh shapes -----------------------------------------------------------

TEST(Shape, ParseGood) {
  EXPECT_EQ(parse_shape("7,5"), (Shape{7, 5}));
  EXPECT_EQ(parse_shape("7, 5"), (Shape{7, 5}));
  EXPECT_EQ(parse_shape("0,3"), (Shape{0, 3}));
  EXPECT_EQ(parse_shape("0"), (Shape{0}));
  EXPECT_EQ(parse_shape(""), Shape{});
  EXPECT_EQ(parse_shape("-"), Shape{});
  EXPECT_EQ(parse_shape("1,2,3,4"), (Shape{1, 2, 3, 4}));
}

TEST(Shape, ParseBadNamesWhatAndWord) {
  const std::string neg = invalid_argument_message([] { parse_shape("7,-1", "--shape"); });
  EXPECT_TRUE(contains(neg, "--shape")) << neg;
  EXPECT_TRUE(contains(neg, "-1 is negative")) << neg;
  for (const std::string text :
       {"7,a", "7,,5", "7,5,", "1x2", "7.5", ",", "99999999999999999999"}) {
    const std::string msg = invalid_argument_message([&] { parse_shape(text, "--shape"); });
    EXPECT_TRUE(contains(msg, "--shape '" + text + "'")) << text << ": " << msg;
  }
}

TEST(Shape, ParseMeshGood) {
  EXPECT_EQ(parse_mesh_shape("8"), (Shape{8}));
  EXPECT_EQ(parse_mesh_shape("2x4"), (Shape{2, 4}));
  EXPECT_EQ(parse_mesh_shape("2x2x2"), (Shape{2, 2, 2}));
  EXPECT_EQ(parse_mesh_shape("1"), (Shape{1}));
}

TEST(Shape, ParseMeshBad) {
  EXPECT_TRUE(contains(invalid_argument_message([] { parse_mesh_shape("", "--mesh"); }),
                       "--mesh is empty"));
  for (const std::string text : {"0", "2x0", "-2", "2x-1"}) {
    const std::string msg = invalid_argument_message([&] { parse_mesh_shape(text, "--mesh"); });
    EXPECT_TRUE(contains(msg, "--mesh '" + text + "'")) << msg;
    EXPECT_TRUE(contains(msg, "at least 1")) << msg;
  }
  for (const std::string text : {"2x", "x2", "2,4", "axb", "2X4"}) {
    const std::string msg = invalid_argument_message([&] { parse_mesh_shape(text, "--mesh"); });
    EXPECT_TRUE(contains(msg, "--mesh '" + text + "'")) << msg;
  }
}

TEST(Shape, PrintProductsAndStrides) {
  EXPECT_EQ(shape_str({7, 5}), "[7, 5]");
  EXPECT_EQ(shape_str({}), "[]");
  EXPECT_EQ(mesh_shape_str({2, 4}), "2x4");
  EXPECT_EQ(mesh_shape_str({8}), "8");
  EXPECT_EQ(numel_of({}), 1);
  EXPECT_EQ(numel_of({3, 0, 2}), 0);
  EXPECT_EQ(numel_of({3, 4}), 12);
  // ATen's own contiguous strides are the oracle, zero and one sizes included.
  for (const Shape& s : std::vector<Shape>{{}, {5}, {0}, {2, 3}, {2, 0, 3}, {1, 1}, {4, 1, 0, 2}}) {
    const at::Tensor t = at::empty(s);
    EXPECT_EQ(contiguous_strides(s), Shape(t.strides().begin(), t.strides().end())) << shape_str(s);
  }
}

}  // namespace
}  // namespace shardsim
