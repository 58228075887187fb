// Determinism: the schedule seed fixes the trace digest byte for byte and
// changes it when it changes; the values ranks compute depend on the data
// seed alone.
#include <set>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "shardsim/core/mesh.h"
#include "shardsim/core/random.h"
#include "shardsim/sim/fiber_world.h"
#include "world_test_util.h"

namespace shardsim {
namespace sim {
namespace {

using testing::bit_equal;
using testing::world_options;

constexpr int64_t kRanks = 6;

// A program with every kind of collective, sub-groups, sleeps and yields;
// each rank's results go to `out[rank]` and to its values digest.
void program(RankEnv& env, std::vector<std::vector<at::Tensor>>* out) {
  const int64_t r = env.rank(), n = env.world_size();
  std::vector<at::Tensor>& mine = (*out)[r];
  const DeviceMesh mesh(c10::kCPU, {2, n / 2});
  at::Tensor x = random_tensor(env.data(), {4}, at::kFloat);
  std::vector<int64_t> counts(n);
  for (int64_t k = 0; k < n; ++k) counts[k] = k % 3;
  at::Tensor piece = random_tensor(env.data(), {counts[r]}, at::kFloat);
  std::vector<at::Tensor> gathered(n);
  env.comm().all_gather(piece, counts,
                        [&](int64_t src, const at::Tensor& p) { gathered[src] = p.clone(); });
  mine.push_back(at::cat(gathered));
  if (r % 2) env.sleep_ms(r);
  env.comm().all_reduce_sum(x);
  mine.push_back(x.clone());
  std::shared_ptr<Comm> row = env.comm().mesh_group(mesh, 1);
  at::Tensor y = random_tensor(env.data(), {3}, at::kDouble);
  row->all_reduce_sum(y);
  mine.push_back(y);
  env.yield();
  at::Tensor shared = random_tensor(env.shared(), {2}, at::kFloat);
  at::Tensor b = r == 1 ? shared : at::zeros({2});
  env.comm().broadcast(b, 1);
  mine.push_back(b);
  std::shared_ptr<Comm> col = env.comm().mesh_group(mesh, 0);
  std::vector<at::Tensor> ins;
  if (col->rank() == 0)
    ins = {at::full({1}, double(r), at::kDouble), at::full({1}, double(r + 100), at::kDouble)};
  at::Tensor s = at::empty({1}, at::kDouble);
  col->scatter(s, ins, {1, 1}, 0);
  mine.push_back(s);
  env.comm().barrier();
  for (const at::Tensor& t : mine) env.values().update_tensor(t);
}

struct ProgramRun {
  WorldResult result;
  std::vector<std::vector<at::Tensor>> values;
};

ProgramRun run_program(uint64_t schedule_seed, uint64_t data_seed) {
  ProgramRun run;
  run.values.resize(kRanks);
  run.result = run_world(world_options(kRanks, schedule_seed, data_seed),
                         [&](RankEnv& env) { program(env, &run.values); });
  return run;
}

void expect_same_values(const ProgramRun& a, const ProgramRun& b) {
  for (int64_t r = 0; r < kRanks; ++r) {
    ASSERT_EQ(a.values[r].size(), b.values[r].size());
    for (size_t i = 0; i < a.values[r].size(); ++i) {
      EXPECT_TRUE(bit_equal(a.values[r][i], b.values[r][i])) << "rank " << r << " value " << i;
    }
  }
}

TEST(Determinism, SameScheduleSeedGivesTheSameTraceByteForByte) {
  WorldOptions o = world_options(kRanks, 42, 7);
  o.record_trace = true;
  std::vector<std::vector<at::Tensor>> v1(kRanks), v2(kRanks);
  const WorldResult a = run_world(o, [&](RankEnv& env) { program(env, &v1); });
  const WorldResult b = run_world(o, [&](RankEnv& env) { program(env, &v2); });
  ASSERT_TRUE(a.ok()) << a;
  ASSERT_TRUE(b.ok()) << b;
  EXPECT_EQ(a.trace_digest, b.trace_digest);
  EXPECT_EQ(a.values_digest, b.values_digest);
  EXPECT_EQ(a.events, b.events);
  EXPECT_EQ(a.trace, b.trace);
  EXPECT_EQ(a.summary(), b.summary());
  EXPECT_EQ(a.virtual_ms, kRanks - 1);  // the longest sleep
}

TEST(Determinism, ScheduleSeedsChangeTheTraceButNotTheValues) {
  const ProgramRun first = run_program(1, 5);
  ASSERT_TRUE(first.result.ok()) << first.result;
  std::set<std::string> digests = {first.result.trace_digest};
  for (uint64_t seed = 2; seed <= 8; ++seed) {
    const ProgramRun other = run_program(seed, 5);
    ASSERT_TRUE(other.result.ok()) << other.result;
    digests.insert(other.result.trace_digest);
    EXPECT_EQ(other.result.values_digest, first.result.values_digest) << "seed " << seed;
    expect_same_values(first, other);
  }
  EXPECT_EQ(digests.size(), 8u) << "every schedule seed gives its own interleaving";
}

TEST(Determinism, TheDataSeedChangesValuesButNotTheSchedule) {
  const ProgramRun a = run_program(3, 1);
  const ProgramRun b = run_program(3, 2);
  ASSERT_TRUE(a.result.ok()) << a.result;
  ASSERT_TRUE(b.result.ok()) << b.result;
  EXPECT_EQ(a.result.trace_digest, b.result.trace_digest);
  EXPECT_NE(a.result.values_digest, b.result.values_digest);
  EXPECT_FALSE(bit_equal(a.values[0][1], b.values[0][1]));
}

TEST(Determinism, TheScheduleSeedReachesTheOrderInWhichRanksRun) {
  // With no collectives at all, the order ranks start in is the scheduler's.
  std::set<std::vector<int64_t>> orders;
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    std::vector<int64_t> order;
    const WorldResult res =
        run_world(world_options(5, seed), [&](RankEnv& env) { order.push_back(env.rank()); });
    ASSERT_TRUE(res.ok()) << res;
    std::vector<int64_t> again;
    run_world(world_options(5, seed), [&](RankEnv& env) { again.push_back(env.rank()); });
    EXPECT_EQ(order, again) << "seed " << seed;
    orders.insert(order);
  }
  EXPECT_GE(orders.size(), 5u);
}

}  // namespace
}  // namespace sim
}  // namespace shardsim
