// The fiber world under AddressSanitizer: the stack switches are announced
// (sim/src/fiber_switches.h), so ASan both stays quiet about correct code and
// still reports real bugs inside ranks, with stack traces that reach into
// the rank. Skipped in builds without AddressSanitizer.
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "shardsim/sim/fiber_world.h"
#include "world_test_util.h"

#if defined(__SANITIZE_ADDRESS__)
#define SHARDSIM_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SHARDSIM_TEST_ASAN 1
#endif
#endif

#if defined(SHARDSIM_TEST_ASAN)
#include <sanitizer/asan_interface.h>
#endif

namespace shardsim {
namespace sim {
namespace {

using testing::world_options;

#if defined(SHARDSIM_TEST_ASAN)

// A frame with an ASan-guarded local (its redzones are poisoned while the
// frame is live); records where the local is and throws through the frame.
[[gnu::noinline]] void throw_through_guarded_frame(uintptr_t* local_at) {
  volatile char guarded[200];
  guarded[0] = 1;
  *local_at = reinterpret_cast<uintptr_t>(&guarded[0]);
  throw std::runtime_error("thrown through a guarded frame");
}

// Frees an array and reads it afterwards: a heap-use-after-free.
[[gnu::noinline]] int read_after_free_in_rank() {
  int* values = new int[8];
  values[3] = 7;
  delete[] values;
  return static_cast<volatile int*>(values)[3];
}

// With the switches announced, ASan knows each fiber's stack, so a throw
// unpoisons the frames it unwinds on that stack. Without the announcement
// ASan takes the world thread's stack for the current one, refuses the
// oversized range ("ASan is ignoring requested __asan_handle_no_return"),
// and the skipped frame's redzones stay poisoned: stale poison that later
// frames would trip over as false reports.
TEST(FiberWorldSanitizer, AThrowUnpoisonsTheFramesItUnwindsOnTheRanksStack) {
  for (StackKind stacks : {StackKind::kProtected, StackKind::kFixed}) {
    WorldOptions o = world_options(6, 3);
    o.stacks = stacks;
    std::vector<uintptr_t> poisoned(6, 1);
    const WorldResult result = run_world(o, [&](RankEnv& env) {
      for (int round = 0; round < 3; ++round) {
        env.comm().barrier();
        uintptr_t local_at = 0;
        try {
          throw_through_guarded_frame(&local_at);
        } catch (const std::runtime_error&) {
        }
        // The local's frame, redzones included, must be clean after the throw.
        void* frame = reinterpret_cast<void*>(local_at - 64);
        poisoned[env.rank()] =
            reinterpret_cast<uintptr_t>(__asan_region_is_poisoned(frame, 200 + 128));
        if (poisoned[env.rank()] != 0) return;
      }
    });
    ASSERT_TRUE(result.ok()) << result;
    for (int64_t r = 0; r < 6; ++r) {
      EXPECT_EQ(poisoned[r], 0u) << "rank " << r << " (stacks " << static_cast<int>(stacks)
                                 << "): the unwound frame is still poisoned";
    }
  }
}

// Announcing the switches must not silence ASan: a use-after-free inside a
// rank, after collectives and switches, is reported, and both the access and
// the free are traced through the rank's own frames up to its fiber's top.
TEST(FiberWorldSanitizerDeathTest, AUseAfterFreeInARankIsReportedWithTheRanksStack) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const auto run = [] {
    run_world(world_options(4, 5), [](RankEnv& env) {
      env.comm().barrier();
      if (env.rank() == 2) std::printf("%d\n", read_after_free_in_rank());
      env.comm().barrier();
    });
  };
  EXPECT_DEATH(run(),
               "ERROR: AddressSanitizer: heap-use-after-free.*"
               "READ of size 4.*read_after_free_in_rank.*WorldCore::rank_main.*"
               "freed by thread.*read_after_free_in_rank.*WorldCore::rank_main.*"
               "previously allocated by thread.*read_after_free_in_rank.*WorldCore::rank_main");
}

#else

TEST(FiberWorldSanitizer, AThrowUnpoisonsTheFramesItUnwindsOnTheRanksStack) {
  GTEST_SKIP() << "needs AddressSanitizer (configure with -DSHARDSIM_SANITIZE=ON)";
}

TEST(FiberWorldSanitizerDeathTest, AUseAfterFreeInARankIsReportedWithTheRanksStack) {
  GTEST_SKIP() << "needs AddressSanitizer (configure with -DSHARDSIM_SANITIZE=ON)";
}

#endif

}  // namespace
}  // namespace sim
}  // namespace shardsim
