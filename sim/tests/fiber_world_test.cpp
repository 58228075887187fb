// The fiber world itself: ranks and streams, virtual time, unwinding and
// leaks, worlds one after the other and side by side, options.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "shardsim/core/error.h"
#include "shardsim/sim/accelerator.h"
#include "shardsim/sim/fiber_world.h"
#include "world_test_util.h"

namespace shardsim {
namespace sim {
namespace {

using testing::world_options;

TEST(FiberWorld, RanksSeeTheirRankGroupAndStreams) {
  const int64_t n = 5;
  std::vector<int64_t> seen_rank(n, -1);
  std::vector<uint64_t> data_draw(n), shared_draw(n);
  WorldOptions o = world_options(n, 3, 77);
  o.ranks_per_host = 3;
  WorldResult res = run_world(o, [&](RankEnv& env) {
    const int64_t r = env.rank();
    seen_rank[r] = r;
    EXPECT_EQ(env.world_size(), n);
    EXPECT_EQ(env.comm().rank(), r);
    EXPECT_EQ(env.comm().size(), n);
    EXPECT_EQ(env.comm().name(), "world");
    EXPECT_EQ(env.comm().backend(), "fiber");
    EXPECT_EQ(env.comm().members()[r], r);
    // Local device indices: rank % ranks_per_host.
    EXPECT_EQ(env.device(), simulated_device(r % 3));
    EXPECT_EQ(env.comm().device(), env.device());
    data_draw[r] = env.data().next();
    shared_draw[r] = env.shared().next();
  });
  ASSERT_TRUE(res.ok()) << res;
  ASSERT_EQ(res.ranks.size(), size_t(n));
  for (int64_t r = 0; r < n; ++r) {
    EXPECT_EQ(seen_rank[r], r);
    EXPECT_EQ(res.ranks[r].rank, r);
    EXPECT_EQ(res.ranks[r].status, RankReport::Status::kFinished) << res.ranks[r];
    EXPECT_EQ(data_draw[r], rank_stream(77, r).next());
    EXPECT_EQ(shared_draw[r], shared_stream(77).next());
  }
  EXPECT_EQ(res.world_size, n);
  EXPECT_EQ(res.schedule_seed, 3u);
  EXPECT_EQ(res.data_seed, 77u);
  EXPECT_EQ(res.trace_digest.size(), 16u);
  EXPECT_EQ(res.values_digest.size(), 16u);
  EXPECT_GT(res.events, 0u);
  EXPECT_TRUE(res.diagnosis.empty());
}

TEST(FiberWorld, RanksCanLiveOnCpu) {
  std::vector<c10::Device> devices;
  WorldResult res = run_world(world_options(3, 1, 1, DeviceKind::kCpu), [&](RankEnv& env) {
    devices.push_back(env.device());
    std::shared_ptr<Comm> sub = env.comm().subgroup({env.rank()});
    devices.push_back(sub->device());
  });
  ASSERT_TRUE(res.ok()) << res;
  ASSERT_EQ(devices.size(), 6u);
  for (const c10::Device& d : devices) EXPECT_EQ(d, c10::Device(c10::kCPU));
}

TEST(FiberWorld, CarriesTheCallersAtenThreadState) {
  at::NoGradGuard no_grad;
  bool grad_enabled = true;
  WorldResult res =
      run_world(world_options(1), [&](RankEnv&) { grad_enabled = at::GradMode::is_enabled(); });
  ASSERT_TRUE(res.ok()) << res;
  EXPECT_FALSE(grad_enabled);
}

TEST(FiberWorld, SleepersWakeInDeadlineOrderInVirtualTime) {
  const int64_t n = 6;
  std::vector<int64_t> order;
  std::vector<int64_t> woke_at(n, -1);
  const auto wall_start = std::chrono::steady_clock::now();
  WorldResult res = run_world(world_options(n, 9), [&](RankEnv& env) {
    const int64_t r = env.rank();
    // Rank r sleeps (n - r) hours of virtual time; rank 0 twice, in two steps.
    env.sleep_ms((n - r) * 3600 * 1000);
    if (r == 0) env.sleep_ms(1);
    woke_at[r] = env.now_ms();
    order.push_back(r);
  });
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  ASSERT_TRUE(res.ok()) << res;
  const std::vector<int64_t> expected_order = {5, 4, 3, 2, 1, 0};
  EXPECT_EQ(order, expected_order);
  for (int64_t r = 1; r < n; ++r) EXPECT_EQ(woke_at[r], (n - r) * 3600 * 1000);
  EXPECT_EQ(woke_at[0], n * 3600 * 1000 + 1);
  EXPECT_EQ(res.virtual_ms, n * 3600 * 1000 + 1);
  EXPECT_LT(wall_s, 1.0);
}

TEST(FiberWorld, ASleepingPeerIsWaitedForNotADeadlock) {
  WorldResult res = run_world(world_options(4, 2), [&](RankEnv& env) {
    if (env.rank() == 2) env.sleep_ms(250);
    env.comm().barrier();
    EXPECT_EQ(env.now_ms(), 250);
  });
  EXPECT_TRUE(res.ok()) << res;
  EXPECT_EQ(res.virtual_ms, 250);
}

TEST(FiberWorld, YieldLetsOthersRun) {
  // Rank 0 spins on yield until rank 1 has set the flag.
  bool flag = false;
  int64_t spins = 0;
  WorldResult res = run_world(world_options(2, 5), [&](RankEnv& env) {
    if (env.rank() == 0) {
      while (!flag) {
        env.yield();
        ++spins;
      }
    } else {
      flag = true;
    }
  });
  EXPECT_TRUE(res.ok()) << res;
  EXPECT_TRUE(flag);
}

// Counts live storages made by counted_tensor.
struct LiveCounter {
  std::atomic<int64_t> live{0};
};

at::Tensor counted_tensor(const std::shared_ptr<LiveCounter>& counter, int64_t n, float value) {
  auto* data = new float[n];
  for (int64_t i = 0; i < n; ++i) data[i] = value;
  ++counter->live;
  return at::from_blob(
      data, {n},
      [counter](void* p) {
        delete[] static_cast<float*>(p);
        --counter->live;
      },
      at::TensorOptions().dtype(at::kFloat));
}

TEST(FiberWorld, StoppedRanksAreUnwoundWithoutLeaks) {
  auto counter = std::make_shared<LiveCounter>();
  const int64_t n = 8;
  const int64_t device_bytes = simulated_bytes_in_use();
  int64_t device_bytes_inside = 0;
  WorldResult res = run_world(world_options(n, 4), [&](RankEnv& env) {
    at::Tensor mine = counted_tensor(counter, 16, float(env.rank()));
    at::Tensor other = counted_tensor(counter, 4, 1.0f);
    at::Tensor on_device = at::ones({1000}, at::TensorOptions().device(env.device()));
    device_bytes_inside = std::max(device_bytes_inside, simulated_bytes_in_use() - device_bytes);
    env.comm().all_reduce_sum(on_device);
    std::vector<int64_t> counts(n, 16);
    env.comm().all_gather(mine, counts, [](int64_t, const at::Tensor&) {});
    if (env.rank() == 3) return;  // leaves the others waiting in the broadcast
    env.comm().broadcast(other, 0);
  });
  EXPECT_EQ(res.status, WorldResult::Status::kDeadlock) << res;
  EXPECT_EQ(counter->live.load(), 0);
  EXPECT_GE(device_bytes_inside, 4000);
  EXPECT_EQ(simulated_bytes_in_use(), device_bytes);
  for (int64_t r = 0; r < n; ++r) {
    if (r == 3) {
      EXPECT_EQ(res.ranks[r].status, RankReport::Status::kFinished) << res.ranks[r];
    } else {
      EXPECT_EQ(res.ranks[r].status, RankReport::Status::kBlocked) << res.ranks[r];
      EXPECT_EQ(res.ranks[r].pending,
                "broadcast(group=world, seq=3, dtype=Float, root=0, sizes=[4])");
    }
  }
}

TEST(FiberWorld, ARankThatSuspendsInsideACatchBlockFails) {
  WorldResult res = run_world(world_options(2), [&](RankEnv& env) {
    try {
      throw std::runtime_error("inner");
    } catch (const std::exception&) {
      env.comm().barrier();
    }
  });
  EXPECT_EQ(res.status, WorldResult::Status::kError) << res;
  for (const RankReport& rep : res.ranks) {
    EXPECT_EQ(rep.status, RankReport::Status::kError) << rep;
    EXPECT_NE(rep.error.find("inside a catch block"), std::string::npos) << rep;
  }
}

TEST(FiberWorld, ExceptionsOfEveryKindBecomeRankErrors) {
  WorldResult res = run_world(world_options(3), [&](RankEnv& env) {
    if (env.rank() == 0) throw 42;
    if (env.rank() == 1) throw InvalidArgument("bad input on one");
    at::ones({2}).view({3});  // an ATen error (c10::Error)
  });
  ASSERT_EQ(res.status, WorldResult::Status::kError) << res;
  EXPECT_NE(res.ranks[0].error.find("not derived from std::exception"), std::string::npos);
  EXPECT_EQ(res.ranks[1].error, "bad input on one");
  EXPECT_NE(res.ranks[2].error.find("shape '[3]' is invalid"), std::string::npos)
      << res.ranks[2].error;
  EXPECT_EQ(res.ranks[2].error.find("frame #"), std::string::npos) << "no backtrace expected";
}

TEST(FiberWorld, RecordsReadableTraceLinesOnRequest) {
  WorldOptions o = world_options(2);
  o.record_trace = true;
  WorldResult res = run_world(o, [&](RankEnv& env) { env.comm().barrier(); });
  ASSERT_TRUE(res.ok()) << res;
  ASSERT_FALSE(res.trace.empty());
  int arrivals = 0;
  for (const std::string& line : res.trace) {
    if (line.find("arrive barrier(group=world, seq=1)") != std::string::npos) ++arrivals;
  }
  EXPECT_EQ(arrivals, 2);
  EXPECT_EQ(run_world(world_options(2), [&](RankEnv& env) { env.comm().barrier(); }).trace.size(),
            0u);
}

// A body with enough collectives that the schedule shows in the trace.
void gather_and_reduce(RankEnv& env, std::vector<double>* sums) {
  at::Tensor t = at::full({3}, double(env.rank() + 1), at::kDouble);
  for (int i = 0; i < 4; ++i) env.comm().all_reduce_sum(t);
  (*sums)[env.rank()] = t.sum().item<double>();
}

TEST(FiberWorld, WorldsRunOneAfterTheOtherAndSideBySide) {
  const int64_t n = 6;
  std::vector<double> s1(n), s2(n), s3(n), s4(n);
  const WorldResult a =
      run_world(world_options(n, 11), [&](RankEnv& e) { gather_and_reduce(e, &s1); });
  const WorldResult b =
      run_world(world_options(n, 12), [&](RankEnv& e) { gather_and_reduce(e, &s2); });
  ASSERT_TRUE(a.ok()) << a;
  ASSERT_TRUE(b.ok()) << b;
  WorldResult c, d;
  std::thread t1(
      [&] { c = run_world(world_options(n, 11), [&](RankEnv& e) { gather_and_reduce(e, &s3); }); });
  std::thread t2(
      [&] { d = run_world(world_options(n, 12), [&](RankEnv& e) { gather_and_reduce(e, &s4); }); });
  t1.join();
  t2.join();
  ASSERT_TRUE(c.ok()) << c;
  ASSERT_TRUE(d.ok()) << d;
  EXPECT_EQ(a.trace_digest, c.trace_digest);
  EXPECT_EQ(b.trace_digest, d.trace_digest);
  EXPECT_NE(a.trace_digest, b.trace_digest);
  // Every element: 1+...+6 = 21 after one round, then x6 per round: 21*6^3 = 4536.
  for (int64_t r = 0; r < n; ++r) {
    EXPECT_EQ(s1[r], 3 * 4536.0);
    EXPECT_EQ(s1[r], s3[r]);
    EXPECT_EQ(s2[r], s4[r]);
    EXPECT_EQ(s1[r], s2[r]);
  }
}

// Uses about `depth` KiB of stack.
int deep(int depth) {
  volatile char frame[1024];
  frame[0] = static_cast<char>(depth);
  return depth == 0 ? frame[0] : deep(depth - 1) + frame[0];
}

TEST(FiberWorldDeathTest, AStackOverflowHitsTheGuardPage) {
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  WorldOptions o = world_options(2);
  o.stacks = StackKind::kProtected;
  o.stack_bytes = 32 * 1024;
  EXPECT_DEATH(run_world(o, [](RankEnv& env) { deep(256 + env.rank()); }), "");
}

TEST(FiberWorld, RejectsOptionsOutOfRange) {
  WorldOptions o = world_options(0);
  EXPECT_THROW(FiberWorld{o}, InvalidArgument);
  o = world_options(2);
  o.stack_bytes = 8 * 1024;
  EXPECT_THROW(FiberWorld{o}, InvalidArgument);
  o = world_options(2);
  o.ranks_per_host = 0;
  EXPECT_THROW(FiberWorld{o}, InvalidArgument);
  o = world_options(kMaxProtectedRanks + 1);
  o.stacks = StackKind::kProtected;
  EXPECT_THROW(FiberWorld{o}, InvalidArgument);
}

}  // namespace
}  // namespace sim
}  // namespace shardsim
