// The laws have teeth. This test binary links core's sharding arithmetic
// compiled with SHARDSIM_PLANTED_BUG (core/src/sharding.cpp): chunk starts
// are off by one in uneven splits, so distribute_tensor, full_tensor and
// gather_state_dict go wrong. Laws 2 and 3 must catch it, shrink it to a
// small case and write that case as a file; the file fails here and passes
// when the production build (the shardsim executable) replays it.
#include <sys/wait.h>

#include <cstdlib>
#include <iostream>

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/detail/TestMetadata.h>

#include "shardsim/core/sharding.h"
#include "shardsim/properties/case_json.h"
#include "shardsim/properties/fuzz.h"
#include "shardsim/properties/generators.h"

namespace shardsim::properties {
namespace {

// Runs `law`'s property with a fixed rapidcheck seed and checks that it
// fails, shrinks small, and leaves a case file that reproduces it.
void expect_caught_and_shrunk(const std::string& law) {
  char tmpl[] = "/tmp/shardsim-planted-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  ASSERT_EQ(setenv("SHARDSIM_CASE_DIR", dir.c_str(), 1), 0);

  rc::detail::TestMetadata metadata;
  metadata.id = "planted/" + law;
  rc::detail::TestParams params;
  params.seed = 20240611;
  params.maxSuccess = 300;
  const rc::detail::TestResult result = rc::detail::checkTestable(
      [&] { rc_assert_case_holds(*gen_case(law, GenLimits()), "planted"); }, metadata, params);
  ASSERT_TRUE(result.template is<rc::detail::FailureResult>())
      << "law " << law << " did not catch the planted bug";
  const auto& failure = result.template get<rc::detail::FailureResult>();
  std::cout << "law " << law << " failed after " << failure.numSuccess << " passing cases:\n"
            << failure.description << "\n";
  EXPECT_NE(failure.description.find("rank "), std::string::npos) << failure.description;
  EXPECT_NE(failure.description.find("shardsim replay "), std::string::npos) << failure.description;

  // The shrunk case, as the law wrote it.
  const std::string path = dir + "/" + law + "-planted.json";
  const CaseFile c = load_case(path);
  std::cout << "shrunk case " << path << ":\n" << case_to_json(c);
  int64_t tensors = 0;
  for_each_node(c.state_dict,
                [&](const std::string&, const CaseNode& n) { tensors += n.is_tensor_node(); });
  EXPECT_LE(c.world, 4);
  EXPECT_LE(total_numel(c.state_dict), 8);
  EXPECT_LE(tensors, 2);

  // It fails with the planted arithmetic ...
  EXPECT_EQ(run_case_on_fibers(c).verdict, runner::RunResult::Verdict::kFail);
  // ... and passes on the production build.
  const int status =
      std::system((std::string(SHARDSIM_CLI) + " replay " + path + " > /dev/null").c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the production build fails the shrunk case too: " << path;
}

TEST(PlantedBug, TheArithmeticIsReallyPlanted) {
  // 3 over 2: chunks [0, 2) and [1, 3) overlap instead of [0, 2) and [2, 3).
  EXPECT_EQ(chunk_range(3, 2, 1).start, 1);
}

TEST(PlantedBug, DistributeFullTensorCatchesItAndShrinks) {
  expect_caught_and_shrunk("distribute_full_tensor");
}

TEST(PlantedBug, GatherStateDictCatchesItAndShrinks) {
  expect_caught_and_shrunk("gather_state_dict");
}

}  // namespace
}  // namespace shardsim::properties
