// Suite files: parsing, error messages naming file, line and field, expansion.
#include <gtest/gtest.h>

#include "shardsim/runner/suite.h"
#include "shardsim/scenarios/builtin.h"

namespace shardsim::scenarios {

using namespace shardsim::runner;
namespace {

std::string error_of(const std::string& text) {
  try {
    parse_suite(text, "s.toml");
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "";
}

TEST(Suite, ParsesEntries) {
  const Suite s = parse_suite(R"(
title = "t"
[[test]]
scenario = "gather_*"
worlds = [1, 3]
meshes = ["1", "3"]
seed = 5
seed_count = 3
backends = ["fiber"]
expect = "deadlock"
timeout = 2.5

[[test]]
scenario = "complicated_dict"
world = 4
)",
                              "s.toml");
  ASSERT_EQ(s.entries.size(), 2u);
  EXPECT_EQ(s.title, "t");
  EXPECT_EQ(s.entries[0].worlds, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(s.entries[0].seeds, (std::vector<uint64_t>{5, 6, 7}));
  EXPECT_EQ(s.entries[0].meshes.size(), 2u);
  EXPECT_EQ(*s.entries[0].expect, Outcome::kDeadlock);
  EXPECT_DOUBLE_EQ(s.entries[0].timeout_s, 2.5);
  EXPECT_EQ(s.entries[0].origin, "s.toml:3");
  EXPECT_EQ(s.entries[1].worlds, (std::vector<int64_t>{4}));
}

TEST(Suite, ErrorsNameFileLineAndField) {
  EXPECT_EQ(error_of("[[test]]\nscenario = \"x\"\nworlds = [1, -2]\n"),
            "s.toml:3: field 'worlds': value -2 out of range [1, 1048576]");
  EXPECT_NE(error_of("[[test]]\nscenario = \"x\"\ncolour = 1\n").find("s.toml:3: field 'colour': unknown field"),
            std::string::npos);
  EXPECT_NE(error_of("[[test]]\nscenario = 3\n").find("s.toml:2: field 'scenario': expected a string"),
            std::string::npos);
  EXPECT_NE(error_of("[[test]]\nscenario = \"x\"\nworlds = [1,\n").find("s.toml:"), std::string::npos);
  EXPECT_NE(error_of("[[test]]\nscenario = \"x\"\nworlds = [1,\n").find("syntax error"), std::string::npos);
  EXPECT_NE(error_of("[[test]]\nworlds = [1]\n").find("field 'scenario': missing"), std::string::npos);
  EXPECT_NE(error_of("title = \"only\"\n").find("no [[test]] entries"), std::string::npos);
  EXPECT_NE(error_of("[[test]]\nscenario = \"x\"\nmeshes = [\"2x0\"]\n").find("mesh size 0"), std::string::npos);
  EXPECT_NE(error_of("[[test]]\nscenario = \"x\"\nexpect = \"sunny\"\n").find("unknown outcome 'sunny'"),
            std::string::npos);
  EXPECT_NE(error_of("[[test]]\nscenario = \"x\"\nbackends = [\"mpi\"]\n").find("unknown backend 'mpi'"),
            std::string::npos);
}

TEST(Suite, ExpansionAppliesOverridesAndRejectsUnknownScenarios) {
  const Suite s = parse_suite("[[test]]\nscenario = \"gather_*\"\nworlds = [3, 4]\nseeds = [1, 2]\n", "s.toml");
  RunOverrides none;
  const auto all = expand_suite(s, builtin_scenarios(), none);
  EXPECT_EQ(all.size(), 2u * 2u * 2u);  // two gather scenarios x worlds x seeds
  RunOverrides o;
  o.scenario_glob = "gather_state_dict_dtensor";
  o.worlds = {8};
  o.seed = 9;
  o.seed_count = 3;
  const auto some = expand_suite(s, builtin_scenarios(), o);
  ASSERT_EQ(some.size(), 3u);
  EXPECT_EQ(some[0].world, 8);
  EXPECT_EQ(some[2].seed, 11u);
  const Suite bad = parse_suite("[[test]]\nscenario = \"nope_*\"\n", "b.toml");
  try {
    expand_suite(bad, builtin_scenarios(), none);
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("b.toml:1: scenario 'nope_*' matches no scenario"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace shardsim::scenarios
