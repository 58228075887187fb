// The runner on fibers: verdicts, outcomes, digests and the result grammar.
#include <regex>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "shardsim/core/state_dict_utils.h"
#include "shardsim/runner/run.h"
#include "shardsim/runner/scenario.h"
#include "shardsim/scenarios/builtin.h"
#include "shardsim/runner/fiber_backend.h"

namespace shardsim::scenarios {

using namespace shardsim::runner;
namespace {

Scenario make(const std::string& name, std::function<void(ScenarioContext&)> body, int64_t min_world = 1) {
  Scenario s;
  s.name = name;
  s.summary = "test scenario";
  s.min_world = min_world;
  s.default_world = 4;
  s.body = std::move(body);
  return s;
}

RunSpec spec_for(const std::string& name, int64_t world, uint64_t seed = 1,
                 c10::optional<uint64_t> schedule = c10::nullopt) {
  RunSpec spec;
  spec.scenario = name;
  spec.world = world;
  spec.seed = seed;
  spec.schedule_seed = schedule;
  return spec;
}

// All-gathers every rank's random vector and records it: values depend on
// the data seed only, the trace on the schedule.
void gather_and_record(ScenarioContext& ctx) {
  const at::Tensor mine = random_tensor(ctx.data(), {5}, at::kFloat, ctx.device());
  const at::Tensor all = all_gather_cat(ctx.comm(), mine, 0, std::vector<int64_t>(ctx.world_size(), 5));
  std::vector<at::Tensor> expected;
  for (int64_t r = 0; r < ctx.world_size(); ++r) {
    Random rng = ctx.data_of(r);
    expected.push_back(random_tensor(rng, {5}, at::kFloat));
  }
  ctx.check_equal(all, at::cat(expected), "all");
  ctx.record("all", all);
}

TEST(Runner, PassLineFollowsTheGrammar) {
  auto backend = make_fiber_backend();
  const Scenario s = make("gather_and_record", gather_and_record);
  const RunResult r = run_spec(s, spec_for(s.name, 4), *backend);
  EXPECT_EQ(r.verdict, RunResult::Verdict::kPass) << format_result(r);
  const std::regex line(
      "PASS gather_and_record backend=fiber world=4 mesh=4 seed=1 schedule=1 "
      "trace=[0-9a-f]{16} values=[0-9a-f]{16} time=[0-9]+\\.[0-9]{3}\n");
  EXPECT_TRUE(std::regex_match(format_result(r), line)) << format_result(r);
}

TEST(Runner, SameSeedSameDigestsAndScheduleChangesOnlyTheTrace) {
  auto backend = make_fiber_backend();
  const Scenario s = make("gather_and_record", gather_and_record);
  const RunResult a = run_spec(s, spec_for(s.name, 5, 3), *backend);
  const RunResult b = run_spec(s, spec_for(s.name, 5, 3), *backend);
  EXPECT_EQ(a.trace, b.trace);
  EXPECT_EQ(a.values, b.values);
  std::set<std::string> traces{a.trace};
  for (uint64_t t = 10; t < 16; ++t) {
    const RunResult c = run_spec(s, spec_for(s.name, 5, 3, t), *backend);
    ASSERT_EQ(c.verdict, RunResult::Verdict::kPass) << format_result(c);
    EXPECT_EQ(c.values, a.values) << "schedule seed " << t;
    traces.insert(c.trace);
  }
  EXPECT_GE(traces.size(), 5u) << "schedule seeds should reorder a 5-rank all-gather";
  const RunResult other_data = run_spec(s, spec_for(s.name, 5, 4, 3), *backend);
  EXPECT_NE(other_data.values, a.values);
}

TEST(Runner, AssertionFailureIsFailedWithRankAndRerunCommand) {
  auto backend = make_fiber_backend();
  const Scenario s = make("fails_on_rank_1", [](ScenarioContext& ctx) {
    Mapping got{{"w", at::ones({3})}};
    Mapping want{{"w", ctx.rank() == 1 ? at::zeros({3}) : at::ones({3})}};
    ctx.check_equal(got, want, "");
    ctx.comm().barrier();
  });
  const RunResult r = run_spec(s, spec_for(s.name, 3, 7), *backend);
  EXPECT_EQ(r.verdict, RunResult::Verdict::kFail);
  EXPECT_EQ(r.outcome, Outcome::kFailed);
  const std::string text = format_result(r);
  EXPECT_NE(text.find("rank 1: w: element 0"), std::string::npos) << text;
  EXPECT_NE(text.find("rerun: shardsim run --scenario fails_on_rank_1 --backend fiber --world 3 --mesh 3 "
                     "--seed 7 --schedule-seed 7"),
            std::string::npos)
      << text;
}

TEST(Runner, OtherExceptionsAreErrorsAndEarlyReturnIsDeadlock) {
  auto backend = make_fiber_backend();
  const Scenario throws = make("throws", [](ScenarioContext& ctx) {
    if (ctx.rank() == 2) throw std::runtime_error("boom");
    ctx.comm().barrier();
  });
  RunResult r = run_spec(throws, spec_for(throws.name, 3), *backend);
  EXPECT_EQ(r.outcome, Outcome::kError) << format_result(r);
  EXPECT_NE(r.reason.find("boom"), std::string::npos) << r.reason;

  const Scenario leaves = make("leaves", [](ScenarioContext& ctx) {
    if (ctx.rank() == 1) return;
    ctx.comm().barrier();
  });
  r = run_spec(leaves, spec_for(leaves.name, 3), *backend);
  EXPECT_EQ(r.outcome, Outcome::kDeadlock) << format_result(r);
  EXPECT_NE(r.reason.find("rank 1"), std::string::npos) << r.reason;
}

TEST(Runner, ExpectMakesTheDiagnosisPass) {
  auto backend = make_fiber_backend();
  const Scenario leaves = make("leaves", [](ScenarioContext& ctx) {
    if (ctx.rank() == 0) return;
    ctx.comm().barrier();
  });
  RunSpec spec = spec_for(leaves.name, 2);
  spec.expect = Outcome::kDeadlock;
  EXPECT_EQ(run_spec(leaves, spec, *backend).verdict, RunResult::Verdict::kPass);
  spec.expect = Outcome::kMismatch;
  const RunResult r = run_spec(leaves, spec, *backend);
  EXPECT_EQ(r.verdict, RunResult::Verdict::kFail);
  EXPECT_NE(r.reason.find("expected outcome mismatch but got deadlock"), std::string::npos) << r.reason;
}

TEST(Runner, WorldsTheScenarioRejectsAreSkipped) {
  auto backend = make_fiber_backend();
  const Scenario s = make("needs_three", gather_and_record, 3);
  const RunResult r = run_spec(s, spec_for(s.name, 2), *backend);
  EXPECT_EQ(r.verdict, RunResult::Verdict::kSkip);
  EXPECT_NE(format_result(r).find("needs a world of at least 3 (got 2)"), std::string::npos);
  EXPECT_EQ(format_summary({r}), "0 passed, 0 failed, 1 skipped");
}

TEST(Runner, SeedScenariosPassAtUnevenWorlds) {
  auto backend = make_fiber_backend();
  for (const Scenario& s : builtin_scenarios().all()) {
    for (int64_t world : {3, 5, 7}) {
      const RunResult r = run_spec(s, spec_for(s.name, world, 11), *backend);
      EXPECT_NE(r.verdict, RunResult::Verdict::kFail) << format_result(r);
    }
  }
}

TEST(Glob, Matches) {
  EXPECT_TRUE(glob_match("gather_*", "gather_state_dict_dtensor"));
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("c?u_*", "cpu_and_ranks_only"));
  EXPECT_FALSE(glob_match("gather_*", "complicated_dict"));
  EXPECT_FALSE(glob_match("a*b", "acbd"));
  EXPECT_TRUE(glob_match("a*b*c", "aXXbYYc"));
}

}  // namespace
}  // namespace shardsim::scenarios
