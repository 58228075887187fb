// Tells AddressSanitizer about every stack switch of one fiber world.
//
// Debian's Boost.Context (fcontext, assembly) switches stacks without telling
// ASan, which then believes every fiber runs on its thread's own stack: an
// exception thrown on a fiber skips the unpoisoning of the frames it unwinds
// ("ASan is ignoring requested __asan_handle_no_return"), so later reports are
// false positives or, worse, a wrongly sized unpoisoning hides real ones; and
// the stack traces ASan records for allocations stop at the first fiber frame.
// FiberSwitches brackets each switch with __sanitizer_start_switch_fiber (on
// the old stack, naming the new one) and __sanitizer_finish_switch_fiber (on
// the new stack), as the sanitizer's fiber API asks.
//
// Where the switches are: Boost.Fiber asks the scheduling algorithm for the
// context to resume (pick_next) immediately before every switch it makes
// (suspend, yield, a fiber's end, the dispatcher's loop), so SeededScheduler
// calls started() there. The first code of ours to run on the new stack is a
// scheduler hook that Boost calls on top of the new stack (awakened, notify,
// pick_next) or the world's code after a suspension point (WorldCore::block,
// yield, the main loop, a rank's first line); each calls finished(), which
// completes the pending switch if there is one.
//
// Boost also switches without pick_next in two places: the dispatcher briefly
// resumes a finished fiber to free its stack (it returns to the dispatcher, so
// ASan's view is right again afterwards), and at the thread's end the
// dispatcher returns to the main context; thread_ending(), called from the
// scheduler's destructor on the main context, tells ASan about that one.
//
// Stack bounds: worker stacks come from RegisteredStack, which records them;
// the main context's are the thread's, as ASan reports them when the main
// context first switches away; the dispatcher's stack is a heap block that
// ASan locates. Stack-use-after-return detection (fake stacks) is not
// supported in fiber worlds: a finished fiber's last frames run after its
// final switch, unannounced.
//
// Without AddressSanitizer every member is an empty inline function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <utility>

#include <boost/context/stack_context.hpp>
#include <boost/fiber/context.hpp>

#if defined(__SANITIZE_ADDRESS__)
#define SHARDSIM_FIBER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SHARDSIM_FIBER_ASAN 1
#endif
#endif

namespace shardsim {
namespace sim {
namespace detail {

#if defined(SHARDSIM_FIBER_ASAN)

class FiberSwitches {
 public:
  // A worker stack [sp - size, sp) was allocated / is about to be freed.
  void add_stack(void* sp, size_t size);
  void remove_stack(void* sp, size_t size);

  // The running context is about to switch to `to` (Boost's pick_next).
  void started(boost::fibers::context* to);
  // Completes the pending switch, if any; call on the new stack.
  void finished();
  // The thread's scheduler is going away; the main context runs again.
  void thread_ending();

  // Switches started so far, and those whose target's stack was unknown.
  uint64_t switches() const { return switches_; }
  uint64_t unknown_stacks() const { return unknown_stacks_; }

 private:
  struct Bounds {
    const void* bottom = nullptr;
    size_t size = 0;
  };
  Bounds bounds_of(boost::fibers::context* ctx);
  void*& fake_stack_of(boost::fibers::context* ctx);

  std::map<uintptr_t, size_t> stacks_;                   // worker stacks: top -> size
  std::map<boost::fibers::context*, Bounds> known_;      // main and dispatcher contexts
  std::map<uintptr_t, void*> fake_stacks_;           // by context address, saved on leaving
  bool pending_ = false;
  boost::fibers::context* from_ = nullptr;
  boost::fibers::context* to_ = nullptr;
  boost::fibers::context* main_ = nullptr;
  uint64_t switches_ = 0;
  uint64_t unknown_stacks_ = 0;
};

#else

class FiberSwitches {
 public:
  void add_stack(void*, size_t) {}
  void remove_stack(void*, size_t) {}
  void started(boost::fibers::context*) {}
  void finished() {}
  void thread_ending() {}
  uint64_t switches() const { return 0; }
  uint64_t unknown_stacks() const { return 0; }
};

#endif

// A Boost stack allocator that records the stacks it hands out in a world's
// FiberSwitches (they outlive the world: the dispatcher frees finished fibers'
// stacks later, at the thread's end at the latest).
template <typename Inner>
class RegisteredStack {
 public:
  RegisteredStack(Inner inner, std::shared_ptr<FiberSwitches> switches)
      : inner_(std::move(inner)), switches_(std::move(switches)) {}

  boost::context::stack_context allocate() {
    boost::context::stack_context sctx = inner_.allocate();
    switches_->add_stack(sctx.sp, sctx.size);
    return sctx;
  }

  void deallocate(boost::context::stack_context& sctx) noexcept {
    switches_->remove_stack(sctx.sp, sctx.size);
    inner_.deallocate(sctx);
  }

 private:
  Inner inner_;
  std::shared_ptr<FiberSwitches> switches_;
};

}  // namespace detail
}  // namespace sim
}  // namespace shardsim
