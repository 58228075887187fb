// Fault injection on fibers, through the runner: each fault kind's diagnosis
// on the seed scenarios, the root-cause rules, determinism of faulted runs,
// buggify reproducibility, and that no fault leaks a resource.
#include <dirent.h>

#include <chrono>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "shardsim/core/host_memory.h"
#include "shardsim/core/state_dict_utils.h"
#include "shardsim/runner/run.h"
#include "shardsim/runner/scenario.h"
#include "shardsim/runner/suite.h"
#include "shardsim/sim/accelerator.h"
#include "shardsim/scenarios/builtin.h"
#include "shardsim/runner/fiber_backend.h"

namespace shardsim::scenarios {

using namespace shardsim::runner;
namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

RunSpec spec_for(const std::string& scenario, int64_t world, std::vector<std::string> faults,
                 c10::optional<Outcome> expect = c10::nullopt, uint64_t seed = 1) {
  RunSpec spec;
  spec.scenario = scenario;
  spec.world = world;
  spec.seed = seed;
  spec.faults = parse_faults(faults);
  spec.expect = expect;
  return spec;
}

RunResult run(const RunSpec& spec) {
  const Scenario* s = builtin_scenarios().find(spec.scenario);
  EXPECT_NE(s, nullptr) << spec.scenario;
  auto backend = make_fiber_backend();
  return run_spec(*s, spec, *backend);
}

RunResult run_scenario(const Scenario& s, const RunSpec& spec) {
  auto backend = make_fiber_backend();
  return run_spec(s, spec, *backend);
}

std::string all_text(const RunResult& r) { return format_result(r); }

TEST(FiberFaults, CrashIsACrashWithWhatItsPeersWaitFor) {
  const RunResult r =
      run(spec_for("gather_state_dict_dtensor", 4, {"crash:rank=1,collective=1"}, Outcome::kCrash));
  EXPECT_EQ(r.outcome, Outcome::kCrash) << all_text(r);
  EXPECT_EQ(r.verdict, RunResult::Verdict::kPass) << all_text(r);
  EXPECT_EQ(r.reason.rfind("rank 1 failed: rank 1: injected crash (crash:rank=1,collective=1) at "
                           "all_gather seq 1 on group world\n",
                           0),
            0u)
      << r.reason;
  EXPECT_TRUE(contains(r.reason, "ranks 0,2-3: waits in all_gather(group=world, seq=1"))
      << r.reason;
  EXPECT_TRUE(contains(r.reason, "missing: rank 1")) << r.reason;
  ASSERT_EQ(r.injected.size(), 1u);
  EXPECT_EQ(r.injected[0], "crash:rank=1,collective=1 (fired at all_gather seq 1 on group world)");
  EXPECT_TRUE(
      contains(all_text(r),
               "    injected: crash:rank=1,collective=1 (fired at all_gather seq 1 on group "
               "world)\n"))
      << all_text(r);
}

TEST(FiberFaults, EarlyExitIsTheDeadlockItCausesNamingTheRankThatLeft) {
  const RunResult r = run(spec_for("complicated_dict", 3, {"exit:rank=2,collective=2"}));
  EXPECT_EQ(r.outcome, Outcome::kDeadlock) << all_text(r);
  EXPECT_EQ(r.verdict, RunResult::Verdict::kFail) << "not expected, so a failure";
  EXPECT_TRUE(contains(r.reason, "rank 2: injected exit (exit:rank=2,collective=2): left before "))
      << r.reason;
  EXPECT_TRUE(contains(r.reason, "deadlock")) << r.reason;
  EXPECT_TRUE(contains(r.reason, "missing: rank 2")) << r.reason;
  EXPECT_TRUE(contains(r.reason, "rank 2: finished")) << r.reason;
}

TEST(FiberFaults, MismatchFieldsAreMismatchesNamingBothFingerprints) {
  for (const std::string field : {"kind", "shape", "dtype"}) {
    const RunResult r = run(
        spec_for("gather_state_dict_dtensor", 4, {"mismatch:rank=2,collective=1,field=" + field}));
    EXPECT_EQ(r.outcome, Outcome::kMismatch) << field << "\n" << all_text(r);
    EXPECT_TRUE(contains(r.reason, "collective mismatch in group world at seq 1")) << r.reason;
    EXPECT_EQ(r.fired.size(), 1u);
  }
  // A root needs a collective with a root: broadcast_state_dict's first is a byte broadcast.
  const RunResult root =
      run(spec_for("broadcast_state_dict", 4, {"mismatch:rank=3,collective=1,field=root"}));
  EXPECT_EQ(root.outcome, Outcome::kMismatch) << all_text(root);
  EXPECT_TRUE(contains(root.reason, "root=1")) << root.reason;
}

TEST(FiberFaults, DelayPastTheTimeoutIsATimeoutInVirtualTimeAndWithinItPasses) {
  RunSpec late = spec_for("gather_state_dict_dtensor", 4, {"delay:rank=3,collective=1,ms=5000"});
  late.timeout_s = 2;
  const auto start = std::chrono::steady_clock::now();
  const RunResult r = run(late);
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.outcome, Outcome::kTimeout) << all_text(r);
  EXPECT_TRUE(contains(r.reason, "waited 2000 ms")) << r.reason;
  EXPECT_TRUE(contains(r.reason, "in all_gather(group=world, seq=1")) << r.reason;
  EXPECT_TRUE(contains(r.reason, "late: rank 3 (sleeps until t=5000 ms)")) << r.reason;
  EXPECT_LT(wall, 2.0) << "virtual time, not wall time";

