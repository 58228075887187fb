// Tests of the simulated accelerator: placement, ordinary ops against the same
// op on CPU copies, views that alias, copies that do not, device mixing errors,
// the byte count, and a printed per-op cost.
//
// Oracles: the CPU result of the same op, device memory read directly through
// data_ptr (it is host memory), and hand-written values.
#include "shardsim/sim/accelerator.h"

#include <chrono>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "shardsim/core/error.h"

namespace shardsim::sim {
namespace {

at::TensorOptions on(int64_t index) { return at::TensorOptions().device(simulated_device(index)); }

// Values of a float tensor on a simulated device, read straight from its memory
// (contiguous element order), independent of the copy kernels under test.
std::vector<float> raw_floats(const at::Tensor& t) {
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.scalar_type(), at::kFloat);
  const float* p = static_cast<const float*>(t.data_ptr());
  return std::vector<float>(p, p + t.numel());
}

std::vector<float> floats(std::initializer_list<float> v) { return std::vector<float>(v); }

at::Tensor seeded_randn(at::IntArrayRef shape, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn(shape, gen);
}

// Every test checks that the tensors it made released their device memory.
class AcceleratorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ensure_simulated_accelerator();
    baseline_ = simulated_bytes_in_use();
  }
  void TearDown() override {
    EXPECT_EQ(simulated_bytes_in_use(), baseline_) << "device memory leaked";
  }

  int64_t baseline_ = 0;
};

// Asserts that `device_result` lives on `index` and equals `cpu_result`.
void expect_same_on_device(const at::Tensor& device_result, const at::Tensor& cpu_result,
                           int64_t index, const std::string& what) {
  ASSERT_TRUE(device_result.defined()) << what;
  EXPECT_EQ(device_result.device(), simulated_device(index)) << what;
  EXPECT_FALSE(device_result.is_cpu()) << what;
  const at::Tensor back = device_result.cpu();
  EXPECT_EQ(back.scalar_type(), cpu_result.scalar_type()) << what;
  EXPECT_EQ(back.sizes(), cpu_result.sizes()) << what;
  EXPECT_TRUE(at::equal(back, cpu_result)) << what << "\ndevice:\n"
                                           << back << "\ncpu:\n"
                                           << cpu_result;
}

// --- placement ----------------------------------------------------------------

TEST_F(AcceleratorTest, TensorsReportTheirSimulatedDevice) {
  const at::Tensor t = at::empty({2, 3}, on(3));
  EXPECT_EQ(t.device().type(), c10::DeviceType::PrivateUse1);
  EXPECT_EQ(t.device().index(), 3);
  EXPECT_FALSE(t.is_cpu());
  EXPECT_TRUE(is_simulated_device(t.device()));
  EXPECT_FALSE(is_simulated_device(at::Device(at::kCPU)));
  std::ostringstream os;
  os << t.device();
  EXPECT_EQ(os.str(), "privateuseone:3");
  EXPECT_EQ(simulated_device(0).str(), "privateuseone:0");
  EXPECT_EQ(simulated_device(kMaxSimulatedDeviceIndex).index(), 127);
}

TEST_F(AcceleratorTest, TensorPrintsItsValues) {
  const at::Tensor t = at::arange(3, on(1).dtype(at::kFloat)).add_(0.5);
  std::ostringstream os;
  os << t;
  EXPECT_NE(os.str().find("0.5000"), std::string::npos) << os.str();
  EXPECT_NE(os.str().find("2.5000"), std::string::npos) << os.str();
  EXPECT_EQ(t.toString(), "PrivateUse1FloatType");
}

TEST_F(AcceleratorTest, IndexOutOfRangeIsRejected) {
  EXPECT_THROW(simulated_device(128), InvalidArgument);
  EXPECT_THROW(simulated_device(-1), InvalidArgument);
  EXPECT_THROW(simulated_device(1000), InvalidArgument);
  EXPECT_NO_THROW(simulated_device(127));
  EXPECT_NO_THROW(at::empty({1}, on(127)));
}

TEST_F(AcceleratorTest, EnsureIsIdempotent) {
  ensure_simulated_accelerator();
  ensure_simulated_accelerator();
  EXPECT_EQ(at::ones({2}, on(0)).sum().item<float>(), 2.0f);
}

// --- factories and memory ------------------------------------------------------

