// Runs the shardsim executable (its path is compiled in as SHARDSIM_CLI) and
// checks `shardsim layout`'s output lines and every exit status: 0 on success
// and --help, 2 with one line on stderr naming the bad argument otherwise.
// Expected layouts are computed by hand in the comments (torch.chunk's rule:
// a dim of size s over n ranks gets chunks of ceil(s/n); an empty shard
// reports the global size as its offset).
#include <gtest/gtest.h>

#include "cli_test_support.h"

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace cli_test = shardsim::cli_test;

namespace {

struct Result {
  int status = -1;               // exit status; -1 when the program did not exit normally
  std::vector<std::string> out;  // stdout lines
  std::vector<std::string> err;  // stderr lines
};

// Runs `shardsim <args>` through the shell (args are shell words).
Result run(const std::string& args) {
  const cli_test::CliRun r = cli_test::run_shardsim(args);
  return {r.status, cli_test::lines_of(r.out), cli_test::lines_of(r.err)};
}

std::string json(int rank, const std::string& coord, const std::string& shape,
                 const std::string& offset) {
  return "{\"rank\":" + std::to_string(rank) + ",\"coord\":" + coord + ",\"local_shape\":" + shape +
         ",\"global_offset\":" + offset + "}";
}

// Expects status 2, nothing on stdout, and one stderr line that starts with
// "shardsim layout: " and contains every part of `names`.
void expect_usage_error(const std::string& args, const std::vector<std::string>& names) {
  const Result r = run("layout " + args);
  EXPECT_EQ(r.status, 2) << args;
  EXPECT_TRUE(r.out.empty()) << args;
  ASSERT_EQ(r.err.size(), 1u) << args;
  const std::string& line = r.err[0];
  EXPECT_EQ(line.rfind("shardsim layout: ", 0), 0u) << args << " -> " << line;
  for (const std::string& name : names) {
    EXPECT_NE(line.find(name), std::string::npos) << args << " -> " << line;
  }
}

TEST(CliLayout, SevenByFiveOnTwoByThreeAsJson) {
  // Dim 0: 7 over 2, chunk 4: rows [0,4) and [4,7). Dim 1: 5 over 3, chunk 2:
  // columns [0,2), [2,4), [4,5). Ranks are row-major: rank = 3 * c0 + c1.
  const Result r = run("layout --shape 7,5 --mesh 2x3 --placements S0,S1 --json");
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(r.err.empty());
  EXPECT_EQ(r.out, (std::vector<std::string>{
                       json(0, "[0,0]", "[4,2]", "[0,0]"), json(1, "[0,1]", "[4,2]", "[0,2]"),
                       json(2, "[0,2]", "[4,1]", "[0,4]"), json(3, "[1,0]", "[3,2]", "[4,0]"),
                       json(4, "[1,1]", "[3,2]", "[4,2]"), json(5, "[1,2]", "[3,1]", "[4,4]")}));
}

TEST(CliLayout, SevenByFiveAsTable) {
  const Result r = run("layout --shape 7,5 --mesh 2x3 --placements S0,S1");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, (std::vector<std::string>{
                       "rank  coord   local_shape  global_offset",
                       "0     (0, 0)  [4, 2]       [0, 0]", "1     (0, 1)  [4, 2]       [0, 2]",
                       "2     (0, 2)  [4, 1]       [0, 4]", "3     (1, 0)  [3, 2]       [4, 0]",
                       "4     (1, 1)  [3, 2]       [4, 2]", "5     (1, 2)  [3, 1]       [4, 4]"}));
}

TEST(CliLayout, EmptyShardsReportTheGlobalSize) {
  // Size 8 on 2x3 with [S0, S0]: halves of 4, then chunk 2 at 0, 2 and 4;
  // start 4 is the end of the half: coordinates (0,2) and (1,2) are empty.
  Result r = run("layout --shape 8 --mesh 2x3 --placements S0,S0 --json");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, (std::vector<std::string>{
                       json(0, "[0,0]", "[2]", "[0]"), json(1, "[0,1]", "[2]", "[2]"),
                       json(2, "[0,2]", "[0]", "[8]"), json(3, "[1,0]", "[2]", "[4]"),
                       json(4, "[1,1]", "[2]", "[6]"), json(5, "[1,2]", "[0]", "[8]")}));
  // A 1x2 tensor over 4 ranks: chunk 1, so only rank 0 holds the row.
  r = run("layout --shape 1,2 --mesh 4 --placements S0 --json");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, (std::vector<std::string>{
                       json(0, "[0]", "[1,2]", "[0,0]"), json(1, "[1]", "[0,2]", "[1,0]"),
                       json(2, "[2]", "[0,2]", "[1,0]"), json(3, "[3]", "[0,2]", "[1,0]")}));
}

