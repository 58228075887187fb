// Values (reference-semantics §1): equality and printing for every kind, the
// path of the first difference, and the insertion-ordered Mapping.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>

#include "shardsim/core/error.h"
#include "shardsim/core/value.h"

namespace shardsim {
namespace {

std::string printed(const Value& v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::string diff(const Value& a, const Value& b, const std::string& root = "") {
  c10::optional<std::string> d = first_difference(a, b, root);
  return d ? *d : "";
}

// A float32 tensor holding exactly `bits` in one element.
at::Tensor float_with_bits(uint32_t bits) {
  at::Tensor t = at::empty({1}, at::kFloat);
  std::memcpy(t.data_ptr<float>(), &bits, sizeof bits);
  return t;
}

DTensor small_dtensor(const at::Tensor& local, const std::string& placement = "S0") {
  return from_local(local, DeviceMesh(c10::kCPU, {2}), parse_placements(placement));
}

ShardedTensor small_sharded(const at::Tensor& rows01) {
  std::vector<ShardMetadata> all = {{{0, 0}, {2, 2}, "rank:0/cpu"}, {{2, 0}, {2, 2}, "rank:1/cpu"}};
  return ShardedTensor({4, 2}, {LocalShard{rows01, all[0]}}, all);
}

// --- Scalars and strings ---------------------------------------------------------

TEST(Value, NoneBoolInt) {
  EXPECT_EQ(Value(), Value(None{}));
  EXPECT_EQ(printed(Value()), "None");
  EXPECT_EQ(Value().type_name(), "None");
  EXPECT_EQ(Value(true), Value(true));
  EXPECT_NE(Value(true), Value(false));
  EXPECT_EQ(printed(Value(true)), "True");
  EXPECT_EQ(printed(Value(false)), "False");
  EXPECT_EQ(Value(true).type_name(), "bool");
  EXPECT_EQ(Value(3), Value(int64_t{3}));
  EXPECT_NE(Value(3), Value(4));
  EXPECT_EQ(printed(Value(-12)), "-12");
  EXPECT_EQ(Value(3).type_name(), "int");
  // Different kinds never compare equal, whatever the value.
  EXPECT_NE(Value(true), Value(1));
  EXPECT_NE(Value(1), Value(1.0));
  EXPECT_NE(Value(), Value(0));
  EXPECT_EQ(diff(Value(1), Value(1.0)), "<root>: kind int vs float");
}

TEST(Value, DoubleEqualityIsBitwise) {
  EXPECT_EQ(Value(1.5), Value(1.5));
  EXPECT_NE(Value(1.5), Value(2.5));
  EXPECT_NE(Value(0.0), Value(-0.0));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(Value(nan), Value(nan));
  uint64_t bits;
  std::memcpy(&bits, &nan, sizeof bits);
  bits ^= 1;  // another NaN payload
  double other_nan;
  std::memcpy(&other_nan, &bits, sizeof bits);
  ASSERT_TRUE(std::isnan(other_nan));
  EXPECT_NE(Value(nan), Value(other_nan));
  EXPECT_EQ(Value(1.5).type_name(), "float");
}

TEST(Value, DoublePrintsLikePythonAndRoundTrips) {
  EXPECT_EQ(printed(Value(1.5)), "1.5");
  EXPECT_EQ(printed(Value(1.0)), "1.0");
  EXPECT_EQ(printed(Value(100.0)), "100.0");
  EXPECT_EQ(printed(Value(-0.0)), "-0.0");
  EXPECT_EQ(printed(Value(0.1)), "0.1");
  EXPECT_EQ(printed(Value(0.001)), "0.001");
  EXPECT_EQ(printed(Value(1e-10)), "1e-10");
  EXPECT_EQ(printed(Value(1e16)), "1e+16");
  EXPECT_EQ(printed(Value(123456789.0)), "123456789.0");
  EXPECT_EQ(printed(Value(std::numeric_limits<double>::infinity())), "inf");
  EXPECT_EQ(printed(Value(-std::numeric_limits<double>::infinity())), "-inf");
  EXPECT_EQ(printed(Value(std::numeric_limits<double>::quiet_NaN())), "nan");
  // Two doubles that differ only in the last bits must print differently, or a
  // failed comparison would read "0.1 vs 0.1".
  const double a = 0.1, b = std::nextafter(0.1, 1.0);
  EXPECT_EQ(printed(Value(b)), "0.10000000000000002");
  EXPECT_EQ(diff(Value(a), Value(b)), "<root>: 0.1 vs 0.10000000000000002");
  for (double x : {1.0 / 3, 2.0 / 3 * 1e-300, 6.02214076e23, 5e-324, 1.7976931348623157e308}) {
    EXPECT_EQ(std::strtod(printed(Value(x)).c_str(), nullptr), x) << printed(Value(x));
  }
}

TEST(Value, StringsBytesAndStreams) {
  EXPECT_EQ(Value("abc"), Value(std::string("abc")));
  EXPECT_NE(Value("abc"), Value("abd"));
  EXPECT_EQ(printed(Value("abc")), "'abc'");
  EXPECT_EQ(printed(Value("it's\n")), "'it\\'s\\x0a'");
  EXPECT_EQ(Value("abc").type_name(), "str");

  EXPECT_EQ(Value(Bytes{"ab"}), Value(Bytes{"ab"}));
  EXPECT_NE(Value(Bytes{"ab"}), Value(Bytes{"ac"}));
  EXPECT_NE(Value(Bytes{"ab"}), Value("ab"));  // bytes are not a string
  EXPECT_EQ(printed(Value(Bytes{std::string("\0a", 2)})), "b'\\x00a'");
  EXPECT_EQ(Value(Bytes{}).type_name(), "bytes");

  EXPECT_EQ(Value(ByteStream{"ab", 1}), Value(ByteStream{"ab", 1}));
  EXPECT_NE(Value(ByteStream{"ab", 1}), Value(ByteStream{"ab", 0}));  // the position counts
  EXPECT_NE(Value(ByteStream{"ab", 0}), Value(Bytes{"ab"}));
  EXPECT_EQ(printed(Value(ByteStream{"ab", 1})), "BytesIO(b'ab', position=1)");
  EXPECT_EQ(Value(ByteStream{}).type_name(), "BytesIO");
  EXPECT_EQ(diff(Value(ByteStream{"ab", 1}), Value(ByteStream{"ab", 2})),
            "<root>: BytesIO(b'ab', position=1) vs BytesIO(b'ab', position=2)");
}

TEST(Value, Opaque) {
  const Value a(Opaque{"MyModule", "MyModule(x=1)"});
  EXPECT_EQ(a, Value(Opaque{"MyModule", "MyModule(x=1)"}));
  EXPECT_NE(a, Value(Opaque{"MyModule", "MyModule(x=2)"}));
  EXPECT_NE(a, Value(Opaque{"Other", "MyModule(x=1)"}));
  EXPECT_EQ(a.type_name(), "MyModule");
  EXPECT_EQ(printed(a), "<MyModule MyModule(x=1)>");
}

// --- Tensors ----------------------------------------------------------------------------

TEST(Value, TensorEqualityIsDtypeShapeAndBits) {
  const at::Tensor t = at::tensor({1.0f, 2.5f, -3.0f});
  EXPECT_EQ(Value(t), Value(t.clone()));
  EXPECT_EQ(Value(t).type_name(), "Tensor");
  EXPECT_NE(Value(t), Value(t.to(at::kDouble)));
  EXPECT_NE(Value(t), Value(at::tensor({1.0f, 2.5f, -2.0f})));
  EXPECT_NE(Value(at::zeros({4})), Value(at::zeros({2, 2})));
  EXPECT_NE(Value(at::zeros({1})), Value(at::zeros({})));
  EXPECT_NE(Value(at::tensor({0.0f})), Value(at::tensor({-0.0f})));
  // The same NaN bits are equal; another payload is not.
  EXPECT_EQ(Value(float_with_bits(0x7fc00000u)), Value(float_with_bits(0x7fc00000u)));
  EXPECT_NE(Value(float_with_bits(0x7fc00000u)), Value(float_with_bits(0x7fc00001u)));
  // Layout does not matter, only the elements.
  const at::Tensor m = at::arange(6, at::kInt).reshape({2, 3});
  EXPECT_EQ(Value(m.t()), Value(m.t().contiguous()));
  EXPECT_EQ(Value(at::empty({0, 3})), Value(at::zeros({0, 3})));
  EXPECT_NE(Value(at::empty({0, 3})), Value(at::empty({3, 0})));
  // Conjugate and negative views compare by the values they show.
  const at::Tensor c = at::complex(at::tensor({1.0f, 2.0f}), at::tensor({3.0f, -4.0f}));
  EXPECT_EQ(Value(c.conj()), Value(c.conj().resolve_conj()));
  EXPECT_NE(Value(c.conj()), Value(c));
  EXPECT_EQ(Value(at::imag(c.conj())), Value(at::tensor({-3.0f, 4.0f})));
  // Undefined tensors.
  EXPECT_EQ(Value(at::Tensor()), Value(at::Tensor()));
  EXPECT_NE(Value(at::Tensor()), Value(t));
}

TEST(Value, TensorDifferenceNamesWhatDiffers) {
  EXPECT_EQ(diff(Value(at::zeros({2})), Value(at::zeros({2}, at::kDouble))),
            "<root>: dtype Float vs Double");
  EXPECT_EQ(diff(Value(at::zeros({2})), Value(at::zeros({3}))), "<root>: shape [2] vs [3]");
  const std::string d = diff(Value(at::tensor({1.0f, 0.0f})), Value(at::tensor({1.0f, -0.0f})));
  EXPECT_TRUE(starts_with(d, "<root>: element 1 (flat) ")) << d;
  EXPECT_TRUE(contains(d, "[0.0]")) << d;
  EXPECT_TRUE(contains(d, "[-0.0]")) << d;
}

TEST(Value, TensorPrinting) {
  EXPECT_EQ(printed(Value(at::tensor({1.0f, 2.5f}))), "Tensor(Float[2] on cpu: [1.0, 2.5])");
  EXPECT_EQ(printed(Value(at::arange(8, at::kLong))),
            "Tensor(Long[8] on cpu: [0, 1, 2, 3, 4, 5, ...])");
  EXPECT_EQ(printed(Value(at::tensor({1, 0}).to(at::kBool))),
            "Tensor(Bool[2] on cpu: [True, False])");
  EXPECT_EQ(printed(Value(at::zeros({0, 3}))), "Tensor(Float[0, 3] on cpu)");
  EXPECT_EQ(printed(Value(at::scalar_tensor(7.0, at::kDouble))), "Tensor(Double[] on cpu: [7.0])");
  EXPECT_EQ(printed(Value(at::tensor({0.1f}))), "Tensor(Float[1] on cpu: [0.1])");
  EXPECT_EQ(printed(Value(at::empty({2}, at::TensorOptions().device(c10::kMeta)))),
            "Tensor(Float[2] on meta)");
  const at::Tensor c = at::complex(at::tensor({1.0f}), at::tensor({-2.0f}));
  EXPECT_EQ(printed(Value(c)), "Tensor(ComplexFloat[1] on cpu: [1.0-2.0j])");
  EXPECT_EQ(printed(Value(at::Tensor())), "Tensor(undefined)");
}

// --- DTensor and ShardedTensor ------------------------------------------------------------

TEST(Value, DTensorEqualityAndPrinting) {
  const at::Tensor local = at::tensor({1.0f, 2.0f});
  const Value a(small_dtensor(local));
  EXPECT_EQ(a.type_name(), "DTensor");
  EXPECT_EQ(a, Value(small_dtensor(local.clone())));
  EXPECT_NE(a, Value(small_dtensor(at::tensor({1.0f, 3.0f}))));
  EXPECT_NE(a, Value(small_dtensor(local, "R")));
  EXPECT_NE(a, Value(local));  // a DTensor is not its local tensor
  const std::string spec_diff = diff(a, Value(small_dtensor(local, "R")));
  EXPECT_TRUE(starts_with(spec_diff, "<root>: spec DTensorSpec(")) << spec_diff;
  EXPECT_TRUE(contains(spec_diff, "placements=[Shard(0)]")) << spec_diff;
  EXPECT_TRUE(contains(spec_diff, "placements=[Replicate()]")) << spec_diff;
  const std::string local_diff = diff(a, Value(small_dtensor(at::tensor({1.0f, 3.0f}))));
  EXPECT_TRUE(starts_with(local_diff, "<root>: local tensor element 1")) << local_diff;
  EXPECT_EQ(printed(a),
            "DTensor(local=Float[2] on cpu, DTensorSpec(mesh=DeviceMesh(cpu, 2, ranks=[0..1]), "
            "placements=[Shard(0)], shape=[4], stride=[1]))");
}

TEST(Value, ShardedTensorEqualityAndPrinting) {
  const at::Tensor rows = at::arange(4, at::kFloat).reshape({2, 2});
  const Value a(small_sharded(rows));
  EXPECT_EQ(a.type_name(), "ShardedTensor");
  EXPECT_EQ(a, Value(small_sharded(rows.clone())));
  at::Tensor changed = rows.clone();
  changed[1][1] = 9.0f;
  const std::string d = diff(a, Value(small_sharded(changed)));
  EXPECT_TRUE(starts_with(d, "<root>: local shard 0 element 3")) << d;
  // Metadata differences name the shard and both sides.
  std::vector<ShardMetadata> swapped = {{{2, 0}, {2, 2}, "rank:0/cpu"},
                                        {{0, 0}, {2, 2}, "rank:1/cpu"}};
  const Value b(ShardedTensor({4, 2}, {LocalShard{rows, swapped[0]}}, swapped));
  EXPECT_EQ(diff(a, b),
            "<root>: shard 0 ShardMetadata(offsets=[0, 0], sizes=[2, 2], placement=rank:0/cpu) vs "
            "ShardMetadata(offsets=[2, 0], sizes=[2, 2], placement=rank:0/cpu)");
  // A rank without local shards still knows the tensor's dtype.
  const Value none_f(ShardedTensor({4, 2}, {}, swapped, at::kFloat));
  const Value none_d(ShardedTensor({4, 2}, {}, swapped, at::kDouble));
  EXPECT_EQ(diff(none_f, none_d), "<root>: dtype Float vs Double");
  const std::string p = printed(a);
  EXPECT_TRUE(starts_with(p, "ShardedTensor(size=[4, 2], local_shards=[")) << p;
  EXPECT_TRUE(contains(p, "ShardMetadata(offsets=[0, 0], sizes=[2, 2], placement=rank:0/cpu)"))
      << p;
}

// --- Containers ---------------------------------------------------------------------------

TEST(Value, ListsAndTuples) {
  const Value l(List{{1, "a", 2.5}});
  EXPECT_EQ(l, Value(List{{1, "a", 2.5}}));
  EXPECT_NE(l, Value(List{{1, "a"}}));
  EXPECT_NE(l, Value(Tuple{{1, "a", 2.5}}));  // a list is not a tuple
  EXPECT_EQ(printed(l), "[1, 'a', 2.5]");
  EXPECT_EQ(printed(Value(List{})), "[]");
  EXPECT_EQ(printed(Value(Tuple{{1, 2}})), "(1, 2)");
  EXPECT_EQ(printed(Value(Tuple{{1}})), "(1,)");
  EXPECT_EQ(printed(Value(Tuple{})), "()");
  EXPECT_EQ(l.type_name(), "list");
  EXPECT_EQ(Value(Tuple{}).type_name(), "tuple");
  EXPECT_EQ(diff(l, Value(List{{1, "a"}})), "<root>: list length 3 vs 2");
  EXPECT_EQ(diff(Value(Tuple{{1, 2}}), Value(Tuple{{1, 3}})), "1: 2 vs 3");
}

TEST(Value, MappingsKeepInsertionOrder) {
  const Value m(Mapping{{"b", 1}, {"a", Mapping{{"x", None{}}}}});
  EXPECT_EQ(printed(m), "{'b': 1, 'a': {'x': None}}");
  EXPECT_EQ(m.type_name(), "dict");
  EXPECT_EQ(m, Value(Mapping{{"b", 1}, {"a", Mapping{{"x", None{}}}}}));
  // The same entries in another order are a different mapping.
  const Value swapped(Mapping{{"a", Mapping{{"x", None{}}}}, {"b", 1}});
  EXPECT_NE(m, swapped);
  EXPECT_EQ(diff(m, swapped), "<root>: key order differs at entry 0: 'b' vs 'a'");
  EXPECT_EQ(diff(m, Value(Mapping{{"b", 1}})), "<root>: key 'a' missing on the right");
  EXPECT_EQ(diff(Value(Mapping{{"b", 1}}), m), "<root>: key 'a' missing on the left");
  EXPECT_EQ(diff(m, Value(Mapping{{"b", 1}, {"a", Mapping{{"x", 0}}}})), "a.x: kind None vs int");
}

TEST(Value, FirstDifferenceNamesThePath) {
  const at::Tensor exp_avg = at::tensor({1.0f, 2.0f, 3.0f});
  auto state_dict = [](const at::Tensor& t) {
    return Value(
        Mapping{{"step", 3}, {"list", List{{1, "x", 2.0, Mapping{{"exp_avg", t}, {"step", 3}}}}}});
  };
  const Value a = state_dict(exp_avg);
  EXPECT_EQ(a, state_dict(exp_avg.clone()));
  EXPECT_FALSE(first_difference(a, state_dict(exp_avg.clone())).has_value());

  const std::string d = diff(a, state_dict(at::tensor({1.0f, 2.0f, 4.0f})));
  EXPECT_TRUE(starts_with(d, "list.3.exp_avg: element 2 (flat) ")) << d;
  EXPECT_TRUE(contains(d, "[3.0]")) << d;
  EXPECT_TRUE(contains(d, "[4.0]")) << d;
  EXPECT_EQ(diff(a, state_dict(at::zeros({4}))), "list.3.exp_avg: shape [3] vs [4]");
  const std::string rooted = diff(a, state_dict(at::zeros({4})), "optim");
  EXPECT_EQ(rooted, "optim.list.3.exp_avg: shape [3] vs [4]");
  // The first difference in traversal order wins.
  const Value b(
      Mapping{{"step", 4}, {"list", List{{1, "x", 2.0, Mapping{{"exp_avg", at::zeros({4})}}}}}});
  EXPECT_EQ(diff(a, b), "step: 3 vs 4");
}

TEST(Mapping, SetEraseFindKeepOrder) {
  Mapping m;
  EXPECT_TRUE(m.empty());
  m.set("c", 1);
  m.set("a", 2);
  m.set("b", 3);
  EXPECT_EQ(m.keys(), (std::vector<std::string>{"c", "a", "b"}));
  m.set("a", 20);  // replacing keeps the position
  EXPECT_EQ(m.keys(), (std::vector<std::string>{"c", "a", "b"}));
  EXPECT_EQ(m.at("a"), Value(20));
  ASSERT_NE(m.find("b"), nullptr);
  EXPECT_EQ(*m.find("b"), Value(3));
  EXPECT_EQ(m.find("z"), nullptr);
  EXPECT_TRUE(m.contains("c"));
  EXPECT_FALSE(m.contains("z"));

  EXPECT_TRUE(m.erase("c"));
  EXPECT_FALSE(m.erase("c"));
  EXPECT_EQ(m.keys(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(m.size(), 2u);
  // Lookups after an erase still find the right entries.
  EXPECT_EQ(m.at("a"), Value(20));
  EXPECT_EQ(m.at("b"), Value(3));
  EXPECT_EQ(m.key(1), "b");
  EXPECT_EQ(m.value(1), Value(3));
  m.set("c", 4);  // a re-added key goes last
  EXPECT_EQ(m.keys(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(m.at("c"), Value(4));
  m.at("b") = Value("bee");
  EXPECT_EQ(*m.find("b"), Value("bee"));

  try {
    m.at("missing");
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "'missing'")) << e.what();
  }
}

TEST(Value, CopiesAreDeepForContainersAndShareTensors) {
  const at::Tensor t = at::zeros({2});
  Value a(Mapping{{"t", t}, {"l", List{{1}}}});
  Value b = a;
  b.mapping().at("l").list().items.push_back(2);
  EXPECT_EQ(a.mapping().at("l").list().items.size(), 1u);
  b.mapping().at("t").tensor().fill_(1.0);
  EXPECT_EQ(a.mapping().at("t").tensor()[0].item<float>(), 1.0f);
}

TEST(Value, WrongKindAccessThrows) {
  const Value v(3);
  try {
    v.mapping();
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "value of kind int")) << e.what();
  }
  EXPECT_EQ(join_path("", "a"), "a");
  EXPECT_EQ(join_path("list", "3"), "list.3");
}

}  // namespace
}  // namespace shardsim