TEST_F(AcceleratorTest, FactoriesMatchHandValues) {
  EXPECT_EQ(raw_floats(at::zeros({3}, on(0))), floats({0, 0, 0}));
  EXPECT_EQ(raw_floats(at::ones({2, 2}, on(0))), floats({1, 1, 1, 1}));
  EXPECT_EQ(raw_floats(at::full({2}, 2.5, on(2))), floats({2.5, 2.5}));
  EXPECT_EQ(raw_floats(at::arange(1, 4, on(0).dtype(at::kFloat))), floats({1, 2, 3}));
  EXPECT_EQ(raw_floats(at::linspace(0, 1, 3, on(0))), floats({0, 0.5, 1}));
  EXPECT_EQ(raw_floats(at::eye(2, on(0))), floats({1, 0, 0, 1}));
  const at::Tensor e = at::empty({4, 5}, on(5));
  EXPECT_EQ(e.sizes(), at::IntArrayRef({4, 5}));
  EXPECT_EQ(e.device().index(), 5);
  const at::Tensor s = at::empty_strided({2, 3}, {1, 2}, on(0));
  EXPECT_EQ(s.strides(), at::IntArrayRef({1, 2}));
  const at::Tensor i = at::arange(5, on(0));
  EXPECT_EQ(i.scalar_type(), at::kLong);
  EXPECT_EQ(i.sum().item<int64_t>(), 10);
}

TEST_F(AcceleratorTest, ByteCountReturnsToBaselineWhenTensorsDie) {
  {
    const at::Tensor a = at::empty({1000}, on(0));
    EXPECT_EQ(simulated_bytes_in_use(), baseline_ + 4000);
    const at::Tensor b = at::ones({1000}, on(1).dtype(at::kDouble));
    EXPECT_EQ(simulated_bytes_in_use(), baseline_ + 12000);
    const at::Tensor c = b * 2;  // a fallback result: host memory adopted by the device
    EXPECT_EQ(simulated_bytes_in_use(), baseline_ + 20000);
    const at::Tensor v = c.narrow(0, 10, 10);  // a view allocates nothing
    EXPECT_EQ(simulated_bytes_in_use(), baseline_ + 20000);
    const at::Tensor host = c.cpu();  // host memory is not device memory
    EXPECT_EQ(simulated_bytes_in_use(), baseline_ + 20000);
  }
  EXPECT_EQ(simulated_bytes_in_use(), baseline_);
}

// --- ordinary ops against CPU --------------------------------------------------

struct BinaryCase {
  const char* name;
  std::function<at::Tensor(const at::Tensor&, const at::Tensor&)> op;
};

