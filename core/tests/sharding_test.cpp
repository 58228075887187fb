// Sharding arithmetic (reference-semantics §4) against an independent oracle.
//
// The oracle never calls compute_local_shape_and_global_offset or chunk_range:
// it cuts a real tensor (arange reshaped to the global shape) with ATen's
// `chunk`, mesh dimension by mesh dimension, exactly as torch.chunk would.
// `chunk` returns fewer than n pieces when the size does not divide, so a
// coordinate past the last piece gets an empty one. Alongside the data, the
// oracle cuts one index vector per tensor dim (the global indices still in the
// piece), which gives the expected offset even when the piece has no elements:
// the first index left, or the global size when none is left.
#include <gtest/gtest.h>

#include "expect_refusal.h"

#include <ATen/ATen.h>

#include <sstream>

#include "shardsim/core/dtensor.h"
#include "shardsim/core/error.h"
#include "shardsim/core/mesh.h"
#include "shardsim/core/sharding.h"

namespace shardsim {
namespace {

// One node of the oracle's cut: a view of the global tensor plus, per tensor
// dim, the global indices it still covers.
struct Piece {
  at::Tensor data;
  std::vector<at::Tensor> index;
};

// The pieces of `p` for coordinates 0..n-1 of a mesh dim with Shard(d):
// at::chunk(p, n, d) padded with empty pieces up to n (chunk returns fewer
// when the size does not divide).
std::vector<Piece> cut(const Piece& p, const Placement& placement, int64_t n) {
  const int64_t d = placement.dim();
  const std::vector<at::Tensor> data = at::chunk(p.data, n, d);
  const std::vector<at::Tensor> index = at::chunk(p.index[d], n, 0);
  EXPECT_EQ(data.size(), index.size());
  std::vector<Piece> out(n, p);
  for (int64_t c = 0; c < n; ++c) {
    if (c < static_cast<int64_t>(data.size())) {
      out[c].data = data[c];
      out[c].index[d] = index[c];
    } else {
      out[c].data = p.data.narrow(d, p.data.size(d), 0);
      out[c].index[d] = p.index[d].narrow(0, p.index[d].size(0), 0);
    }
  }
  return out;
}

std::string describe_case(const Shape& shape, const Shape& mesh, const Shape& coord,
                          const Placements& placements) {
  std::ostringstream os;
  os << "shape " << shape_str(shape) << " mesh " << mesh_shape_str(mesh) << " placements "
     << placements_str(placements) << " coord " << shape_str(coord);
  return os.str();
}

// Checks every rank of one (shape, mesh, placements) case; returns the number
// of ranks checked. Reports at most a few failures per test.
class OracleChecker {
 public:
  int64_t check(const Shape& shape, const Shape& mesh, const Placements& placements) {
    // No autograd bookkeeping on the millions of views the grid makes.
    c10::InferenceMode no_autograd;
    const at::Tensor global = at::arange(numel_of(shape), at::kLong).reshape(shape);
    Piece root{global, {}};
    for (int64_t s : shape) root.index.push_back(at::arange(s, at::kLong));
    Shape coord(mesh.size(), 0);
    checked_ = 0;
    verified_.clear();
    walk(shape, mesh, placements, global, root, 0, coord);
    return checked_;
  }
  int64_t failures() const { return failures_; }

 private:
  void walk(const Shape& shape, const Shape& mesh, const Placements& placements,
            const at::Tensor& global, const Piece& piece, size_t i, Shape& coord) {
    if (i == mesh.size()) {
      leaf(shape, mesh, placements, global, piece, coord);
      return;
    }
    if (!placements[i].is_shard()) {  // every coordinate keeps the whole piece
      for (int64_t c = 0; c < mesh[i]; ++c) {
        coord[i] = c;
        walk(shape, mesh, placements, global, piece, i + 1, coord);
      }
      return;
    }
    const std::vector<Piece> children = cut(piece, placements[i], mesh[i]);
    for (int64_t c = 0; c < mesh[i]; ++c) {
      coord[i] = c;
      walk(shape, mesh, placements, global, children[c], i + 1, coord);
    }
  }

