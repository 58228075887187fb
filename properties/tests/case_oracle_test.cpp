// The oracles the laws compare against, on hand-computed examples
// (reference-semantics §4), and a hand-written case run as a scenario.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "shardsim/properties/case_json.h"
#include "shardsim/properties/case_run.h"
#include "shardsim/properties/case_values.h"
#include "shardsim/runner/fiber_backend.h"

namespace shardsim::properties {
namespace {

TEST(Oracle, CoordinatesAreRowMajor) {
  EXPECT_EQ(oracle_coordinate(0, {2, 3}), (Shape{0, 0}));
  EXPECT_EQ(oracle_coordinate(5, {2, 3}), (Shape{1, 2}));
  EXPECT_EQ(oracle_coordinate(4, {2, 3}), (Shape{1, 1}));
  EXPECT_EQ(oracle_coordinate(7, {2, 2, 2}), (Shape{1, 1, 1}));
}

TEST(Oracle, LayoutsFollowTorchChunk) {
  const Placements s0 = {Placement::shard(0)};
  // A 1x2 tensor over 4 ranks: one 1x2 shard, three empty ones at offset 1.
  EXPECT_EQ(oracle_layout({1, 2}, {4}, {0}, s0), (LocalLayout{{1, 2}, {0, 0}}));
  for (int64_t c = 1; c < 4; ++c)
    EXPECT_EQ(oracle_layout({1, 2}, {4}, {c}, s0), (LocalLayout{{0, 2}, {1, 0}}));
  // Size 8 on a 2x3 mesh with [S0, S0]: (0, 2) gets an empty shard at offset 8.
  const Placements s0s0 = {Placement::shard(0), Placement::shard(0)};
  EXPECT_EQ(oracle_layout({8}, {2, 3}, {0, 0}, s0s0), (LocalLayout{{2}, {0}}));
  EXPECT_EQ(oracle_layout({8}, {2, 3}, {0, 1}, s0s0), (LocalLayout{{2}, {2}}));
  EXPECT_EQ(oracle_layout({8}, {2, 3}, {0, 2}, s0s0), (LocalLayout{{0}, {8}}));
  EXPECT_EQ(oracle_layout({8}, {2, 3}, {1, 2}, s0s0), (LocalLayout{{0}, {8}}));
  EXPECT_EQ(oracle_layout({8}, {2, 3}, {1, 1}, s0s0), (LocalLayout{{2}, {6}}));
  // Uneven 7 over 3: 3, 3, 1; Replicate and Partial leave shape and offset.
  EXPECT_EQ(oracle_layout({7, 5}, {3}, {2}, s0), (LocalLayout{{1, 5}, {6, 0}}));
  EXPECT_EQ(oracle_layout({7, 5}, {3, 2}, {2, 1}, {Placement::shard(1), Placement::partial()}),
            (LocalLayout{{7, 1}, {0, 4}}));
  // Zero-size dims are valid input.
  EXPECT_EQ(oracle_layout({0, 3}, {2}, {1}, s0), (LocalLayout{{0, 3}, {0, 0}}));
}

TEST(Oracle, PartialDataLivesOnCoordinateZero) {
  const Placements p = {Placement::shard(0), Placement::partial()};
  EXPECT_TRUE(holds_partial_data(p, {1, 0}));
  EXPECT_FALSE(holds_partial_data(p, {0, 1}));
}

TEST(Oracle, AdditiveIdentityKeepsEveryBit) {
  for (c10::ScalarType t : {at::kFloat, at::kDouble, at::kHalf, at::kBFloat16, at::kComplexFloat,
                            at::kInt, at::kBool}) {
    CaseNode n;
    n.kind = CaseNode::Kind::kTensor;
    n.dtype = t;
    n.shape = {64};
    n.stream = 3;
    const at::Tensor x = full_values(n, 11);
    const at::Tensor sum = additive_identity_like(x) + x;
    EXPECT_TRUE(tensors_bitwise_equal(sum, x)) << c10::toString(t);
  }
}

TEST(Oracle, FullValuesDependOnSeedStreamAndRankAlone) {
  CaseNode n;
  n.kind = CaseNode::Kind::kTensor;
  n.dtype = at::kFloat;
  n.shape = {4, 4};
  n.stream = 7;
  EXPECT_TRUE(at::equal(full_values(n, 1), full_values(n, 1)));
  EXPECT_FALSE(at::equal(full_values(n, 1), full_values(n, 2)));
  n.per_rank = true;
  EXPECT_FALSE(at::equal(full_values(n, 1, 0), full_values(n, 1, 1)));
}

// A hand-written gather case runs as a scenario on fibers and passes; the
// same case with a wrong expected outcome fails.
TEST(CaseRun, AHandWrittenCasePassesOnFibers) {
  const CaseFile c = parse_case(R"({
    "format": 1, "law": "gather_state_dict", "world": 6, "mesh": [2, 3], "data_seed": 5,
    "operation": {"name": "gather_state_dict", "cpu_offload": true, "ranks_only": [0, 4]},
    "state_dict": {"kind": "dict", "items": {
      "w": {"kind": "dtensor", "dtype": "bfloat16", "shape": [8, 3], "placements": ["S0", "S0"], "stream": 1},
      "p": {"kind": "dtensor", "dtype": "int16", "shape": [2], "placements": ["P", "S0"], "stream": 2},
      "s": {"kind": "sharded", "dtype": "float64", "shape": [3, 4], "stream": 3, "shards": [
        {"offsets": [0, 0], "sizes": [3, 1], "rank": 5}, {"offsets": [0, 1], "sizes": [3, 3], "rank": 0}]},
      "l": {"kind": "list", "items": [{"kind": "tensor", "dtype": "bool", "shape": [0, 2], "stream": 4},
                                      {"kind": "int", "value": 3}]}
    }}})",
                                "inline.json");
  if (!runner::have_fiber_backend()) GTEST_SKIP() << "no fiber backend in this build";
  auto fibers = runner::make_fiber_backend();
  const runner::RunResult r = run_case(c, *fibers, "inline.json");
  EXPECT_EQ(r.verdict, runner::RunResult::Verdict::kPass) << runner::format_result(r);
  EXPECT_EQ(r.world, 6);
  EXPECT_EQ(r.mesh, (Shape{2, 3}));

  CaseFile wrong = c;
  wrong.expect = runner::Outcome::kDeadlock;
  const runner::RunResult w = run_case(wrong, *fibers, "wrong.json");
  EXPECT_EQ(w.verdict, runner::RunResult::Verdict::kFail);
  const std::string text = format_case_result(w, "wrong.json");
  EXPECT_NE(text.find("rerun: shardsim replay wrong.json"), std::string::npos) << text;
}

}  // namespace
}  // namespace shardsim::properties