TEST_F(AcceleratorTest, BinaryOpsMatchCpu) {
  const at::Tensor a = seeded_randn({4, 5}, 1);
  const at::Tensor b = seeded_randn({4, 5}, 2);
  const std::vector<BinaryCase> cases = {
      {"add", [](const at::Tensor& x, const at::Tensor& y) { return x + y; }},
      {"add alpha", [](const at::Tensor& x, const at::Tensor& y) { return at::add(x, y, 3); }},
      {"mul", [](const at::Tensor& x, const at::Tensor& y) { return x * y; }},
      {"sub scalar", [](const at::Tensor& x, const at::Tensor&) { return x - 1.5; }},
      {"div", [](const at::Tensor& x, const at::Tensor& y) { return x / y; }},
      {"sum", [](const at::Tensor& x, const at::Tensor&) { return x.sum(); }},
      {"sum dim", [](const at::Tensor& x, const at::Tensor&) { return x.sum(1); }},
      {"mean", [](const at::Tensor& x, const at::Tensor&) { return x.mean(0); }},
      {"cat 0",
       [](const at::Tensor& x, const at::Tensor& y) {
         return at::cat({x, y}, 0);
       }},
      {"cat 1",
       [](const at::Tensor& x, const at::Tensor& y) {
         return at::cat({x, y}, 1);
       }},
      {"stack",
       [](const at::Tensor& x, const at::Tensor& y) {
         return at::stack({x, y});
       }},
      {"eq", [](const at::Tensor& x, const at::Tensor& y) { return x.eq(y); }},
      {"lt", [](const at::Tensor& x, const at::Tensor& y) { return x < y; }},
      {"gt scalar", [](const at::Tensor& x, const at::Tensor&) { return x > 0; }},
      {"where", [](const at::Tensor& x, const at::Tensor& y) { return at::where(x > 0, x, y); }},
      {"clamp", [](const at::Tensor& x, const at::Tensor&) { return x.clamp(-0.5, 0.5); }},
      {"matmul", [](const at::Tensor& x, const at::Tensor& y) { return x.matmul(y.t()); }},
      {"cumsum", [](const at::Tensor& x, const at::Tensor&) { return x.cumsum(1); }},
      {"softmax", [](const at::Tensor& x, const at::Tensor&) { return x.softmax(1); }},
      {"exp", [](const at::Tensor& x, const at::Tensor&) { return x.exp(); }},
      {"abs", [](const at::Tensor& x, const at::Tensor&) { return x.abs(); }},
      {"clone", [](const at::Tensor& x, const at::Tensor&) { return x.clone(); }},
      {"contiguous", [](const at::Tensor& x, const at::Tensor&) { return x.t().contiguous(); }},
      {"select", [](const at::Tensor& x, const at::Tensor&) { return x.select(1, 2); }},
      {"narrow", [](const at::Tensor& x, const at::Tensor&) { return x.narrow(0, 1, 2); }},
      {"index_select",
       [](const at::Tensor& x, const at::Tensor&) {
         return x.index_select(1, at::tensor({4, 0, 2}, at::kLong).to(x.device()));
       }},
      {"flip", [](const at::Tensor& x, const at::Tensor&) { return x.flip({0}); }},
      {"to double", [](const at::Tensor& x, const at::Tensor&) { return x.to(at::kDouble); }},
      {"to bf16", [](const at::Tensor& x, const at::Tensor&) { return x.to(at::kBFloat16); }},
      {"to half", [](const at::Tensor& x, const at::Tensor&) { return x.to(at::kHalf); }},
      {"to int", [](const at::Tensor& x, const at::Tensor&) { return (x * 10).to(at::kInt); }},
      {"max values", [](const at::Tensor& x, const at::Tensor&) { return std::get<0>(x.max(1)); }},
      {"max indices", [](const at::Tensor& x, const at::Tensor&) { return std::get<1>(x.max(1)); }},
      {"sort values",
       [](const at::Tensor& x, const at::Tensor&) { return std::get<0>(x.sort(1)); }},
      {"topk indices",
       [](const at::Tensor& x, const at::Tensor&) { return std::get<1>(x.topk(2)); }},
      {"masked_select",
       [](const at::Tensor& x, const at::Tensor&) { return x.masked_select(x > 0); }},
      {"nonzero", [](const at::Tensor& x, const at::Tensor&) { return (x > 0).nonzero(); }},
      {"split last", [](const at::Tensor& x, const at::Tensor&) { return x.split(2, 1).back(); }},
      {"unbind", [](const at::Tensor& x, const at::Tensor&) { return x.unbind(0)[3]; }},
      {"chunk", [](const at::Tensor& x, const at::Tensor&) { return x.chunk(2, 0)[1]; }},
      {"repeat", [](const at::Tensor& x, const at::Tensor&) { return x.repeat({2, 1}); }},
      {"expand+contig",
       [](const at::Tensor& x,
          const at::Tensor&) { return x.select(0, 0).expand({3, 5}).contiguous(); }},
      {"pad",
       [](const at::Tensor& x, const at::Tensor&) { return at::constant_pad_nd(x, {1, 1}); }},
  };
  const at::Tensor da = a.to(simulated_device(2));
  const at::Tensor db = b.to(simulated_device(2));
  for (const BinaryCase& c : cases) {
    expect_same_on_device(c.op(da, db), c.op(a, b), 2, c.name);
  }
}

TEST_F(AcceleratorTest, ScalarResultsMatchCpu) {
  const at::Tensor a = seeded_randn({3, 3, 3}, 3);
  const at::Tensor d = a.to(simulated_device(0));
  EXPECT_EQ(d.sum().item<float>(), a.sum().item<float>());
  EXPECT_EQ(d[1][2][0].item<float>(), a[1][2][0].item<float>());
  EXPECT_TRUE(at::equal(d, d.clone()));
  EXPECT_FALSE(at::equal(d, d + 1));
  EXPECT_TRUE(d.allclose(d * 1.0));
  EXPECT_EQ((d > 0).sum().item<int64_t>(), (a > 0).sum().item<int64_t>());
  EXPECT_EQ(d.max().item<float>(), a.max().item<float>());
}

