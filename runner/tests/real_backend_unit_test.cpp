// The pure parts of the real backends: rank notes, rank 0's decision, the
// launcher's line protocol and the test kill variable. No processes.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include "c10d_backend.h"
#include "c10d_backend_faults.h"
#include "launcher_process.h"
#include "launcher_protocol.h"
#include "shardsim/core/digest.h"
#include "shardsim/core/error.h"

namespace shardsim::runner {
namespace {

using real::decide;
using real::RankNote;

RankNote passed(uint64_t values) {
  RankNote n;
  n.run.values = values;
  return n;
}

RankNote failed(const std::string& message, bool assertion) {
  RankNote n;
  n.run.ok = false;
  n.run.assertion = assertion;
  n.run.message = message;
  return n;
}

RankNote echo(const std::string& message) {
  RankNote n = failed(message, false);
  n.echo = true;
  return n;
}

TEST(RankNote, RoundTripsEveryField) {
  RankNote n = failed("rank 2: list.3: 0.25 vs 0.5\nsecond line \"quoted\"", true);
  n.run.values = 0xfedcba9876543210ULL;
  n.run.crashed = true;
  n.comm = true;
  n.fault_fired = {true, false};
  n.fault_lines = {"crash:rank=2,collective=1 (fired at ...)", "delay:rank=1 (did not fire)"};
  EXPECT_EQ(real::decode_note(real::encode_note(n)), n);
  EXPECT_EQ(real::decode_note(real::encode_note(passed(7))), passed(7));
  EXPECT_THROW(real::decode_note("not json"), Error);
  EXPECT_THROW(real::decode_note("{\"ok\": true}"), Error);
}

TEST(Decide, EveryRankPassedGivesTheValuesOfEveryRankInOrder) {
  const auto w = decide({passed(1), passed(2), passed(3)}, 0.1);
  EXPECT_EQ(w.outcome, Outcome::kPassed);
  EXPECT_FALSE(w.any_failed);
  EXPECT_TRUE(w.missing.empty());
  // The same digest combine_values gives, built here by hand.
  Digest d;
  d.update_u64(3);
  for (uint64_t v : {1, 2, 3}) d.update_u64(v);
  EXPECT_EQ(w.values, d.hex());
  EXPECT_NE(decide({passed(2), passed(1), passed(3)}, 0.1).values, w.values);
}

TEST(Decide, AnAssertionIsTheRootCauseNotItsEchoes) {
  const auto w = decide({echo("rank 0: abandoned because rank 1 aborted"),
                         failed("rank 1: x: 1 vs 2", true), echo("rank 2: abandoned")},
                        0.1);
  EXPECT_EQ(w.outcome, Outcome::kFailed);
  EXPECT_EQ(w.reason, "rank 1: x: 1 vs 2");
  EXPECT_EQ(w.values, "-");
  EXPECT_TRUE(w.any_failed);
}

TEST(Decide, AnInjectedCrashOutranksAnAssertion) {
  RankNote crash = failed("rank 2: injected crash", false);
  crash.run.crashed = true;
  const auto w = decide({failed("rank 0: x", true), passed(1), crash}, 0.1);
  EXPECT_EQ(w.outcome, Outcome::kCrash);
  EXPECT_EQ(w.reason, "rank 0: x\nrank 2: injected crash");
}

TEST(Decide, ARankThatLeftEarlyWithOnlyEchoesIsADeadlock) {
  RankNote left = passed(0);
  left.run.exited = true;
  left.run.message = "rank 1: injected exit";
  const auto w = decide({echo("rank 0: abandoned"), left, echo("rank 2: abandoned")}, 0.1);
  EXPECT_EQ(w.outcome, Outcome::kDeadlock);
  EXPECT_EQ(w.reason, "rank 1: injected exit\nrank 0: abandoned");
  EXPECT_TRUE(w.any_failed);
}

TEST(Decide, MissingRanksAreATimeoutNamingThem) {
  RankNote late = failed("rank 0: gloo all_gather #2 failed: Timed out waiting 3000ms", false);
  late.comm = true;
  const auto w = decide({late, std::nullopt, std::nullopt}, 2.04);
  EXPECT_EQ(w.outcome, Outcome::kTimeout);
  EXPECT_EQ(w.missing, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(w.reason.substr(0, w.reason.find('\n')),
            "ranks 1, 2 did not report their results within 2.0 s (dead or stuck)");
  const auto one = decide({passed(1), std::nullopt}, 1);
  EXPECT_EQ(one.outcome, Outcome::kTimeout);
  EXPECT_EQ(one.reason, "rank 1 did not report its result within 1.0 s (dead or stuck)");
}

TEST(Decide, ACommTimeoutIsATimeoutAndOtherErrorsAreErrors) {
  RankNote late = failed("rank 1: no result within the timeout of 3000 ms", false);
  late.comm = true;
  EXPECT_EQ(decide({passed(1), late}, 0.1).outcome, Outcome::kTimeout);
  EXPECT_EQ(decide({passed(1), failed("rank 1: bad alloc", false)}, 0.1).outcome, Outcome::kError);
}

TEST(Decide, AFaultLineComesFromARankItFiredOn) {
  RankNote a = passed(1), b = passed(2);
  a.fault_fired = {false, false};
  a.fault_lines = {"f0 (did not fire)", "f1 (did not fire)"};
  b.fault_fired = {true, false};
  b.fault_lines = {"f0 (fired at x)", "f1 (did not fire)"};
  const auto w = decide({a, b}, 0.1);
  EXPECT_EQ(w.injected, (std::vector<std::string>{"f0 (fired at x)", "f1 (did not fire)"}));
  EXPECT_EQ(w.fired, (std::vector<size_t>{0}));
}

TEST(LauncherProtocol, LinesRoundTrip) {
  EXPECT_EQ(launcher::parse_line(launcher::begin_line(12)).index, 12u);
  EXPECT_EQ(launcher::parse_line(launcher::begin_line(12)).kind, launcher::Message::Kind::kBegin);
  RunResult r;
  r.outcome = Outcome::kTimeout;
  r.reason = "line one\nline \"two\"";
  r.values = "0123456789abcdef";
  r.seconds = 1.25;
  r.injected = {"delay:rank=2,collective=2,ms=20000 (did not fire)"};
  r.fired = {parse_fault("crash:rank=1,collective=2")};
  const std::string line = launcher::result_line(3, r);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const launcher::Message m = launcher::parse_line(line);
  EXPECT_EQ(m.kind, launcher::Message::Kind::kResult);
  EXPECT_EQ(m.index, 3u);
  EXPECT_EQ(m.result.outcome, Outcome::kTimeout);
  EXPECT_EQ(m.result.reason, r.reason);
  EXPECT_EQ(m.result.values, r.values);
  EXPECT_DOUBLE_EQ(m.result.seconds, 1.25);
  EXPECT_EQ(m.result.injected, r.injected);
  EXPECT_EQ(m.result.fired, r.fired);
  EXPECT_EQ(launcher::parse_line(launcher::stop_line("rank 2\ngone")).why, "rank 2\ngone");
  EXPECT_EQ(launcher::parse_line(launcher::done_line()).kind, launcher::Message::Kind::kDone);
  EXPECT_THROW(launcher::parse_line("hello"), Error);
  EXPECT_THROW(launcher::parse_line("result 1 {"), Error);
}

TEST(LauncherProcess, DescribesHowAWorkerEnded) {
  EXPECT_EQ(launcher::describe_status(9), "was killed by signal 9 (SIGKILL)");  // raw wait status
  EXPECT_EQ(launcher::describe_status(1 << 8), "exited with status 1");
  EXPECT_TRUE(launcher::clean_exit(0));
  EXPECT_FALSE(launcher::clean_exit(1 << 8));
  EXPECT_TRUE(launcher::stopped_exit(launcher::kStoppedExit << 8));
  EXPECT_FALSE(launcher::stopped_exit(9));
}

TEST(TestKill, ParsesAndRejects) {
  const real::TestKill k = real::parse_test_kill("rank=1,collective=3,spec=6");
  EXPECT_EQ(k.rank, 1);
  EXPECT_EQ(k.collective, 3);
  ASSERT_TRUE(k.spec.has_value());
  EXPECT_EQ(*k.spec, 6u);
  const real::TestKill d = real::parse_test_kill("rank=0");
  EXPECT_EQ(d.collective, 1);
  EXPECT_FALSE(d.spec.has_value());
  for (const char* bad : {"", "collective=2", "rank=-1", "rank=1,collective=0", "rank=x",
                          "rank=1,when=now", "rank"}) {
    EXPECT_THROW(real::parse_test_kill(bad), InvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace shardsim::runner
