// The lifetime checker itself: a fixed sequence passes on the real host
// memory, and fails, naming the step, when the memory seam leaks a storage
// or miscounts its registrations.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "shardsim/core/host_memory.h"
#include "shardsim/properties/lifetime.h"

namespace shardsim::properties {
namespace {

// Forwards to real host memory, optionally keeping a reference to every
// allocation (a leak) or reporting one registration too many.
class FaultyHostMemory : public HostMemory {
 public:
  FaultyHostMemory(bool leak, bool miscount) : leak_(leak), miscount_(miscount) {}
  at::Tensor allocate(c10::IntArrayRef shape, c10::ScalarType dtype, HostAllocKind kind) override {
    at::Tensor t = real_->allocate(shape, dtype, kind);
    if (leak_) kept_.push_back(t);
    return t;
  }
  HostMemoryStats stats() const override {
    HostMemoryStats s = real_->stats();
    if (miscount_ && s.total_registered > 0) s.live_registrations += 1;
    return s;
  }

 private:
  std::shared_ptr<HostMemory> real_ = make_host_memory();
  bool leak_;
  bool miscount_;
  std::vector<at::Tensor> kept_;
};

Value source() {
  return Mapping{{"a", at::arange(2000, at::kFloat)},
                 {"b", List{{at::ones({3, 5}, at::kInt), at::zeros({0, 4}), at::tensor(2.5)}}},
                 {"c", int64_t{7}}};
}

std::vector<LifetimeStep> steps() {
  const auto step = [](LifetimeStep::Op op, int64_t dict, std::string path = "", int64_t view = 0) {
    LifetimeStep s;
    s.op = op;
    s.dict = dict;
    s.path = std::move(path);
    s.view = view;
    s.pin = true;
    s.share = true;
    return s;
  };
  using Op = LifetimeStep::Op;
  return {step(Op::kCreate, 0),          step(Op::kView, 0, "b.0"), step(Op::kCopy, 0),
          step(Op::kDelete, 0, "a"),     step(Op::kCreate, 1),      step(Op::kDrop, 0),
          step(Op::kDropView, 0, "", 0), step(Op::kView, 1, "a"),   step(Op::kDrop, 1)};
}

// The first problem the run reports ("" when none).
std::string run(HostMemory& host) {
  LifetimeRun run(source(), host);
  for (const LifetimeStep& s : steps()) {
    const std::string problem = run.apply(s);
    if (!problem.empty()) return step_str(s) + ": " + problem;
  }
  return run.finish();
}

TEST(Lifetime, ASequencePassesOnRealHostMemory) {
  std::shared_ptr<HostMemory> host = make_host_memory();
  EXPECT_EQ(run(*host), "");
  EXPECT_EQ(host->stats().live_registrations, 0);
  EXPECT_GT(host->stats().total_registered, 0);
}

TEST(Lifetime, ALeakedStorageIsCaughtAtTheStepThatShouldFreeIt) {
  FaultyHostMemory host(/*leak=*/true, /*miscount=*/false);
  const std::string problem = run(host);
  EXPECT_NE(problem.find("delete dict 0 a"), std::string::npos) << problem;
  EXPECT_NE(problem.find("outlived its last tensor and view"), std::string::npos) << problem;
}

TEST(Lifetime, AMiscountedRegistrationIsCaught) {
  FaultyHostMemory host(/*leak=*/false, /*miscount=*/true);
  const std::string problem = run(host);
  EXPECT_NE(problem.find("create dict 0"), std::string::npos) << problem;
  EXPECT_NE(problem.find("live registrations"), std::string::npos) << problem;
}

}  // namespace
}  // namespace shardsim::properties