  RunSpec in_time = late;
  in_time.faults = {parse_fault("delay:rank=3,collective=1,ms=1999")};
  const RunResult ok = run(in_time);
  EXPECT_EQ(ok.outcome, Outcome::kPassed) << all_text(ok);
  EXPECT_EQ(ok.values, run(spec_for("gather_state_dict_dtensor", 4, {})).values)
      << "a delay changes no value";
}

TEST(FiberFaults, AllocationFailureIsAnErrorNamingTheAllocation) {
  const RunResult r = run(
      spec_for("create_cpu_state_dict", 2, {"alloc:kind=pinned,nth=2,rank=1"}, Outcome::kError));
  EXPECT_EQ(r.outcome, Outcome::kError) << all_text(r);
  EXPECT_EQ(r.verdict, RunResult::Verdict::kPass);
  EXPECT_TRUE(contains(r.reason,
                       "rank 1: injected fault alloc:kind=pinned,nth=2,rank=1: host "
                       "allocation 2 of kind pinned"))
      << r.reason;
}

TEST(FiberFaults, DivergenceFailsTheCheckAndVerificationNamesTheRank) {
  const RunResult plain =
      run(spec_for("state_dict_util_distribute_tensors", 4, {"diverge:rank=1"}));
  EXPECT_EQ(plain.outcome, Outcome::kFailed) << all_text(plain);

  const RunResult verified = run(spec_for("distribute_tensors_verified", 4, {"diverge:rank=1"}));
  EXPECT_EQ(verified.outcome, Outcome::kError) << all_text(verified);
  EXPECT_TRUE(contains(verified.reason,
                       "distribute_tensors(verify): the full tensor under 'even' differs across "
                       "ranks: ranks 0,2-3 hold digest "))
      << verified.reason;
  EXPECT_TRUE(contains(verified.reason, "; rank 1 holds digest ")) << verified.reason;

  const RunResult clean = run(spec_for("distribute_tensors_verified", 4, {}));
  EXPECT_EQ(clean.outcome, Outcome::kPassed) << all_text(clean);
}

TEST(FiberFaults, SkipPairsLaterCallsWrongly) {
  // gather_state_dict_dtensor makes one all-gather: rank 0 skips it and
  // finishes, its peers wait for it forever.
  const RunResult r = run(spec_for("gather_state_dict_dtensor", 3, {"skip:rank=0,collective=1"}));
  EXPECT_TRUE(r.outcome == Outcome::kDeadlock || r.outcome == Outcome::kFailed) << all_text(r);
  EXPECT_EQ(r.fired.size(), 1u);
}