  void leaf(const Shape& shape, const Shape& mesh, const Placements& placements,
            const at::Tensor& global, const Piece& piece, const Shape& coord) {
    ++checked_;
    const LocalLayout got = compute_local_shape_and_global_offset(shape, mesh, coord, placements);
    Shape want_shape(piece.data.sizes().begin(), piece.data.sizes().end());
    Shape want_offset(shape.size());
    for (size_t d = 0; d < shape.size(); ++d) {
      const at::Tensor& idx = piece.index[d];
      want_offset[d] = idx.numel() > 0 ? idx.data_ptr<int64_t>()[0] : shape[d];
    }
    std::string problem;
    if (got.shape != want_shape) {
      problem = "local shape " + shape_str(got.shape) + ", oracle " + shape_str(want_shape);
    } else if (got.offset != want_offset) {
      problem = "offset " + shape_str(got.offset) + ", oracle " + shape_str(want_offset);
    } else if (piece.data.numel() > 0 && !already_verified(piece, got)) {
      at::Tensor slice = global;
      for (size_t d = 0; d < shape.size(); ++d) {
        slice = slice.narrow(static_cast<int64_t>(d), got.offset[d], got.shape[d]);
      }
      if (!at::equal(slice, piece.data)) problem = "slice at the reported offset differs";
    }
    if (!problem.empty() && ++failures_ <= 10) {
      ADD_FAILURE() << describe_case(shape, mesh, coord, placements) << ": " << problem;
    }
  }

  // Ranks that differ only on Replicate or Partial mesh dims share one oracle
  // piece; its slice needs comparing once per reported layout.
  bool already_verified(const Piece& piece, const LocalLayout& got) {
    const void* key = piece.data.unsafeGetTensorImpl();
    auto it = verified_.find(key);
    if (it != verified_.end() && it->second.second == got) return true;
    verified_[key] = {piece.data, got};  // holding the view keeps its address unique
    return false;
  }

