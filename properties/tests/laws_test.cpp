// The laws as rapidcheck properties (ctest label `property`). Each draws a
// case for its law and runs it on fibers exactly as `shardsim replay` would;
// a failure is shrunk, written as a case file (its path and the replay
// command are in the failure message). Law 6 as a stateful test is in
// lifetime_state_test.cpp.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "shardsim/core/error.h"
#include "shardsim/properties/case_json.h"
#include "shardsim/properties/fuzz.h"
#include "shardsim/properties/generators.h"

namespace shardsim::properties {
namespace {

// The default run: worlds up to 64, small trees (heavier ones: shardsim fuzz).
GenLimits limits() { return GenLimits(); }

// 1. The layouts of all ranks tile the global tensor exactly.
RC_GTEST_PROP(Laws, LayoutTiles, ()) {
  rc_assert_case_holds(*gen_case("layout_tiles", limits()), "LayoutTiles");
}

// 2. full_tensor(distribute_tensor(x)) == x, bit for bit, on every rank.
RC_GTEST_PROP(Laws, DistributeFullTensor, ()) {
  rc_assert_case_holds(*gen_case("distribute_full_tensor", limits()), "DistributeFullTensor");
}

// 3. gather_state_dict of a distributed tree is the tree (ranks_only, cpu_offload).
RC_GTEST_PROP(Laws, GatherStateDict, ()) {
  rc_assert_case_holds(*gen_case("gather_state_dict", limits()), "GatherStateDict");
}

// 4. create_cpu_state_dict + copy_state_dict; similarity and its single changes.
RC_GTEST_PROP(Laws, CpuStateDict, ()) {
  rc_assert_case_holds(*gen_case("cpu_state_dict", limits()), "CpuStateDict");
}

// 5. distribute_tensors, broadcast_state_dict, distribute_state_dict slices; flatten.
RC_GTEST_PROP(Laws, SlicesAndFlatten, ()) {
  rc_assert_case_holds(*gen_case("slices_and_flatten", limits()), "SlicesAndFlatten");
}

// 6, as case files: generated lifetime steps replayed per rank (the
// stateful rapidcheck test of the same law is in lifetime_state_test.cpp).
RC_GTEST_PROP(Laws, PinnedLifetimeSteps, ()) {
  rc_assert_case_holds(*gen_case("pinned_lifetime", limits()), "PinnedLifetimeSteps");
}

// 7. Several schedule seeds give the same values; each its own stable trace.
RC_GTEST_PROP(Laws, ScheduleIndependence, ()) {
  GenLimits l = limits();
  l.max_world = 16;  // each case runs 2x its schedule seeds
  rc_assert_case_holds(*gen_case("schedule_independence", l), "ScheduleIndependence");
}

// Every generated case is valid and survives its JSON form unchanged.
RC_GTEST_PROP(Generators, CasesAreValidAndRoundTrip, ()) {
  const std::string law = *rc::gen::elementOf(law_names());
  const CaseFile c = *gen_case(law, limits());
  validate_case(c, "generated");
  RC_ASSERT(parse_case(case_to_json(c), "generated") == c);
  RC_ASSERT(parse_case(case_to_json(c, false), "generated") == c);
}

// A case file mangled at random (bytes replaced, inserted or cut) is either
// still a valid case or rejected with InvalidArgument naming the file: never
// another exception, never a crash.
RC_GTEST_PROP(Generators, MangledCaseFilesAreRejectedCleanly, ()) {
  const CaseFile c = *gen_case(*rc::gen::elementOf(law_names()), limits());
  std::string text = case_to_json(c, *rc::gen::arbitrary<bool>());
  const int edits = *rc::gen::inRange(1, 6);
  for (int i = 0; i < edits && !text.empty(); ++i) {
    const size_t at = *rc::gen::inRange<size_t>(0, text.size());
    const char byte = *rc::gen::elementOf(std::string("{}[]:,\"0123456789-.eE ntfa\\\x01\xff"));
    switch (*rc::gen::inRange(0, 3)) {
      case 0: text[at] = byte; break;
      case 1: text.insert(at, 1, byte); break;
      default: text.erase(at); break;
    }
  }
  try {
    validate_case(parse_case(text, "mangled.json"), "mangled.json");
  } catch (const InvalidArgument& e) {
    RC_ASSERT(std::string(e.what()).rfind("mangled.json: ", 0) == 0);
  }
}

}  // namespace
}  // namespace shardsim::properties