TEST_F(AcceleratorTest, DtypesRoundTripAndComputeLikeCpu) {
  const at::Tensor base = seeded_randn({2, 6}, 4);
  for (const at::ScalarType dtype :
       {at::kFloat, at::kDouble, at::kBFloat16, at::kHalf, at::kComplexFloat, at::kComplexDouble,
        at::kBool, at::kInt, at::kLong, at::kByte, at::kChar, at::kShort}) {
    const std::string what = c10::toString(dtype);
    const at::Tensor a = (dtype == at::kBool) ? (base > 0) : (base * 7).to(dtype);
    const at::Tensor d = a.to(simulated_device(1));
    EXPECT_EQ(d.scalar_type(), dtype) << what;
    expect_same_on_device(d, a, 1, what + " round trip");
    expect_same_on_device(d.clone(), a.clone(), 1, what + " clone");
    expect_same_on_device(at::cat({d, d}), at::cat({a, a}), 1, what + " cat");
    expect_same_on_device(d.narrow(1, 1, 3), a.narrow(1, 1, 3), 1, what + " narrow");
    if (dtype != at::kBool) {
      expect_same_on_device(d + d, a + a, 1, what + " add");
      expect_same_on_device(d.sum(1), a.sum(1), 1, what + " sum");
    }
    expect_same_on_device(at::zeros_like(d).fill_(1), at::zeros_like(a).fill_(1), 1,
                          what + " fill_");
    expect_same_on_device(d == d, a == a, 1, what + " eq");
  }
}

TEST_F(AcceleratorTest, ComplexViewsAndConjugation) {
  const at::Tensor a = at::complex(seeded_randn({3, 2}, 5), seeded_randn({3, 2}, 6));
  const at::Tensor d = a.to(simulated_device(0));
  expect_same_on_device(d.conj().resolve_conj(), a.conj().resolve_conj(), 0, "conj");
  expect_same_on_device(d.conj() * 2, a.conj() * 2, 0, "conj mul");
  expect_same_on_device(at::real(d).contiguous(), at::real(a).contiguous(), 0, "real");
  expect_same_on_device(at::imag(d).contiguous(), at::imag(a).contiguous(), 0, "imag");
  const at::Tensor r = at::view_as_real(d);
  EXPECT_TRUE(r.is_alias_of(d));
  expect_same_on_device(r, at::view_as_real(a), 0, "view_as_real");
  const at::Tensor c = at::view_as_complex(r);
  EXPECT_TRUE(c.is_alias_of(d));
  r.select(-1, 0).fill_(0);  // zero the real parts through the float view
  expect_same_on_device(d, at::complex(at::zeros({3, 2}), at::imag(a).contiguous()), 0,
                        "write via view_as_real");
  expect_same_on_device(c, d.cpu(), 0, "view_as_complex sees it");
}

// --- views alias ---------------------------------------------------------------

TEST_F(AcceleratorTest, ViewsWriteThroughToTheirBase) {
  const at::Tensor base = at::zeros({4, 3}, on(0));
  const int64_t storage_bytes = simulated_bytes_in_use() - baseline_;

  base.narrow(0, 1, 2).fill_(1);
  EXPECT_EQ(raw_floats(base), floats({0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0}));
  base.select(1, 2).fill_(2);
  EXPECT_EQ(raw_floats(base), floats({0, 0, 2, 1, 1, 2, 1, 1, 2, 0, 0, 2}));
  base.view({12}).narrow(0, 0, 1).fill_(3);
  base.reshape({2, 6}).select(0, 1).narrow(0, 5, 1).fill_(4);
  EXPECT_EQ(raw_floats(base), floats({3, 0, 2, 1, 1, 2, 1, 1, 2, 0, 0, 4}));
  base.t().select(0, 1).copy_(at::tensor({5.f, 6.f, 7.f, 8.f}));  // transpose: column 1
  EXPECT_EQ(raw_floats(base), floats({3, 5, 2, 1, 6, 2, 1, 7, 2, 0, 8, 4}));
  base.as_strided({2}, {4}, 1).fill_(9);  // elements 1 and 5
  EXPECT_EQ(raw_floats(base), floats({3, 9, 2, 1, 6, 9, 1, 7, 2, 0, 8, 4}));
  base.view({12}).unfold(0, 2, 5).select(1, 0).fill_(-1);  // windows at 0, 5, 10
  EXPECT_EQ(raw_floats(base), floats({-1, 9, 2, 1, 6, -1, 1, 7, 2, 0, -1, 4}));
  base.diagonal().zero_();  // (0,0), (1,1), (2,2)
  EXPECT_EQ(raw_floats(base), floats({0, 9, 2, 1, 0, -1, 1, 7, 0, 0, -1, 4}));
  base.view({12}).narrow(0, 6, 2).add_(at::ones({2}, on(0)));  // in place on a view
  EXPECT_EQ(raw_floats(base), floats({0, 9, 2, 1, 0, -1, 2, 8, 0, 0, -1, 4}));

  for (const at::Tensor& v :
       {base.narrow(0, 1, 2), base.view({12}), base.reshape({6, 2}), base.as_strided({2}, {1}),
        base.view({12}).unfold(0, 3, 3), base.select(0, 1), base.transpose(0, 1), base.unsqueeze(0),
        base.expand({2, 4, 3}), base.flatten(), base[2], base.squeeze()}) {
    EXPECT_TRUE(v.is_alias_of(base));
    EXPECT_EQ(v.device(), simulated_device(0));
  }
  EXPECT_EQ(simulated_bytes_in_use() - baseline_, storage_bytes) << "a view allocated memory";
}