  int64_t checked_ = 0;
  int64_t failures_ = 0;
  std::map<const void*, std::pair<at::Tensor, LocalLayout>> verified_;  // cleared per case
};

// Every mesh shape with 1..max_ndim dims of sizes 1..max_size.
std::vector<Shape> all_meshes(size_t max_ndim, int64_t max_size) {
  std::vector<Shape> out;
  for (size_t ndim = 1; ndim <= max_ndim; ++ndim) {
    Shape m(ndim, 1);
    while (true) {
      out.push_back(m);
      size_t k = ndim;
      while (k > 0 && m[k - 1] == max_size) m[--k] = 1;
      if (k == 0) break;
      ++m[k - 1];
    }
  }
  return out;
}

// Every placement list of length `n` over Shard(0..tensor_ndim-1), R and P.
std::vector<Placements> all_placements(size_t n, int64_t tensor_ndim) {
  std::vector<Placement> choices;
  for (int64_t d = 0; d < tensor_ndim; ++d) choices.push_back(Placement::shard(d));
  choices.push_back(Placement::replicate());
  choices.push_back(Placement::partial());
  std::vector<Placements> out{{}};
  for (size_t i = 0; i < n; ++i) {
    std::vector<Placements> next;
    for (const Placements& prefix : out) {
      for (const Placement& p : choices) {
        Placements ps = prefix;
        ps.push_back(p);
        next.push_back(ps);
      }
    }
    out = std::move(next);
  }
  return out;
}

int64_t check_grid(OracleChecker& checker, const std::vector<Shape>& shapes, size_t max_mesh_ndim) {
  int64_t ranks = 0;
  for (const Shape& mesh : all_meshes(max_mesh_ndim, 4)) {
    const std::vector<Placements> combos =
        all_placements(mesh.size(), static_cast<int64_t>(shapes.front().size()));
    for (const Shape& shape : shapes) {
      for (const Placements& ps : combos) ranks += checker.check(shape, mesh, ps);
    }
  }
  return ranks;
}

TEST(ShardingOracle, OneDimTensorsOnEveryMesh) {
  std::vector<Shape> shapes;
  for (int64_t s = 0; s <= 9; ++s) shapes.push_back({s});
  OracleChecker checker;
  const int64_t ranks = check_grid(checker, shapes, 3);
  EXPECT_EQ(checker.failures(), 0);
  // 10 shapes; meshes: 4 of 1 dim x 3 placements, 16 of 2 dims x 9, 64 of 3 dims x 27;
  // ranks per mesh summed: 10, 100, 1000.
  EXPECT_EQ(ranks, 10 * (10 * 3 + 100 * 9 + 1000 * 27));
}

TEST(ShardingOracle, TwoDimTensorsOnEveryMesh) {
  std::vector<Shape> shapes;
  for (int64_t a = 0; a <= 9; ++a) {
    for (int64_t b = 0; b <= 9; ++b) shapes.push_back({a, b});
  }
  OracleChecker checker;
  const int64_t ranks = check_grid(checker, shapes, 3);
  EXPECT_EQ(checker.failures(), 0);
  EXPECT_EQ(ranks, 100 * (10 * 4 + 100 * 16 + 1000 * 64));
}

TEST(ShardingOracle, ThreeDimTensorsOnEveryMesh) {
  const std::vector<Shape> shapes = {{2, 3, 4}, {0, 3, 5}, {5, 1, 7}, {3, 3, 3}, {9, 0, 2}};
  OracleChecker checker;
  const int64_t ranks = check_grid(checker, shapes, 3);
  EXPECT_EQ(checker.failures(), 0);
  EXPECT_EQ(ranks, 5 * (10 * 5 + 100 * 25 + 1000 * 125));
}

TEST(ShardingOracle, ZeroDimTensorIsReplicatedEverywhere) {
  OracleChecker checker;
  EXPECT_EQ(checker.check({}, {2, 3}, {Placement::replicate(), Placement::partial()}), 6);
  EXPECT_EQ(checker.failures(), 0);
  const LocalLayout l = compute_local_shape_and_global_offset({}, {4}, {3}, {Placement::partial()});
  EXPECT_EQ(l.shape, Shape{});
  EXPECT_EQ(l.offset, Shape{});
}

// --- Hand-computed cases -------------------------------------------------------

LocalLayout layout(const Shape& shape, const Shape& mesh, const Shape& coord,
                   const std::string& placements) {
  return compute_local_shape_and_global_offset(shape, mesh, coord, parse_placements(placements));
}

TEST(ShardingByHand, OneByTwoOverFourRanks) {
  // Reference-semantics §4: size 1 over 4 gives chunk 1; coordinate 0 holds
  // row 0, coordinates 1..3 start at or past the end: empty, offset = global size 1.
  EXPECT_EQ(layout({1, 2}, {4}, {0}, "S0"), (LocalLayout{{1, 2}, {0, 0}}));
  for (int64_t c = 1; c < 4; ++c) {
    EXPECT_EQ(layout({1, 2}, {4}, {c}, "S0"), (LocalLayout{{0, 2}, {1, 0}})) << "coord " << c;
  }
}

TEST(ShardingByHand, SizeEightOnTwoByThreeShardedTwice) {
  // Mesh dim 0 (n=2): [0,4) and [4,8). Mesh dim 1 (n=3) splits a size-4 piece
  // with chunk ceil(4/3)=2: starts 0, 2, 4; start 4 equals the size: empty.
  EXPECT_EQ(layout({8}, {2, 3}, {0, 0}, "S0,S0"), (LocalLayout{{2}, {0}}));
  EXPECT_EQ(layout({8}, {2, 3}, {0, 1}, "S0,S0"), (LocalLayout{{2}, {2}}));
  EXPECT_EQ(layout({8}, {2, 3}, {0, 2}, "S0,S0"), (LocalLayout{{0}, {8}}));
  EXPECT_EQ(layout({8}, {2, 3}, {1, 0}, "S0,S0"), (LocalLayout{{2}, {4}}));
  EXPECT_EQ(layout({8}, {2, 3}, {1, 1}, "S0,S0"), (LocalLayout{{2}, {6}}));
  EXPECT_EQ(layout({8}, {2, 3}, {1, 2}, "S0,S0"), (LocalLayout{{0}, {8}}));
}

TEST(ShardingByHand, SevenByFiveOnTwoByThree) {
  // Dim 0: 7 over 2, chunk 4: 4@0, 3@4. Dim 1: 5 over 3, chunk 2: 2@0, 2@2, 1@4.
  EXPECT_EQ(layout({7, 5}, {2, 3}, {0, 0}, "S0,S1"), (LocalLayout{{4, 2}, {0, 0}}));
  EXPECT_EQ(layout({7, 5}, {2, 3}, {0, 1}, "S0,S1"), (LocalLayout{{4, 2}, {0, 2}}));
  EXPECT_EQ(layout({7, 5}, {2, 3}, {0, 2}, "S0,S1"), (LocalLayout{{4, 1}, {0, 4}}));
  EXPECT_EQ(layout({7, 5}, {2, 3}, {1, 0}, "S0,S1"), (LocalLayout{{3, 2}, {4, 0}}));
  EXPECT_EQ(layout({7, 5}, {2, 3}, {1, 1}, "S0,S1"), (LocalLayout{{3, 2}, {4, 2}}));
  EXPECT_EQ(layout({7, 5}, {2, 3}, {1, 2}, "S0,S1"), (LocalLayout{{3, 1}, {4, 4}}));
}

TEST(ShardingByHand, UnevenAndEmptyShards) {
  // 5 over 4: chunk 2, starts 0,2,4,6: sizes 2,2,1 and an empty shard (start 6 > 5).
  EXPECT_EQ(layout({5}, {4}, {2}, "S0"), (LocalLayout{{1}, {4}}));
  EXPECT_EQ(layout({5}, {4}, {3}, "S0"), (LocalLayout{{0}, {5}}));
  // 9 on 2x2 with [S0,S0]: 5@0 and 4@5, then 3@0,2@3 and 2@0,2@2 within them.
  EXPECT_EQ(layout({9}, {2, 2}, {0, 1}, "S0,S0"), (LocalLayout{{2}, {3}}));
  EXPECT_EQ(layout({9}, {2, 2}, {1, 1}, "S0,S0"), (LocalLayout{{2}, {7}}));
  // Empty on the first mesh dim stays empty (offset = global size) on the second.
  EXPECT_EQ(layout({1, 3}, {4, 2}, {2, 1}, "S0,S0"), (LocalLayout{{0, 3}, {1, 0}}));
  // A zero-size dim elsewhere does not hide the offsets of a non-empty dim.
  EXPECT_EQ(layout({0, 3}, {2}, {1}, "S1"), (LocalLayout{{0, 1}, {0, 2}}));
  // A zero-size sharded dim: every shard empty, offset = global size 0.
  EXPECT_EQ(layout({0, 3}, {3}, {2}, "S0"), (LocalLayout{{0, 3}, {0, 0}}));
  // Only the sharded dim reports the global size; Replicate and Partial change nothing.
  EXPECT_EQ(layout({3, 1}, {2, 2}, {1, 1}, "R,S1"), (LocalLayout{{3, 0}, {0, 1}}));
  EXPECT_EQ(layout({6, 4}, {3, 2}, {2, 1}, "P,R"), (LocalLayout{{6, 4}, {0, 0}}));
}

TEST(ChunkRange, MatchesAtenChunk) {
  for (int64_t s = 0; s <= 12; ++s) {
    for (int64_t n = 1; n <= 6; ++n) {
      const std::vector<at::Tensor> pieces = at::chunk(at::arange(s), n, 0);
      int64_t pos = 0;
      for (int64_t c = 0; c < n; ++c) {
        const ChunkRange r = chunk_range(s, n, c);
        const int64_t want = c < static_cast<int64_t>(pieces.size()) ? pieces[c].numel() : 0;
        EXPECT_EQ(r.size, want) << "s=" << s << " n=" << n << " c=" << c;
        if (want > 0) {
          EXPECT_EQ(r.start, pos) << "s=" << s << " n=" << n << " c=" << c;
        }
        pos += want;
      }
    }
  }
}

// --- Bad input -------------------------------------------------------------------

using test::invalid_argument_message;

TEST(ShardingBadInput, ShardDimOutOfRange) {
  const std::string msg = invalid_argument_message([] { layout({3, 4}, {2}, {0}, "S2"); });
  EXPECT_NE(msg.find("Shard(2)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("out of range"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[3, 4]"), std::string::npos) << msg;
  const std::string msg0 = invalid_argument_message([] { layout({}, {2}, {0}, "S0"); });
  EXPECT_NE(msg0.find("Shard(0)"), std::string::npos) << msg0;
}

TEST(ShardingBadInput, PlacementCountMustMatchMeshDims) {
  const std::string msg = invalid_argument_message([] { layout({4}, {2, 2}, {0, 0}, "S0"); });
  EXPECT_NE(msg.find("1 placements"), std::string::npos) << msg;
  EXPECT_NE(msg.find("2-dim mesh"), std::string::npos) << msg;
  const std::string msg3 = invalid_argument_message([] { layout({4}, {2}, {0}, "S0,R,R"); });
  EXPECT_NE(msg3.find("3 placements"), std::string::npos) << msg3;
}

TEST(ShardingBadInput, NegativeSize) {
  const std::string msg = invalid_argument_message([] { layout({4, -1}, {2}, {0}, "S0"); });
  EXPECT_NE(msg.find("negative"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[4, -1]"), std::string::npos) << msg;
}

TEST(ShardingBadInput, BadMeshOrCoordinate) {
  std::string msg = invalid_argument_message([] { layout({4}, {0}, {0}, "S0"); });
  EXPECT_NE(msg.find("mesh 0"), std::string::npos) << msg;
  msg = invalid_argument_message([] { layout({4}, {2}, {2}, "S0"); });
  EXPECT_NE(msg.find("coordinate [2]"), std::string::npos) << msg;
  msg = invalid_argument_message([] { layout({4}, {2, 2}, {0}, "S0,R"); });
  EXPECT_NE(msg.find("coordinate [0]"), std::string::npos) << msg;
}

// --- from_local (no communication) -------------------------------------------

TEST(FromLocal, InfersGlobalShapeAsIfEveryShardWereFull) {
  const DeviceMesh mesh(c10::kCPU, {2, 2});
  const DTensor t = from_local(at::zeros({2, 3}), mesh, parse_placements("S0,S0"));
  EXPECT_EQ(t.shape(), (Shape{8, 3}));
  EXPECT_EQ(t.stride(), (Shape{3, 1}));
  const DTensor u = from_local(at::zeros({2, 3}), mesh, parse_placements("S1,P"));
  EXPECT_EQ(u.shape(), (Shape{2, 6}));
  EXPECT_EQ(u.stride(), (Shape{6, 1}));
}

TEST(FromLocal, ExplicitShapeAndStrideAreKept) {
  const DeviceMesh mesh(c10::kCPU, {4});
  const DTensor t = from_local(at::zeros({0, 2}), mesh, parse_placements("S0"), Shape{1, 2});
  EXPECT_EQ(t.shape(), (Shape{1, 2}));
  EXPECT_EQ(t.stride(), (Shape{2, 1}));
  const DTensor u =
      from_local(at::zeros({1, 2}), mesh, parse_placements("R"), Shape{1, 2}, Shape{1, 1});
  EXPECT_EQ(u.stride(), (Shape{1, 1}));
  const std::string msg =
      invalid_argument_message([&] { from_local(at::zeros({2}), mesh, parse_placements("S1")); });
  EXPECT_NE(msg.find("Shard(1)"), std::string::npos) << msg;
}

}  // namespace
}  // namespace shardsim