// The first problem in event order decides, not the lowest rank or the last echo.
TEST(FiberFaults, TheFirstFailureInEventOrderIsTheOutcome) {
  Scenario s;
  s.name = "assert_then_crash";
  s.summary = "rank 2 fails an assertion at t=0; rank 0 crashes later";
  s.default_world = 3;
  s.body = [](ScenarioContext& ctx) {
    if (ctx.rank() == 2) ctx.check(false, "rank 2's own check");
    ctx.comm().barrier();
    ctx.comm().barrier();
  };
  // Rank 0 is delayed 10 ms before its first collective, then crashes there.
  RunSpec spec =
      spec_for(s.name, 3, {"delay:rank=0,collective=1,ms=10", "crash:rank=0,collective=1"});
  const RunResult r = run_scenario(s, spec);
  EXPECT_EQ(r.outcome, Outcome::kFailed) << all_text(r);
  EXPECT_EQ(r.reason.rfind("rank 2 failed: rank 2: rank 2's own check\n", 0), 0u) << r.reason;
}

TEST(FiberFaults, FaultedRunsAreDeterministic) {
  const std::vector<std::vector<std::string>> plans = {
      {"crash:rank=2,collective=3"},
      {"exit:rank=1,collective=2"},
      {"mismatch:rank=0,collective=2,field=shape"},
      {"jitter:p=50,max_ms=20", "delay:rank=1,collective=2,ms=400"},
      {"skip:rank=3,collective=1"}};
  for (const auto& faults : plans) {
    RunSpec spec = spec_for("complicated_dict", 4, faults, c10::nullopt, 3);
    spec.timeout_s = 0.3;
    const RunResult a = run(spec);
    const RunResult b = run(spec);
    EXPECT_EQ(a.outcome, b.outcome) << faults[0];
    EXPECT_EQ(a.reason, b.reason) << faults[0];
    EXPECT_EQ(a.trace, b.trace) << faults[0];
    EXPECT_EQ(a.injected, b.injected) << faults[0];
  }
}

TEST(FiberFaults, BuggifyIsReproducibleAndEveryOutcomeIsExplained) {
  int64_t faulted = 0;
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    RunSpec spec = spec_for("complicated_dict", 4, {}, c10::nullopt, seed);
    spec.buggify = true;
    spec.timeout_s = 1;
    const RunResult a = run(spec);
    const RunResult b = run(spec);
    EXPECT_EQ(a.verdict, RunResult::Verdict::kPass) << all_text(a);
    EXPECT_EQ(a.outcome, b.outcome);
    EXPECT_EQ(a.trace, b.trace);
    EXPECT_EQ(a.injected, b.injected);
    EXPECT_TRUE(contains(rerun_command(a), " --buggify")) << rerun_command(a);
    faulted += a.outcome != Outcome::kPassed;
  }
  EXPECT_GT(faulted, 0) << "some seed must switch on a harmful fault";
}

int64_t open_fds() {
  int64_t n = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  while (::readdir(dir) != nullptr) ++n;
  ::closedir(dir);
  return n;
}

TEST(FiberFaults, NoFaultLeaksMemoryLocksDescriptorsOrDeviceBytes) {
  // Baseline after one clean run (lazy one-time allocations happen there).
  run(spec_for("create_cpu_state_dict", 4, {}));
  const int64_t fds = open_fds();
  const int64_t locked = process_locked_bytes();
  const int64_t device = sim::simulated_bytes_in_use();
  struct Case {
    const char* scenario;
    const char* fault;
  };
  const Case cases[] = {
      {"create_cpu_state_dict", "crash:rank=1,collective=1"},
      {"create_cpu_state_dict", "exit:rank=2,collective=1"},
      {"create_cpu_state_dict", "alloc:kind=pinned,nth=3"},
      {"create_cpu_state_dict", "alloc:kind=shared,nth=2,rank=0"},
      {"create_cpu_state_dict", "alloc:kind=any,nth=7,rank=3"},
      {"create_cpu_state_dict", "mismatch:rank=3,collective=1,field=dtype"},
      {"create_cpu_state_dict", "skip:rank=0,collective=1"},
      {"cpu_offload_for_dtensor", "alloc:kind=plain,nth=1,rank=2"},
      {"complicated_dict", "crash:rank=3,collective=6"},
      {"complicated_dict", "delay:rank=0,collective=2,ms=200000"},
  };
  for (const Case& c : cases) {
    const RunResult r = run(spec_for(c.scenario, 4, {c.fault}));
    EXPECT_FALSE(r.fired.empty()) << c.scenario << " " << c.fault;
    EXPECT_NE(r.outcome, Outcome::kPassed) << c.scenario << " " << c.fault << "\n" << all_text(r);
    EXPECT_EQ(open_fds(), fds) << c.scenario << " " << c.fault;
    EXPECT_EQ(process_locked_bytes(), locked) << c.scenario << " " << c.fault;
    EXPECT_EQ(sim::simulated_bytes_in_use(), device) << c.scenario << " " << c.fault;
  }
}