TEST(CliLayout, ZeroSizeAndZeroDimShapes) {
  // A zero-size dim elsewhere: columns 3 over 2 give [0,2) and [2,3).
  Result r = run("layout --shape 0,3 --mesh 2 --placements S1 --json");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, (std::vector<std::string>{json(0, "[0]", "[0,2]", "[0,0]"),
                                             json(1, "[1]", "[0,1]", "[0,2]")}));
  r = run("layout --shape '' --mesh 2 --placements P --json");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out,
            (std::vector<std::string>{json(0, "[0]", "[]", "[]"), json(1, "[1]", "[]", "[]")}));
  // Replicate and Partial keep the whole tensor on every rank.
  r = run("layout --shape 4,6 --mesh 2x2 --placements R,P --json");
  EXPECT_EQ(r.status, 0);
  ASSERT_EQ(r.out.size(), 4u);
  EXPECT_EQ(r.out[3], json(3, "[1,1]", "[4,6]", "[0,0]"));
  // Dim 1 sharded twice: 6 over 2 gives 3 and 3, then 3 over 2 gives 2 and 1.
  r = run("layout --shape 4,6 --mesh 2x2 --placements S1,S1 --json");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, (std::vector<std::string>{
                       json(0, "[0,0]", "[4,2]", "[0,0]"), json(1, "[0,1]", "[4,1]", "[0,2]"),
                       json(2, "[1,0]", "[4,2]", "[0,3]"), json(3, "[1,1]", "[4,1]", "[0,5]")}));
}

TEST(CliLayout, BadInputExitsTwoNamingTheArgument) {
  expect_usage_error("--shape 7,5 --mesh 2x3 --placements S0,S2", {"--placements", "S2"});
  expect_usage_error("--shape '' --mesh 2 --placements S0", {"--placements", "S0"});
  expect_usage_error("--shape 7,-1 --mesh 2 --placements S0", {"--shape", "-1"});
  expect_usage_error("--shape=-1 --mesh 2 --placements S0", {"--shape", "-1"});
  expect_usage_error("--shape 7,,5 --mesh 2 --placements S0", {"--shape"});
  expect_usage_error("--shape abc --mesh 2 --placements S0", {"--shape", "abc"});
  expect_usage_error("--shape 7 --mesh 0 --placements S0", {"--mesh", "0"});
  expect_usage_error("--shape 7 --mesh 2x0 --placements S0,S0", {"--mesh"});
  expect_usage_error("--shape 7 --mesh=-2 --placements S0", {"--mesh", "-2"});
  expect_usage_error("--shape 7 --mesh 2,2 --placements S0", {"--mesh"});
  expect_usage_error("--shape 7 --mesh 2 --placements X", {"--placements", "'X'"});
  expect_usage_error("--shape 7 --mesh 2 --placements S", {"--placements", "'S'"});
  expect_usage_error("--shape 7 --mesh 2x2 --placements S0,,R", {"--placements"});
  expect_usage_error("--shape 7 --mesh 2x2x2 --placements S0,S0",
                     {"--placements: 2 placements for a 3-dim mesh"});
  expect_usage_error("--shape 7 --mesh 2x3 --placements S0",
                     {"--placements: 1 placements for a 2-dim mesh"});
  expect_usage_error("--shape 7 --mesh 2 --placements S0 --bogus", {"--bogus"});
  expect_usage_error("--shape 7 --placements S0", {"--mesh"});
  expect_usage_error("--mesh 2 --placements S0", {"--shape"});
  expect_usage_error("--shape 7 --mesh 2", {"--placements"});
}

TEST(CliLayout, HelpExitsZeroEverywhere) {
  const Result top = run("--help");
  EXPECT_EQ(top.status, 0);
  // Every command listed by the top-level help answers --help with status 0.
  std::vector<std::string> commands;
  bool in_commands = false;
  for (const std::string& line : top.out) {
    if (line == "commands:") {
      in_commands = true;
    } else if (in_commands && line.rfind("  ", 0) == 0) {
      commands.push_back(line.substr(2, line.find(' ', 2) - 2));
    } else if (in_commands) {
      break;
    }
  }
  EXPECT_NE(std::find(commands.begin(), commands.end(), "layout"), commands.end());
  for (const std::string& name : commands) {
    const Result r = run(name + " --help");
    EXPECT_EQ(r.status, 0) << name;
    EXPECT_FALSE(r.out.empty()) << name;
  }
  const Result layout = run("layout --help");
  const std::string text = [&] {
    std::string all;
    for (const std::string& l : layout.out) all += l + "\n";
    return all;
  }();
  for (const char* option : {"--shape", "--mesh", "--placements", "--json"}) {
    EXPECT_NE(text.find(option), std::string::npos) << option;
  }
}

TEST(CliLayout, NoOrUnknownCommandIsUsageError) {
  const Result none = run("");
  EXPECT_EQ(none.status, 2);
  EXPECT_TRUE(none.out.empty());
  ASSERT_FALSE(none.err.empty());
  EXPECT_NE(none.err[0].find("shardsim"), std::string::npos);
  const Result unknown = run("no-such-command");
  EXPECT_EQ(unknown.status, 2);
  ASSERT_EQ(unknown.err.size(), 1u);
  EXPECT_NE(unknown.err[0].find("no-such-command"), std::string::npos);
}

}  // namespace