TEST_F(AcceleratorTest, NarrowAndCopyGathersIntoPlace) {
  // The gather pattern of sharding: write each shard into a narrowed slice.
  const at::Tensor full = at::empty({6, 2}, on(0));
  const at::Tensor shard0 = at::tensor({1.f, 2.f, 3.f, 4.f}).view({2, 2});
  const at::Tensor shard1 = at::tensor({5.f, 6.f, 7.f, 8.f, 9.f, 10.f, 11.f, 12.f}).view({4, 2});
  full.narrow(0, 0, 2).copy_(shard0.to(simulated_device(0)));
  full.narrow(0, 2, 4).copy_(shard1);  // straight from host
  EXPECT_EQ(raw_floats(full), floats({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));
}

// --- copies ---------------------------------------------------------------------

TEST_F(AcceleratorTest, HostToDeviceCopyIsDistinctStorage) {
  const at::Tensor host = at::tensor({1.f, 2.f, 3.f});
  for (const bool non_blocking : {false, true}) {
    const at::Tensor d = host.to(simulated_device(0), non_blocking);
    EXPECT_EQ(d.device(), simulated_device(0));
    EXPECT_NE(d.data_ptr(), host.data_ptr());
    EXPECT_EQ(raw_floats(d), floats({1, 2, 3}));
    host.add_(10);
    EXPECT_EQ(raw_floats(d), floats({1, 2, 3})) << "device copy followed the host";
    d.fill_(0);
    EXPECT_EQ(host[0].item<float>(), 11.f) << "host followed the device copy";
    host.sub_(10);
  }
}

TEST_F(AcceleratorTest, DeviceToHostCopyIsDistinctStorage) {
  const at::Tensor d = at::arange(4, on(1).dtype(at::kFloat));
  for (const bool non_blocking : {false, true}) {
    const std::vector<float> expected = raw_floats(d);
    const at::Tensor host = d.to(at::kCPU, non_blocking);
    EXPECT_TRUE(host.is_cpu());
    EXPECT_NE(host.data_ptr(), d.data_ptr());
    EXPECT_EQ(std::vector<float>(host.data_ptr<float>(), host.data_ptr<float>() + 4), expected);
    d.add_(1);
    EXPECT_EQ(host[3].item<float>(), expected[3]) << "host copy followed the device";
    host.fill_(-5);
    EXPECT_EQ(raw_floats(d)[0], expected[0] + 1) << "device followed the host copy";
  }
  // copy_ in both directions, with a dtype change.
  const at::Tensor into_host = at::zeros({4}, at::kDouble);
  into_host.copy_(d);
  EXPECT_EQ(into_host[2].item<double>(), 4.0);
  const at::Tensor into_device = at::zeros({4}, on(1));
  into_device.copy_(at::full({4}, 7, at::kInt), /*non_blocking=*/true);
  EXPECT_EQ(raw_floats(into_device), floats({7, 7, 7, 7}));
  EXPECT_TRUE(d.cpu().is_cpu());
}

TEST_F(AcceleratorTest, CopiesAcrossDeviceIndices) {
  const at::Tensor d0 = at::arange(6, on(0).dtype(at::kFloat)).view({2, 3});
  const at::Tensor d1 = d0.to(simulated_device(1));
  EXPECT_EQ(d1.device(), simulated_device(1));
  EXPECT_NE(d1.data_ptr(), d0.data_ptr());
  EXPECT_EQ(raw_floats(d1), floats({0, 1, 2, 3, 4, 5}));
  d0.fill_(9);
  EXPECT_EQ(raw_floats(d1), floats({0, 1, 2, 3, 4, 5}));

  const at::Tensor target = at::zeros({3, 2}, on(7));
  target.copy_(d1.t());  // a strided source on another index
  EXPECT_EQ(target.device(), simulated_device(7));
  EXPECT_EQ(raw_floats(target), floats({0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(d1.to(simulated_device(1)).data_ptr(), d1.data_ptr()) << "same device: no copy";
}

// --- device mixing --------------------------------------------------------------

void expect_device_mix_error(const std::function<void()>& f, const std::string& devices) {
  try {
    f();
    ADD_FAILURE() << "mixing " << devices << " did not throw";
  } catch (const c10::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("Expected all tensors to be on the same device"), std::string::npos) << msg;
    EXPECT_NE(msg.find(devices), std::string::npos) << msg;
  }
}

TEST_F(AcceleratorTest, MixingDeviceAndHostTensorsErrorsLikeCuda) {
  const at::Tensor d = at::ones({3}, on(0));
  const at::Tensor h = at::ones({3});
  expect_device_mix_error([&] { (void)(d + h); }, "privateuseone:0 and cpu");
  expect_device_mix_error([&] { (void)(h * d); }, "privateuseone:0 and cpu");
  expect_device_mix_error([&] { (void)at::cat({d, h}); }, "privateuseone:0 and cpu");
  expect_device_mix_error([&] { d.add_(h); }, "privateuseone:0 and cpu");
  expect_device_mix_error([&] { (void)at::where(d > 0, d, h); }, "privateuseone:0 and cpu");
  const at::Tensor d1 = at::ones({3}, on(1));
  expect_device_mix_error([&] { (void)(d + d1); }, "privateuseone:0 and privateuseone:1");
  // A 0-dim CPU tensor is a scalar, allowed as on CUDA; index lists may live on CPU.
  EXPECT_EQ(raw_floats(d + at::scalar_tensor(2.f)), floats({3, 3, 3}));
  EXPECT_EQ(raw_floats(d.index({at::tensor({0, 2}, at::kLong)})), floats({1, 1}));
}

// --- indexing, in-place, out=, resize, set_ -------------------------------------

TEST_F(AcceleratorTest, IndexingMatchesCpu) {
  const at::Tensor a = seeded_randn({5, 4}, 7);
  const at::Tensor d = a.to(simulated_device(3));
  const at::Tensor idx = at::tensor({3, 0, 0, 2}, at::kLong);
  expect_same_on_device(d.index({idx}), a.index({idx}), 3, "index device ids");
  expect_same_on_device(d.index({idx.to(d.device())}), a.index({idx}), 3, "index host ids");
  expect_same_on_device(d.index({at::indexing::Slice(), idx.narrow(0, 0, 2)}),
                        a.index({at::indexing::Slice(), idx.narrow(0, 0, 2)}), 3, "index slice");
  expect_same_on_device(d.index({d > 0}), a.index({a > 0}), 3, "index mask");

  at::Tensor dp = d.clone();
  at::Tensor ap = a.clone();
  dp.index_put_({idx.to(d.device())}, at::full({4}, 3.f, on(3)));
  ap.index_put_({idx}, at::full({4}, 3.f));
  expect_same_on_device(dp, ap, 3, "index_put_");
  dp.index_put_({dp > 1}, 0.f);
  ap.index_put_({ap > 1}, 0.f);
  expect_same_on_device(dp, ap, 3, "masked index_put_");
}

TEST_F(AcceleratorTest, InPlaceAndOutVariantsKeepTheirTensors) {
  const at::Tensor d = at::ones({2, 2}, on(4));
  const void* before = d.data_ptr();
  at::Tensor& same = d.add_(1);  // NOLINT
  EXPECT_TRUE(same.is_same(d));
  EXPECT_EQ(d.data_ptr(), before);
  EXPECT_EQ(raw_floats(d), floats({2, 2, 2, 2}));
  d.mul_(d).sub_(1);
  EXPECT_EQ(raw_floats(d), floats({3, 3, 3, 3}));

  at::Tensor out = at::empty({0}, on(4));
  at::add_out(out, d, d);  // the kernel resizes `out`
  EXPECT_EQ(out.sizes(), at::IntArrayRef({2, 2}));
  EXPECT_EQ(out.device(), simulated_device(4));
  EXPECT_EQ(raw_floats(out), floats({6, 6, 6, 6}));
  at::Tensor out2 = at::empty({1}, on(4));
  at::sum_out(out2, d, {0});
  EXPECT_EQ(raw_floats(out2), floats({6, 6}));

  at::Tensor grow = at::arange(3, on(4).dtype(at::kFloat));
  grow.resize_({2, 3});
  EXPECT_EQ(grow.device(), simulated_device(4));
  EXPECT_EQ(raw_floats(grow).size(), 6u);
  EXPECT_EQ(raw_floats(grow)[2], 2.f);
}

TEST_F(AcceleratorTest, SetSharesStorage) {
  const at::Tensor src = at::arange(6, on(2).dtype(at::kFloat));
  at::Tensor t = at::empty({0}, on(2));
  t.set_(src);
  EXPECT_TRUE(t.is_alias_of(src));
  EXPECT_EQ(raw_floats(t), floats({0, 1, 2, 3, 4, 5}));
  t.set_(src.storage(), 2, {2, 2}, {2, 1});
  EXPECT_EQ(t.sizes(), at::IntArrayRef({2, 2}));
  t.fill_(-1);
  EXPECT_EQ(raw_floats(src), floats({0, 1, -1, -1, -1, -1}));
  t.set_();
  EXPECT_EQ(t.numel(), 0);
  EXPECT_EQ(t.device(), simulated_device(2));
  at::Tensor u = at::empty({0}, on(2));
  u.set_(src.storage());
  EXPECT_EQ(u.numel(), 6);
  EXPECT_TRUE(u.is_alias_of(src));
}

TEST_F(AcceleratorTest, RandomFillsRunOnTheDevice) {
  const at::Tensor r = at::randn({100}, on(0));
  EXPECT_EQ(r.device(), simulated_device(0));
  EXPECT_GT(r.std().item<float>(), 0.5f);
  const at::Tensor u = at::empty({50}, on(0)).uniform_(2, 3);
  EXPECT_GE(u.min().item<float>(), 2.f);
  EXPECT_LE(u.max().item<float>(), 3.f);
}

// --- routing to CPU kernels, autograd -------------------------------------------

TEST_F(AcceleratorTest, OpsWithCpuKernelsGiveTheCpuBitsNotTheComposite) {
  // native_layer_norm has a CPU kernel and a composite that rounds differently.
  const at::Tensor a = seeded_randn({8, 33}, 10);
  const at::Tensor d = a.to(simulated_device(0));
  expect_same_on_device(at::layer_norm(d, {33}), at::layer_norm(a, {33}), 0, "layer_norm");
  expect_same_on_device(d.var(1), a.var(1), 0, "var");
  expect_same_on_device(at::log_softmax(d, 1), at::log_softmax(a, 1), 0, "log_softmax");
}

TEST_F(AcceleratorTest, ConvolutionMatchesCpu) {
  const at::Tensor x = seeded_randn({2, 3, 5, 6}, 11);
  const at::Tensor w = seeded_randn({4, 3, 3, 3}, 12);
  const at::Tensor b = seeded_randn({4}, 13);
  const c10::Device dev = simulated_device(1);
  expect_same_on_device(at::conv2d(x.to(dev), w.to(dev), b.to(dev), 1, 1),
                        at::conv2d(x, w, b, 1, 1), 1, "conv2d");
  expect_same_on_device(at::conv_transpose2d(x.to(dev), w.transpose(0, 1).to(dev)),
                        at::conv_transpose2d(x, w.transpose(0, 1)), 1, "conv_transpose2d");
  const at::Tensor wd = w.to(dev).requires_grad_();
  const at::Tensor wc = w.clone().requires_grad_();
  at::conv2d(x.to(dev), wd).pow(2).sum().backward();
  at::conv2d(x, wc).pow(2).sum().backward();
  expect_same_on_device(wd.grad(), wc.grad(), 1, "conv2d weight grad");
}

TEST_F(AcceleratorTest, AutogradFollowsDeviceTensors) {
  const at::Tensor a = seeded_randn({3, 4}, 14);
  const at::Tensor x = a.to(simulated_device(2)).requires_grad_();
  const at::Tensor y = (x * x).sum(1).narrow(0, 1, 2).sum();
  EXPECT_TRUE(y.requires_grad());
  y.backward();
  ASSERT_TRUE(x.grad().defined());
  // d/dx of sum over rows 1..2 of x^2: 2x on those rows, 0 on row 0.
  at::Tensor expected = a * 2;
  expected[0].zero_();
  expect_same_on_device(x.grad(), expected, 2, "grad");
  {
    c10::InferenceMode guard;
    EXPECT_FALSE((x * 2).requires_grad());
  }
}

TEST_F(AcceleratorTest, ThreadsWorkOnTheirOwnDevicesAtOnce) {
  std::vector<std::thread> threads;
  std::vector<std::string> failures(4);
  for (int rank = 0; rank < 4; ++rank) {
    threads.emplace_back([rank, &failures] {
      try {
        const at::Tensor a = seeded_randn({6, 5}, 100 + rank);
        const at::Tensor d = a.to(simulated_device(rank));
        at::Tensor gathered = at::empty({12, 5}, on(rank));
        for (int i = 0; i < 200; ++i) {
          gathered.narrow(0, 0, 6).copy_(d * 2);
          gathered.narrow(0, 6, 6).copy_(a + 1);
        }
        const at::Tensor expected = at::cat({a * 2, a + 1});
        if (!at::equal(gathered.cpu(), expected)) failures[rank] = "values differ";
        if (gathered.device() != simulated_device(rank)) failures[rank] = "wrong device";
      } catch (const std::exception& e) {
        failures[rank] = e.what();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int rank = 0; rank < 4; ++rank) EXPECT_EQ(failures[rank], "") << "thread " << rank;
}

TEST_F(AcceleratorTest, ExpandedAndStridedSourcesCopyToDenseDeviceTensors) {
  const at::Tensor row = at::tensor({1.f, 2.f, 3.f});
  const at::Tensor d = row.expand({2, 3}).to(simulated_device(0));
  EXPECT_EQ(raw_floats(d.contiguous()), floats({1, 2, 3, 1, 2, 3}));
  const at::Tensor t = at::arange(6, at::kFloat).view({2, 3}).t().to(simulated_device(0));
  EXPECT_EQ(raw_floats(t.contiguous()), floats({0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(raw_floats(t.clone(at::MemoryFormat::Contiguous)), floats({0, 3, 1, 4, 2, 5}));
}

// --- cost ------------------------------------------------------------------------

// Prints the per-op cost of a small add on CPU and on a simulated device, for
// planning; asserts only that both computed the same thing.
TEST_F(AcceleratorTest, PerOpCostOfSmallAdd) {
  const at::Tensor a = seeded_randn({3, 3, 3}, 8);
  const at::Tensor b = seeded_randn({3, 3, 3}, 9);
  const at::Tensor da = a.to(simulated_device(0));
  const at::Tensor db = b.to(simulated_device(0));
  auto measure = [](const at::Tensor& x, const at::Tensor& y, const char* what) {
    constexpr int kIters = 20000;
    at::Tensor r;
    for (int i = 0; i < 1000; ++i) r = x + y;  // warm up
    double best = 1e9;
    for (int round = 0; round < 3; ++round) {
      const auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < kIters; ++i) r = x + y;
      const std::chrono::duration<double, std::micro> took =
          std::chrono::steady_clock::now() - start;
      best = std::min(best, took.count() / kIters);
    }
    std::cout << "[ cost     ] 3x3x3 add on " << what << ": " << best << " us/op (best of 3 x "
              << kIters << ")\n";
    return r;
  };
  const at::Tensor host = measure(a, b, "cpu");
  const at::Tensor dev = measure(da, db, "privateuseone");
  expect_same_on_device(dev, host, 0, "add");
  auto measure_copy = [](const std::function<at::Tensor()>& f, const char* what) {
    constexpr int kIters = 20000;
    at::Tensor r;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kIters; ++i) r = f();
    const std::chrono::duration<double, std::micro> took = std::chrono::steady_clock::now() - start;
    std::cout << "[ cost     ] 3x3x3 " << what << ": " << took.count() / kIters << " us/op\n";
  };
  at::Tensor host_out = at::empty_like(a);
  at::Tensor device_out = at::empty_like(da);
  measure_copy([&] { return at::add_out(host_out, a, b); }, "add_out on cpu");
  measure_copy([&] { return at::add_out(device_out, da, db); }, "add_out on privateuseone");
  measure_copy([&] { return a.to(simulated_device(0)); }, "cpu -> device copy");
  measure_copy([&] { return da.cpu(); }, "device -> cpu copy");
  measure_copy([&] { return da.narrow(0, 1, 1); }, "device narrow");
  measure_copy([&] { return a.narrow(0, 1, 1); }, "cpu narrow");
}

}  // namespace
}  // namespace shardsim::sim
