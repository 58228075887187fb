// shardsim's seeded generator and random tensors (design.md, "Randomness and
// time"), and the Digest behind a run's `values=` and `trace=` figures.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cstdint>
#include <limits>
#include <set>

#include "shardsim/core/digest.h"
#include "shardsim/core/error.h"
#include "shardsim/core/random.h"
#include "shardsim/core/value.h"

namespace shardsim {
namespace {

const std::vector<c10::ScalarType> kDtypes = {
    at::kFloat, at::kDouble, at::kBFloat16, at::kHalf, at::kChar,         at::kShort,
    at::kInt,   at::kLong,   at::kByte,     at::kBool, at::kComplexFloat, at::kComplexDouble};

bool same_bits(const at::Tensor& a, const at::Tensor& b) { return tensors_bitwise_equal(a, b); }

// The tensor's elements as real float64 values (complex: both parts).
at::Tensor as_real_doubles(const at::Tensor& t) {
  return (t.is_complex() ? at::view_as_real(t) : t).to(at::kDouble);
}

// --- Random -------------------------------------------------------------------------

TEST(Random, SameSeedSameStreamOtherSeedsDiffer) {
  Random a(42), b(42), c(43);
  int same_as_c = 0;
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.next();
    EXPECT_EQ(x, b.next());
    same_as_c += x == c.next() ? 1 : 0;
  }
  EXPECT_EQ(same_as_c, 0);
}

TEST(Random, UniformRangeAndUnit) {
  Random r(7);
  std::set<uint64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    const uint64_t u = r.uniform(10);
    ASSERT_LT(u, 10u);
    seen.insert(u);
  }
  EXPECT_EQ(seen.size(), 10u);
  std::set<int64_t> ends;
  for (int i = 0; i < 1000; ++i) {
    const int64_t x = r.range(-3, 3);
    ASSERT_GE(x, -3);
    ASSERT_LE(x, 3);
    ends.insert(x);
  }
  EXPECT_EQ(ends.size(), 7u);
  EXPECT_EQ(r.range(5, 5), 5);
  r.range(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
  for (int i = 0; i < 1000; ++i) {
    const double u = r.unit();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
  EXPECT_THROW(r.uniform(0), Error);
  EXPECT_THROW(r.range(2, 1), Error);
}

TEST(Random, ForksAreDeterministicAndApart) {
  const Random base(99);
  Random f1 = base.fork(5), f1_again = base.fork(5), f2 = base.fork(6);
  Random parent = base;
  int collisions = 0;
  for (int i = 0; i < 50; ++i) {
    const uint64_t x = f1.next();
    EXPECT_EQ(x, f1_again.next());
    const uint64_t y = f2.next(), z = parent.next();
    collisions += (x == y) + (x == z) + (y == z);
  }
  EXPECT_EQ(collisions, 0);
}

TEST(Random, RankAndSharedStreams) {
  // The shared stream is the same wherever it is made; rank streams differ
  // from it and from each other, and from the same rank under another seed.
  EXPECT_EQ(shared_stream(7).next(), shared_stream(7).next());
  EXPECT_EQ(rank_stream(7, 3).next(), rank_stream(7, 3).next());
  std::set<uint64_t> firsts{shared_stream(7).next()};
  for (int64_t r = 0; r < 1024; ++r) firsts.insert(rank_stream(7, r).next());
  for (int64_t r = 0; r < 1024; ++r) firsts.insert(rank_stream(8, r).next());
  firsts.insert(shared_stream(8).next());
  EXPECT_EQ(firsts.size(), 2u * 1024 + 2);
  // -1 would alias the shared stream's number.
  EXPECT_THROW(rank_stream(7, -1), InvalidArgument);
}

// Pins the generator's output across versions: data must be the same on every
// backend, platform and libtorch version, so these numbers may never change.
// Recorded once by hand, and checked then against a separate reference
// implementation of SplitMix64 seeding and xoshiro256** (floats: k * 2^-20
// with k = (next >> 42) - 2^21).
TEST(Random, GoldenValuesPinCrossVersionStability) {
  Random r(0);
  EXPECT_EQ(r.next(), 4768932952251265552ull);
  EXPECT_EQ(r.next(), 16168679545894742312ull);
  EXPECT_EQ(rank_stream(1, 2).next(), 7904397706311374270ull);
  EXPECT_EQ(shared_stream(1).next(), 5602360186094048419ull);
  Random t(5);
  const at::Tensor x = random_tensor(t, {3}, at::kFloat);
  EXPECT_TRUE(
      same_bits(x, at::tensor({-399322 * 0x1p-20f, -153012 * 0x1p-20f, 1036346 * 0x1p-20f})))
      << x;
}

// --- random_tensor ------------------------------------------------------------------------

TEST(RandomTensor, SameSeedSameTensorEveryDtype) {
  for (c10::ScalarType dtype : kDtypes) {
    Random a(11), b(11);
    const at::Tensor x = random_tensor(a, {3, 5}, dtype);
    const at::Tensor y = random_tensor(b, {3, 5}, dtype);
    EXPECT_EQ(x.scalar_type(), dtype);
    EXPECT_EQ(x.sizes(), (at::IntArrayRef{3, 5}));
    EXPECT_TRUE(x.device().is_cpu());
    EXPECT_TRUE(same_bits(x, y)) << c10::toString(dtype);
    // The generator moves on: the next tensor is another one.
    EXPECT_FALSE(same_bits(x, random_tensor(a, {3, 5}, dtype))) << c10::toString(dtype);
  }
}

TEST(RandomTensor, SeedsRanksAndSharedStreamDiffer) {
  for (c10::ScalarType dtype : kDtypes) {
    std::vector<at::Tensor> drawn;
    for (Random rng : {rank_stream(7, 0), rank_stream(7, 1), rank_stream(8, 0), shared_stream(7),
                       shared_stream(8)}) {
      drawn.push_back(random_tensor(rng, {64}, dtype));
    }
    for (size_t i = 0; i < drawn.size(); ++i) {
      for (size_t j = i + 1; j < drawn.size(); ++j) {
        EXPECT_FALSE(same_bits(drawn[i], drawn[j])) << c10::toString(dtype) << " " << i << " " << j;
      }
    }
  }
}

TEST(RandomTensor, FloatsHaveNoNegativeZeroOrNanAndStayInRange) {
  for (c10::ScalarType dtype :
       {at::kFloat, at::kDouble, at::kBFloat16, at::kHalf, at::kComplexFloat, at::kComplexDouble}) {
    Random rng(3);
    const at::Tensor v = as_real_doubles(random_tensor(rng, {20000}, dtype));
    EXPECT_FALSE(at::isnan(v).any().item<bool>()) << c10::toString(dtype);
    EXPECT_FALSE(((v == 0) & at::signbit(v)).any().item<bool>()) << c10::toString(dtype);
    // float16 and bfloat16 round, so their values may reach 2 itself.
    const double hi = (dtype == at::kHalf || dtype == at::kBFloat16) ? 2.0 : 1.9999999;
    EXPECT_GE(v.min().item<double>(), -2.0) << c10::toString(dtype);
    EXPECT_LE(v.max().item<double>(), hi) << c10::toString(dtype);
    EXPECT_LT(v.min().item<double>(), -1.9) << c10::toString(dtype);
    EXPECT_GT(v.max().item<double>(), 1.9) << c10::toString(dtype);
  }
}

TEST(RandomTensor, IntegersAndBoolsCoverTheirRange) {
  struct Want {
    c10::ScalarType dtype;
    int64_t lo, hi;
  };
  for (const Want& w :
       {Want{at::kChar, -128, 127}, Want{at::kByte, 0, 255}, Want{at::kShort, -1000, 1000},
        Want{at::kInt, -1000, 1000}, Want{at::kLong, -1000, 1000}, Want{at::kBool, 0, 1}}) {
    Random rng(4);
    const at::Tensor v = random_tensor(rng, {20000}, w.dtype).to(at::kLong);
    EXPECT_EQ(v.min().item<int64_t>(), w.lo) << c10::toString(w.dtype);
    EXPECT_EQ(v.max().item<int64_t>(), w.hi) << c10::toString(w.dtype);
  }
}

TEST(RandomTensor, ShapesAndUnsupportedDtypes) {
  Random rng(1);
  EXPECT_EQ(random_tensor(rng, {}, at::kFloat).dim(), 0);
  EXPECT_EQ(random_tensor(rng, {0, 3}, at::kLong).numel(), 0);
  EXPECT_THROW(random_tensor(rng, {2}, at::kQInt8), InvalidArgument);
  EXPECT_THROW(random_tensor(rng, {2}, at::kComplexHalf), InvalidArgument);
}

// --- Digest ------------------------------------------------------------------------------

uint64_t digest_of(const Value& v) {
  Digest d;
  d.update_value(v);
  return d.value();
}

DeviceMesh mesh2(c10::DeviceType type = c10::kCPU, std::vector<int64_t> ranks = {}) {
  return DeviceMesh(type, {2}, std::move(ranks));
}

ShardedTensor sharded(const std::string& device, bool swapped = false) {
  std::vector<ShardMetadata> all = {{{0, 0}, {2, 3}, "rank:0/" + device},
                                    {{2, 0}, {2, 3}, "rank:1/" + device}};
  if (swapped) std::swap(all[0].offsets, all[1].offsets);
  return ShardedTensor({4, 3}, {LocalShard{at::arange(6, at::kFloat).reshape({2, 3}), all[0]}},
                       all);
}

// A small state dict holding every kind; `change` selects one variation.
Value state_dict(const std::string& change = "") {
  at::Tensor w = at::arange(6, at::kFloat).reshape({2, 3});
  if (change == "element") w[1][2] = 7.0f;
  if (change == "negzero") w[0][0] = -0.0f;
  if (change == "dtype") w = w.to(at::kDouble);
  if (change == "shape") w = w.reshape({3, 2});
  if (change == "flat") w = w.reshape({6});
  Placements ps{change == "placement" ? Placement::replicate() : Placement::shard(0)};
  const DeviceMesh mesh = change == "ranks" ? mesh2(c10::kCPU, {0, 2}) : mesh2();
  DTensor dt = from_local(at::ones({1, 3}), mesh, ps, Shape{2, 3});
  Mapping m;
  m.set(change == "key" ? "weights" : "weight", w);
  m.set("step", change == "int" ? 4 : 3);
  m.set("lr", change == "double" ? 0.25 : 0.5);
  m.set("zero", change == "negzero_double" ? -0.0 : 0.0);
  m.set("name", change == "str" ? "adamw" : "adam");
  if (change == "bytes_as_str") {
    m.set("blob", "ab");
  } else {
    m.set("blob", Bytes{"ab"});
  }
  m.set("stream", ByteStream{"xy", change == "position" ? 1 : 0});
  m.set("dt", dt);
  m.set("st", sharded("cpu", change == "shard_offsets"));
  if (change == "tuple") {
    m.set("nested", Tuple{{1, None{}}});
  } else {
    m.set("nested", List{{1, None{}}});
  }
  m.set("opaque", Opaque{"Thing", change == "opaque" ? "Thing(2)" : "Thing(1)"});
  if (change == "order") {
    Mapping swapped;
    swapped.set("step", m.at("step"));
    for (size_t i = 0; i < m.size(); ++i) {
      if (m.key(i) != "step") swapped.set(m.key(i), m.value(i));
    }
    return Value(swapped);
  }
  return Value(m);
}

TEST(Digest, EqualValuesDigestAlike) {
  EXPECT_EQ(digest_of(state_dict()), digest_of(state_dict()));
  // Memory layout is not part of the value.
  const at::Tensor t = at::arange(6, at::kFloat).reshape({3, 2}).t();
  EXPECT_EQ(digest_of(Value(t)), digest_of(Value(t.contiguous())));
  // Neither are conjugate or negative views.
  const at::Tensor c = at::complex(at::tensor({1.0f, 2.0f}), at::tensor({3.0f, -4.0f}));
  EXPECT_EQ(digest_of(Value(c.conj())), digest_of(Value(c.conj().resolve_conj())));
  EXPECT_NE(digest_of(Value(c.conj())), digest_of(Value(c)));
}

TEST(Digest, AnySingleChangeChangesTheDigest) {
  std::map<uint64_t, std::string> seen;
  seen[digest_of(state_dict())] = "(base)";
  for (const std::string change :
       {"element", "negzero", "dtype", "shape", "flat", "placement", "ranks", "key", "int",
        "double", "negzero_double", "str", "bytes_as_str", "position", "shard_offsets", "tuple",
        "opaque", "order"}) {
    const Value v = state_dict(change);
    ASSERT_NE(v, state_dict()) << change;
    const uint64_t d = digest_of(v);
    EXPECT_EQ(seen.count(d), 0u) << change << " digests like " << seen[d];
    seen[d] = change;
  }
}

TEST(Digest, IndependentOfDevice) {
  const at::Tensor local = at::ones({1, 3});
  const Value on_cpu(from_local(local, mesh2(c10::kCPU), {Placement::shard(0)}));
  const Value on_cuda_mesh(from_local(local, mesh2(c10::kCUDA), {Placement::shard(0)}));
  ASSERT_NE(on_cpu, on_cuda_mesh);  // the mesh's device type is part of the value...
  EXPECT_EQ(digest_of(on_cpu), digest_of(on_cuda_mesh));  // ...but not of the digest
  EXPECT_EQ(digest_of(Value(sharded("cpu"))), digest_of(Value(sharded("cuda:0"))));
}

TEST(Digest, TensorsWithoutDataAndStreamsOfBytes) {
  const at::Tensor meta = at::empty({2, 3}, at::TensorOptions().device(c10::kMeta));
  EXPECT_EQ(digest_of(Value(meta)),
            digest_of(Value(at::empty({2, 3}, at::TensorOptions().device(c10::kMeta)))));
  EXPECT_NE(digest_of(Value(meta)), digest_of(Value(at::zeros({2, 3}))));
  EXPECT_NE(digest_of(Value(meta)), digest_of(Value(at::Tensor())));
  EXPECT_NE(digest_of(Value(at::zeros({0, 3}))), digest_of(Value(at::zeros({3, 0}))));
  // Byte updates are length-prefixed: how a string is split matters.
  Digest a, b;
  a.update(std::string("ab"));
  a.update(std::string("c"));
  b.update(std::string("a"));
  b.update(std::string("bc"));
  EXPECT_NE(a.value(), b.value());
  EXPECT_EQ(a.hex(), hex64(a.value()));
  EXPECT_EQ(a.hex().size(), 16u);
  EXPECT_EQ(hex64(0x0123456789abcdefULL), "0123456789abcdef");
  EXPECT_EQ(hex64(0), "0000000000000000");
}

// Pins the digest algorithm: `values=` figures recorded by one version must
// be reproduced by every later one, on every platform, so this number (recorded
// once by hand) may never change. A change here is an incompatible change.
TEST(Digest, GoldenValuePinsCrossVersionStability) {
  Digest empty;
  EXPECT_EQ(empty.hex(), "70320c08c7c2acd8");
  Digest bytes;
  bytes.update(std::string("shardsim"));
  bytes.update_i64(-1);
  EXPECT_EQ(bytes.hex(), "7a1d54e5dc8ca66d");
  EXPECT_EQ(hex64(digest_of(state_dict())), "924457c25712e6a3");
}

}  // namespace
}  // namespace shardsim
