// Runs the shardsim executable (SHARDSIM_CLI) as a user would: `replay`
// prints the standard result line and exits 0, 1 or 2 (a malformed case
// file names the file and the field); `fuzz` is deterministic for a seed and
// a case count, reports progress on stderr and closes with its summary.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "cli_test_support.h"

namespace cli_test = shardsim::cli_test;

namespace {

using Result = cli_test::CliRun;

Result run(const std::string& args) { return cli_test::run_shardsim(args); }

std::string temp_dir() { return cli_test::make_temp_dir(); }

std::string write(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string path = dir + "/" + name;
  std::ofstream(path) << text;
  return path;
}

const char* const kCase = R"({
  "format": 1, "law": "gather_state_dict", "world": 4, "mesh": [2, 2], "data_seed": 9,
  "operation": {"name": "gather_state_dict", "cpu_offload": false, "ranks_only": []},
  "state_dict": {"kind": "dict", "items": {
    "w": {"kind": "dtensor", "dtype": "float32", "shape": [3, 5], "placements": ["S0", "S1"], "stream": 1}}},
  "expect": "EXPECT"
})";

std::string with_expect(const std::string& outcome) {
  return std::regex_replace(kCase, std::regex("EXPECT"), outcome);
}

TEST(Replay, APassingCasePrintsThePassLineAndExitsZero) {
  const std::string dir = temp_dir();
  const std::string path = write(dir, "good.json", with_expect("passed"));
  const Result r = run("replay " + path);
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("PASS " + path + " backend=fiber world=4 mesh=2x2 seed=9 schedule=9 trace="),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("1 passed, 0 failed"), std::string::npos) << r.out;
}

TEST(Replay, AFailingCasePrintsItsReplayCommandAndExitsOne) {
  const std::string dir = temp_dir();
  const std::string path = write(dir, "wrong.json", with_expect("deadlock"));
  const Result r = run("replay " + path);
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("FAIL " + path), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("expected outcome deadlock but got passed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rerun: shardsim replay " + path), std::string::npos) << r.out;
}

TEST(Replay, ADirectoryReplaysEveryCaseInNameOrder) {
  const std::string dir = temp_dir();
  write(dir, "b.json", with_expect("passed"));
  write(dir, "a.json", with_expect("passed"));
  write(dir, "notes.txt", "not a case");
  const Result r = run("replay " + dir);
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_LT(r.out.find("/a.json"), r.out.find("/b.json")) << r.out;
  EXPECT_NE(r.out.find("2 passed, 0 failed"), std::string::npos) << r.out;
}

TEST(Replay, BadInputExitsTwoNamingTheFileAndField) {
  const std::string dir = temp_dir();
  const std::string bad = write(
      dir, "bad.json", std::regex_replace(with_expect("passed"), std::regex("\"S1\""), "\"S7\""));
  Result r = run("replay " + bad);
  EXPECT_EQ(r.status, 2) << r.out << r.err;
  EXPECT_NE(r.err.find(bad + ": state_dict.w.placements"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "") << "nothing runs when a case is malformed";

  r = run("replay " + write(dir, "broken.json", "{\"format\": "));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("not valid JSON"), std::string::npos) << r.err;
  r = run("replay " + dir + "/missing.json");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(run("replay").status, 2);
  EXPECT_EQ(
      run("replay " + write(dir, "ok.json", with_expect("passed")) + " --backend carrier-pigeon")
          .status,
      2);
}

TEST(Replay, HelpExitsZero) {
  const Result r = run("replay --help");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("--backend"), std::string::npos) << r.out;
}

TEST(Fuzz, TheSameSeedAndCountGiveTheSameRunAndASummary) {
  const std::string dir = temp_dir();
  const std::string args = "fuzz --cases 21 --seed 5 --max-world 16 --out " + dir;
  const Result a = run(args);
  const Result b = run(args);
  EXPECT_EQ(a.status, 0) << a.out << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out.find("21 passed, 0 failed"), std::string::npos) << a.out;
  EXPECT_NE(a.err.find("cases/s"), std::string::npos) << a.err;
  EXPECT_NE(a.err.find("fuzz: 21 cases"), std::string::npos) << a.err;
}

TEST(Fuzz, OneLawByGlobAndATimeLimit) {
  const Result r = run("fuzz --property 'layout*' --time 1 --seed 2 --out " + temp_dir());
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find(" passed, 0 failed"), std::string::npos) << r.out;
}

TEST(Fuzz, BadUsageExitsTwo) {
  EXPECT_EQ(run("fuzz --property nothing_like_this").status, 2);
  EXPECT_EQ(run("fuzz --time 1 --cases 3").status, 2);
  EXPECT_EQ(run("fuzz --cases 0").status, 2);
  EXPECT_EQ(run("fuzz --help").status, 0);
}

}  // namespace