TEST(FiberFaults, DiagnosisIsImmediate) {
  for (const char* f : {"crash:rank=5,collective=1", "exit:rank=5,collective=1",
                        "mismatch:rank=5,collective=1,field=kind"}) {
    const auto start = std::chrono::steady_clock::now();
    const RunResult r = run(spec_for("gather_state_dict_dtensor", 64, {f}));
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_NE(r.outcome, Outcome::kPassed) << f;
    EXPECT_LT(s, 2.0) << f << " took " << s << " s";
  }
}

TEST(Outcomes, ExplainedOutcomesFollowTheFiredKinds) {
  auto has = [](const std::vector<Outcome>& v, Outcome o) {
    return std::find(v.begin(), v.end(), o) != v.end();
  };
  EXPECT_EQ(explained_outcomes({}, 4), std::vector<Outcome>{Outcome::kPassed});
  const auto crash = explained_outcomes({parse_fault("crash:rank=0,collective=1")}, 4);
  EXPECT_EQ(crash, std::vector<Outcome>{Outcome::kCrash});
  const auto exit = explained_outcomes({parse_fault("exit:rank=0,collective=1")}, 4);
  EXPECT_TRUE(has(exit, Outcome::kDeadlock));
  EXPECT_FALSE(has(exit, Outcome::kPassed));
  const auto delay = explained_outcomes({parse_fault("delay:rank=0,collective=1,ms=5")}, 4);
  EXPECT_TRUE(has(delay, Outcome::kTimeout));
  EXPECT_TRUE(has(delay, Outcome::kPassed));
  EXPECT_FALSE(has(delay, Outcome::kFailed));
}

TEST(Outcomes, BadFaultsInASuiteNameTheirLine) {
  try {
    parse_suite("title = \"t\"\n[[test]]\nscenario = \"complicated_dict\"\nfaults = [\"crash:rank=1\"]\n",
                "faults.toml");
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_TRUE(contains(e.what(), "faults.toml:2: fault")) << e.what();
    EXPECT_TRUE(contains(e.what(), "fault 'crash:rank=1': missing key 'collective'")) << e.what();
  }
}

// A fault naming a rank outside the run's world is bad input, found when the
// suite is expanded: for a world the entry gives and for the scenario's
// default world alike (it would only "not fire").
TEST(Outcomes, FaultOutsideTheWorldIsRefused) {
  const Suite given = parse_suite(
      "title = \"t\"\n[[test]]\nscenario = \"complicated_dict\"\nworlds = [4]\n"
      "faults = [\"exit:rank=99,collective=1\"]\n",
      "faults.toml");
  try {
    expand_suite(given, builtin_scenarios(), RunOverrides{});
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_TRUE(contains(e.what(), "faults.toml:2")) << e.what();
    EXPECT_TRUE(contains(e.what(), "fault 'exit:rank=99,collective=1' names rank 99")) << e.what();
    EXPECT_TRUE(contains(e.what(), "scenario complicated_dict runs world 4")) << e.what();
  }
  const Scenario* s = builtin_scenarios().find("complicated_dict");
  ASSERT_NE(s, nullptr);
  const std::string rank = std::to_string(s->default_world);  // the first rank past the default world
  const Suite by_default = parse_suite(
      "title = \"t\"\n[[test]]\nscenario = \"complicated_dict\"\nfaults = [\"crash:rank=" + rank +
          ",collective=1\"]\n",
      "faults.toml");
  try {
    expand_suite(by_default, builtin_scenarios(), RunOverrides{});
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_TRUE(contains(e.what(), "names rank " + rank)) << e.what();
    EXPECT_TRUE(contains(e.what(), "runs world " + rank)) << e.what();
  }
  // The last rank of the world is in it.
  const Suite last = parse_suite(
      "title = \"t\"\n[[test]]\nscenario = \"complicated_dict\"\nworlds = [4]\n"
      "faults = [\"exit:rank=3,collective=1\"]\n",
      "faults.toml");
  EXPECT_EQ(expand_suite(last, builtin_scenarios(), RunOverrides{}).size(), 1u);
}

}  // namespace
}  // namespace shardsim::scenarios
