// Runs the shardsim executable (SHARDSIM_CLI) with faults: --fault, --expect,
// --buggify, --time-limit and suite entries; exit statuses 0, 1 and 2 and the
// injected lines of the report.
#include <gtest/gtest.h>

#include "cli_test_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace cli_test = shardsim::cli_test;

namespace {

using Result = cli_test::CliRun;
using cli_test::contains;
using cli_test::run_shell;

// Runs `shardsim <args>` through the shell (args are shell words).
Result run(const std::string& args) { return cli_test::run_shardsim(args); }

std::string write_temp(const std::string& text) { return cli_test::write_temp_file(text); }

TEST(CliFaults, AnExpectedCrashPassesAndIsMarkedInjected) {
  const Result r =
      run("run --scenario gather_state_dict_dtensor --world 4 "
          "--fault crash:rank=1,collective=1 --expect crash");
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "PASS gather_state_dict_dtensor backend=fiber world=4")) << r.out;
  EXPECT_TRUE(contains(r.out, "    expected crash: rank 1 failed: rank 1: injected crash"))
      << r.out;
  EXPECT_TRUE(contains(r.out,
                       "    injected: crash:rank=1,collective=1 (fired at all_gather seq 1 "
                       "on group world)"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "1 passed, 0 failed")) << r.out;
}

TEST(CliFaults, AnUnexpectedFaultFailsWithARerunCommandThatReproducesIt) {
  const Result r =
      run("run --scenario complicated_dict --world 3 --fault exit:rank=2,collective=1 "
          "--fault skip:rank=0,collective=5");
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "FAIL complicated_dict")) << r.out;
  EXPECT_TRUE(contains(r.out,
                       "rerun: shardsim run --scenario complicated_dict --backend fiber "
                       "--world 3 --mesh 3 --seed 1 --schedule-seed 1 --fault "
                       "exit:rank=2,collective=1 --fault skip:rank=0,collective=5"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "injected: skip:rank=0,collective=5 (")) << r.out;
}

TEST(CliFaults, TimeoutFlagIsTheVirtualCollectiveTimeoutOnFibers) {
  const Result late =
      run("run --scenario gather_state_dict_dtensor --world 4 --timeout 1 "
          "--fault delay:rank=2,collective=1,ms=1500 --expect timeout");
  EXPECT_EQ(late.status, 0) << late.out << late.err;
  EXPECT_TRUE(contains(late.out, "late: rank 2 (sleeps until t=1500 ms)")) << late.out;
  EXPECT_LT(late.seconds, 10.0);
  const Result in_time =
      run("run --scenario gather_state_dict_dtensor --world 4 --timeout 2 "
          "--fault delay:rank=2,collective=1,ms=1500");
  EXPECT_EQ(in_time.status, 0) << in_time.out << in_time.err;
}

TEST(CliFaults, BadFaultsAndOutcomesAreUsageErrors) {
  Result r = run("run --scenario complicated_dict --fault crash:rank=1");
  EXPECT_EQ(r.status, 2) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "fault 'crash:rank=1': missing key 'collective'")) << r.err;
  r = run("run --scenario complicated_dict --fault boom");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.err, "unknown kind 'boom'")) << r.err;
  r = run("run --scenario complicated_dict --expect sideways");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.err, "--expect: unknown outcome 'sideways'")) << r.err;
  r = run("run --scenario complicated_dict --time-limit -1");
  EXPECT_EQ(r.status, 2) << r.err;
  const std::string suite = write_temp(
      "[[test]]\nscenario = \"complicated_dict\"\nworld = 2\n"
      "faults = [\"delay:rank=1,collective=1,ms=soon\"]\n");
  r = run("run " + suite);
  EXPECT_EQ(r.status, 2) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, suite + ":1: fault 'delay:rank=1,collective=1,ms=soon': ms=soon is "
                                      "not an integer"))
      << r.err;
  std::remove(suite.c_str());
}

TEST(CliFaults, SuiteEntriesCarryFaultsExpectAndTimeout) {
  const std::string suite = write_temp(
      "title = \"t\"\n"
      "[[test]]\nscenario = \"complicated_dict\"\nworld = 4\n"
      "faults = [\"mismatch:rank=1,collective=2,field=dtype\"]\nexpect = \"mismatch\"\n"
      "[[test]]\nscenario = \"complicated_dict\"\nworld = 4\ntimeout = 0.5\n"
      "faults = [\"delay:rank=0,collective=3,ms=600\"]\nexpect = \"timeout\"\n");
  const Result r = run("run " + suite);
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "2 passed, 0 failed")) << r.out;
  std::remove(suite.c_str());
}

TEST(CliFaults, BuggifyRunsAreExplainedAndReproducible) {
  const std::string args =
      "run --scenario complicated_dict --world 4 --seed 1 --seeds 12 "
      "--buggify --timeout 1";
  const Result a = run(args);
  const Result b = run(args);
  EXPECT_EQ(a.status, 0) << a.out << a.err;
  EXPECT_TRUE(contains(a.out, "12 passed, 0 failed")) << a.out;
  EXPECT_TRUE(contains(a.out, "injected: ")) << "some seed draws a fault\n" << a.out;
  // Same lines except the wall time.
  auto strip_time = [](std::string s) {
    std::string out;
    std::istringstream in(s);
    for (std::string line; std::getline(in, line);) {
      const size_t t = line.find(" time=");
      out += (t == std::string::npos ? line : line.substr(0, t)) + "\n";
    }
    return out;
  };
  EXPECT_EQ(strip_time(a.out), strip_time(b.out));
}

TEST(CliFaults, TheTimeLimitEndsARunWithStatusOneAndSaysWhatWasRunning) {
  const Result r = run("run --scenario complicated_dict --world 512 --seeds 50 --time-limit 0.5");
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "time limit of 0.5 s reached")) << r.err;
  EXPECT_TRUE(contains(r.err, "while running:\n  shardsim run --scenario complicated_dict"))
      << r.err;
  EXPECT_LT(r.seconds, 10.0);
  const Result off = run("run --scenario complicated_dict --world 2 --time-limit 0");
  EXPECT_EQ(off.status, 0) << off.out << off.err;
}

// Processes whose command line matches `pattern` (a regular expression
// written so that it does not match itself, like "seed 123[4]").
int count_processes(const std::string& pattern) {
  const Result r = run_shell("pgrep -f -c -- '" + pattern + "' || true");
  return r.out.empty() ? 0 : std::stoi(r.out);
}

// On Gloo the launcher's workers are separate processes: when the time limit
// ends the launcher, they must end with it.
TEST(CliFaults, TheTimeLimitLeavesNoWorkerProcessBehind) {
  const Result probe = run("run --backend gloo --scenario complicated_dict --world 1");
  if (probe.status != 0) GTEST_SKIP() << "no Gloo backend in this build: " << probe.err;
  const std::string token = "--seed 918273645";  // marks this run's processes
  const std::string pattern = "seed 91827364[5]";
  const Result r = run("run --backend gloo --world 3 --scenario complicated_dict " + token +
                       " --fault delay:rank=1,collective=1,ms=120000 --timeout 300 --time-limit 8");
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "time limit of 8 s reached")) << r.err;
  EXPECT_LT(r.seconds, 30.0);
  int left = 0;
  for (int i = 0; i < 50; ++i) {  // the kernel delivers the parent-death signal promptly
    left = count_processes(pattern);
    if (left == 0) break;
    ::usleep(100000);
  }
  EXPECT_EQ(left, 0) << "worker processes outlived the launcher";
}

}  // namespace
