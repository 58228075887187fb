// Diagnosis on fibers: deadlocks, collective mismatches and failing ranks are
// found at once (no timeout) and reported naming ranks and fingerprints.
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "shardsim/sim/fiber_world.h"
#include "world_test_util.h"

namespace shardsim {
namespace sim {
namespace {

using testing::world_options;

// Runs the world and checks it took well under a second of wall time.
WorldResult run_timed(const WorldOptions& o, const std::function<void(RankEnv&)>& body) {
  const auto start = std::chrono::steady_clock::now();
  WorldResult res = run_world(o, body);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(s, 0.5) << "diagnosis took " << s << " s";
  return res;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

void all_gather_one(RankEnv& env) {
  std::vector<int64_t> counts(env.world_size(), 1);
  env.comm().all_gather(at::zeros({1}), counts, [](int64_t, const at::Tensor&) {});
}

TEST(Diagnosis, EarlyReturnIsADeadlockNamingTheRankAndWhatOthersWaitFor) {
  for (uint64_t seed : {1, 2, 3}) {
    WorldResult res = run_timed(world_options(4, seed), [&](RankEnv& env) {
      if (env.rank() == 2) return;
      all_gather_one(env);
    });
    ASSERT_EQ(res.status, WorldResult::Status::kDeadlock) << res;
    const std::string fp = "all_gather(group=world, seq=1, dtype=Float, sizes=[1,1,1,1])";
    EXPECT_TRUE(contains(res.diagnosis, "deadlock")) << res.diagnosis;
    EXPECT_TRUE(contains(res.diagnosis, "rank 2: finished")) << res.diagnosis;
    EXPECT_TRUE(contains(res.diagnosis,
                         "ranks 0-1,3: waits in " + fp + " (3 of 4 joined; missing: rank 2)"))
        << res.diagnosis;
    EXPECT_EQ(res.ranks[2].status, RankReport::Status::kFinished);
    for (int64_t r : {0, 1, 3}) {
      EXPECT_EQ(res.ranks[r].status, RankReport::Status::kBlocked) << res.ranks[r];
      EXPECT_EQ(res.ranks[r].pending, fp);
    }
  }
}

TEST(Diagnosis, EarlyReturnLaterInTheProgramNamesTheSequenceNumber) {
  WorldResult res = run_timed(world_options(3, 8), [&](RankEnv& env) {
    env.comm().barrier();
    if (env.rank() == 0) return;
    env.comm().barrier();
  });
  ASSERT_EQ(res.status, WorldResult::Status::kDeadlock) << res;
  EXPECT_TRUE(contains(res.diagnosis, "rank 0: finished")) << res.diagnosis;
  EXPECT_TRUE(contains(res.diagnosis,
                       "ranks 1-2: waits in barrier(group=world, seq=2) (2 of 3 joined; missing: "
                       "rank 0)"))
      << res.diagnosis;
}

TEST(Diagnosis, ADeadlockAcrossGroupsListsEveryPendingOperation) {
  WorldResult res = run_timed(world_options(3, 4), [&](RankEnv& env) {
    if (env.rank() == 0) {
      env.comm().subgroup({0, 1})->barrier();
    } else {
      env.comm().barrier();
    }
  });
  ASSERT_EQ(res.status, WorldResult::Status::kDeadlock) << res;
  EXPECT_TRUE(contains(res.diagnosis,
                       "rank 0: waits in barrier(group=[0,1], seq=1) (1 of 2 joined; missing: "
                       "rank 1)"))
      << res.diagnosis;
  EXPECT_TRUE(contains(res.diagnosis,
                       "ranks 1-2: waits in barrier(group=world, seq=1) (2 of 3 joined; missing: "
                       "rank 0)"))
      << res.diagnosis;
}

TEST(Diagnosis, ManyRanksReadAsFewLines) {
  WorldResult res = run_timed(world_options(256, 6), [&](RankEnv& env) {
    if (env.rank() == 17) return;
    env.comm().barrier();
  });
  ASSERT_EQ(res.status, WorldResult::Status::kDeadlock) << res;
  EXPECT_TRUE(contains(res.diagnosis,
                       "ranks 0-16,18-255: waits in barrier(group=world, seq=1) "
                       "(255 of 256 joined; missing: rank 17)"))
      << res.diagnosis;
  EXPECT_TRUE(contains(res.diagnosis, "rank 17: finished")) << res.diagnosis;
}

// Runs a 2-rank world where rank 1 does `odd` and rank 0 does `even`, and
// expects a mismatch naming both fingerprints.
void expect_mismatch(const std::function<void(RankEnv&)>& even,
                     const std::function<void(RankEnv&)>& odd, const std::string& fp0,
                     const std::string& fp1) {
  for (uint64_t seed : {1, 2, 3, 4}) {
    WorldResult res = run_timed(world_options(2, seed), [&](RankEnv& env) {
      if (env.rank() == 0) {
        even(env);
      } else {
        odd(env);
      }
    });
    ASSERT_EQ(res.status, WorldResult::Status::kMismatch) << res;
    EXPECT_TRUE(contains(res.diagnosis, "collective mismatch in group world at seq 1"))
        << res.diagnosis;
    EXPECT_TRUE(contains(res.diagnosis, "rank 0: " + fp0)) << res.diagnosis;
    EXPECT_TRUE(contains(res.diagnosis, "rank 1: " + fp1)) << res.diagnosis;
    EXPECT_EQ(res.ranks[0].pending, fp0) << res.ranks[0];
    EXPECT_EQ(res.ranks[1].pending, fp1) << res.ranks[1];
    EXPECT_EQ(res.ranks[0].status, RankReport::Status::kBlocked);
    EXPECT_EQ(res.ranks[1].status, RankReport::Status::kBlocked);
  }
}

TEST(Diagnosis, DifferentOpsAreAMismatch) {
  expect_mismatch([](RankEnv& env) { all_gather_one(env); },
                  [](RankEnv& env) {
                    at::Tensor t = at::zeros({2});
                    env.comm().broadcast(t, 0);
                  },
                  "all_gather(group=world, seq=1, dtype=Float, sizes=[1,1])",
                  "broadcast(group=world, seq=1, dtype=Float, root=0, sizes=[2])");
}

TEST(Diagnosis, DifferentAgreedSizesAreAMismatch) {
  expect_mismatch(
      [](RankEnv& env) {
        env.comm().all_gather(at::zeros({2}), {2, 2}, [](int64_t, const at::Tensor&) {});
      },
      [](RankEnv& env) {
        env.comm().all_gather(at::zeros({3}), {2, 3}, [](int64_t, const at::Tensor&) {});
      },
      "all_gather(group=world, seq=1, dtype=Float, sizes=[2,2])",
      "all_gather(group=world, seq=1, dtype=Float, sizes=[2,3])");
}

TEST(Diagnosis, DifferentDtypesAreAMismatch) {
  expect_mismatch(
      [](RankEnv& env) {
        at::Tensor t = at::zeros({4}, at::kFloat);
        env.comm().all_reduce_sum(t);
      },
      [](RankEnv& env) {
        at::Tensor t = at::zeros({4}, at::kDouble);
        env.comm().all_reduce_sum(t);
      },
      "all_reduce(group=world, seq=1, dtype=Float, sizes=[4])",
      "all_reduce(group=world, seq=1, dtype=Double, sizes=[4])");
}

TEST(Diagnosis, DifferentRootsAreAMismatch) {
  expect_mismatch(
      [](RankEnv& env) {
        std::string s = "a";
        env.comm().broadcast_bytes(s, 0);
      },
      [](RankEnv& env) {
        std::string s = "b";
        env.comm().broadcast_bytes(s, 1);
      },
      "broadcast_bytes(group=world, seq=1, root=0)", "broadcast_bytes(group=world, seq=1, root=1)");
}

TEST(Diagnosis, CollectivesInDifferentOrderAreAMismatch) {
  expect_mismatch(
      [](RankEnv& env) {
        env.comm().barrier();
        all_gather_one(env);
      },
      [](RankEnv& env) {
        all_gather_one(env);
        env.comm().barrier();
      },
      "barrier(group=world, seq=1)", "all_gather(group=world, seq=1, dtype=Float, sizes=[1,1])");
}

TEST(Diagnosis, AMismatchStopsTheWorldAtOnce) {
  // Ranks 0 and 1 disagree while rank 2 sleeps: the world stops without
  // advancing the clock, and rank 2 is reported asleep.
  WorldResult res = run_timed(world_options(3, 2), [&](RankEnv& env) {
    if (env.rank() == 2) {
      env.sleep_ms(1000);
      env.comm().barrier();
      return;
    }
    if (env.rank() == 0) env.comm().barrier();
    if (env.rank() == 1) all_gather_one(env);
  });
  ASSERT_EQ(res.status, WorldResult::Status::kMismatch) << res;
  EXPECT_EQ(res.virtual_ms, 0);
  EXPECT_EQ(res.ranks[2].status, RankReport::Status::kBlocked) << res.ranks[2];
  EXPECT_EQ(res.ranks[2].pending, "sleep(until=1000 ms)");
  EXPECT_TRUE(contains(res.diagnosis, "rank 2: sleeps until t=1000 ms")) << res.diagnosis;
}

TEST(Diagnosis, AThrowingRankIsAnErrorNamingItAndWhatPeersWaitFor) {
  for (uint64_t seed : {1, 2, 3}) {
    WorldResult res = run_timed(world_options(4, seed), [&](RankEnv& env) {
      if (env.rank() == 3) throw std::runtime_error("boom on three");
      env.comm().barrier();
    });
    ASSERT_EQ(res.status, WorldResult::Status::kError) << res;
    EXPECT_TRUE(contains(res.diagnosis, "rank 3 failed: boom on three")) << res.diagnosis;
    EXPECT_TRUE(contains(res.diagnosis,
                         "ranks 0-2: waits in barrier(group=world, seq=1) (3 of 4 joined; "
                         "missing: rank 3)"))
        << res.diagnosis;
    EXPECT_EQ(res.ranks[3].status, RankReport::Status::kError);
    EXPECT_EQ(res.ranks[3].error, "boom on three");
    for (int64_t r = 0; r < 3; ++r) {
      EXPECT_EQ(res.ranks[r].status, RankReport::Status::kBlocked);
      EXPECT_EQ(res.ranks[r].pending, "barrier(group=world, seq=1)");
    }
  }
}

TEST(Diagnosis, AThrowingRankWhosePeersFinishIsStillAnError) {
  WorldResult res = run_timed(world_options(3, 1), [&](RankEnv& env) {
    if (env.rank() == 1) throw std::logic_error("late failure");
  });
  ASSERT_EQ(res.status, WorldResult::Status::kError) << res;
  EXPECT_TRUE(contains(res.diagnosis, "rank 1 failed: late failure")) << res.diagnosis;
  EXPECT_TRUE(contains(res.diagnosis, "ranks 0,2: finished")) << res.diagnosis;
  EXPECT_EQ(res.ranks[0].status, RankReport::Status::kFinished);
}

TEST(Diagnosis, AFailingSinkLeavesPeersAbleToFinish) {
  // Rank 0's sink throws after the rendezvous; rank 1 still reads rank 0's
  // piece (snapshotted as rank 0 left) and finishes.
  std::vector<float> got(2, -1);
  WorldResult res = run_timed(world_options(2, 3), [&](RankEnv& env) {
    at::Tensor mine = at::full({1}, float(env.rank() + 10));
    env.comm().all_gather(mine, {1, 1}, [&](int64_t src, const at::Tensor& piece) {
      if (env.rank() == 0) throw std::runtime_error("sink failed");
      if (src == 0) got[env.rank()] = piece.item<float>();
    });
    mine.fill_(-1);
  });
  ASSERT_EQ(res.status, WorldResult::Status::kError) << res;
  EXPECT_EQ(res.ranks[0].error, "sink failed");
  EXPECT_EQ(res.ranks[1].status, RankReport::Status::kFinished);
  EXPECT_EQ(got[1], 10.0f);
}

}  // namespace
}  // namespace sim
}  // namespace shardsim
