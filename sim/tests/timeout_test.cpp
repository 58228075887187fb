// Collective timeouts in virtual time, and failures reported in event order.
#include <chrono>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "shardsim/core/error.h"
#include "shardsim/sim/fiber_world.h"
#include "world_test_util.h"

namespace shardsim {
namespace sim {
namespace {

using testing::world_options;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

void barrier_after_sleep(RankEnv& env, int64_t late_rank, int64_t ms) {
  if (env.rank() == late_rank) env.sleep_ms(ms);
  env.comm().barrier();
}

TEST(Timeout, ALateRankPastTheTimeoutIsATimeoutNamingItAndTheOperation) {
  WorldOptions o = world_options(4, 3);
  o.collective_timeout_ms = 1000;
  const auto start = std::chrono::steady_clock::now();
  const WorldResult res = run_world(o, [](RankEnv& env) { barrier_after_sleep(env, 2, 5000); });
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(res.status, WorldResult::Status::kTimeout) << res;
  EXPECT_EQ(res.virtual_ms, 1000) << "the world stops at the first deadline, in virtual time";
  EXPECT_LT(wall, 0.5) << "virtual time must not cost wall time";
  EXPECT_TRUE(contains(res.diagnosis, "timeout: rank ")) << res.diagnosis;
  EXPECT_TRUE(contains(res.diagnosis, "waited 1000 ms")) << res.diagnosis;
  EXPECT_TRUE(contains(res.diagnosis, "barrier(group=world, seq=1)")) << res.diagnosis;
  EXPECT_TRUE(contains(res.diagnosis, "late: rank 2 (sleeps until t=5000 ms)")) << res.diagnosis;
  EXPECT_EQ(res.ranks[2].status, RankReport::Status::kBlocked);
  EXPECT_EQ(res.ranks[2].pending, "sleep(until=5000 ms)");
  for (int64_t r : {0, 1, 3}) {
    EXPECT_EQ(res.ranks[r].status, RankReport::Status::kBlocked) << res.ranks[r];
    EXPECT_EQ(res.ranks[r].pending, "barrier(group=world, seq=1)");
  }
}

TEST(Timeout, ArrivingExactlyAtTheDeadlineIsInTimeAndLateByOneIsNot) {
  WorldOptions o = world_options(3, 5);
  o.collective_timeout_ms = 1000;
  WorldResult res = run_world(o, [](RankEnv& env) { barrier_after_sleep(env, 1, 1000); });
  EXPECT_EQ(res.status, WorldResult::Status::kOk) << res;
  EXPECT_EQ(res.virtual_ms, 1000);
  res = run_world(o, [](RankEnv& env) { barrier_after_sleep(env, 1, 1001); });
  EXPECT_EQ(res.status, WorldResult::Status::kTimeout) << res;
  EXPECT_EQ(res.virtual_ms, 1000);
}

TEST(Timeout, WithoutATimeoutALateRankIsOnlyLate) {
  const WorldResult res =
      run_world(world_options(3, 5), [](RankEnv& env) { barrier_after_sleep(env, 1, 1000000); });
  EXPECT_EQ(res.status, WorldResult::Status::kOk) << res;
  EXPECT_EQ(res.virtual_ms, 1000000);
}

TEST(Timeout, TheDeadlineCountsFromEachWaitersArrival) {
  // Rank 0 arrives at t=0, rank 1 at t=600, rank 2 at t=1500 with a 1000 ms
  // timeout: rank 0's wait ends first, at t=1000, with rank 2 late.
  WorldOptions o = world_options(3, 9);
  o.collective_timeout_ms = 1000;
  const WorldResult res = run_world(o, [](RankEnv& env) {
    if (env.rank() == 1) env.sleep_ms(600);
    if (env.rank() == 2) env.sleep_ms(1500);
    env.comm().barrier();
  });
  ASSERT_EQ(res.status, WorldResult::Status::kTimeout) << res;
  EXPECT_EQ(res.virtual_ms, 1000);
  EXPECT_TRUE(contains(res.diagnosis, "timeout: rank 0 waited 1000 ms")) << res.diagnosis;
  EXPECT_TRUE(contains(res.diagnosis, "late: rank 2")) << res.diagnosis;
  EXPECT_FALSE(contains(res.diagnosis, "late: rank 1")) << res.diagnosis;
}

TEST(Timeout, ADeadlockIsReportedAtOnceEvenWithATimeout) {
  WorldOptions o = world_options(3, 2);
  o.collective_timeout_ms = 1000;
  const WorldResult res = run_world(o, [](RankEnv& env) {
    if (env.rank() == 1) return;
    env.comm().barrier();
  });
  EXPECT_EQ(res.status, WorldResult::Status::kDeadlock) << res;
  EXPECT_EQ(res.virtual_ms, 0);
}

TEST(Timeout, SameSeedSameDiagnosisAndTrace) {
  WorldOptions o = world_options(6, 17);
  o.collective_timeout_ms = 250;
  const auto body = [](RankEnv& env) {
    for (int64_t i = 0; i < 3; ++i) {
      env.sleep_ms((env.rank() * 37 + i * 11) % 100);
      env.comm().barrier();
    }
    barrier_after_sleep(env, 4, 400);
  };
  const WorldResult a = run_world(o, body);
  const WorldResult b = run_world(o, body);
  ASSERT_EQ(a.status, WorldResult::Status::kTimeout) << a;
  EXPECT_EQ(a.diagnosis, b.diagnosis);
  EXPECT_EQ(a.trace_digest, b.trace_digest);
  EXPECT_EQ(a.virtual_ms, b.virtual_ms);
}

TEST(Timeout, NegativeTimeoutIsRejected) {
  WorldOptions o = world_options(2);
  o.collective_timeout_ms = -1;
  EXPECT_THROW(FiberWorld{o}, InvalidArgument);
}

TEST(FailureOrder, FailuresAreListedInTheOrderTheyHappened) {
  // Rank 3 fails at t=0, rank 1 at t=50 (virtual): the report and
  // failure_order lead with rank 3, not with the lower rank.
  const WorldResult res = run_world(world_options(4, 1), [](RankEnv& env) {
    if (env.rank() == 1) {
      env.sleep_ms(50);
      throw std::runtime_error("second");
    }
    if (env.rank() == 3) throw std::runtime_error("first");
    env.comm().barrier();
  });
  ASSERT_EQ(res.status, WorldResult::Status::kError) << res;
  ASSERT_EQ(res.failure_order, (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(res.diagnosis.rfind("rank 3 failed: first\nrank 1 failed: second\n", 0), 0u)
      << res.diagnosis;
}

}  // namespace
}  // namespace sim
}  // namespace shardsim
