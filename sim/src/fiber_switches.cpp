#include "fiber_switches.h"

#if defined(SHARDSIM_FIBER_ASAN)

#include <cstring>

#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>

namespace shardsim {
namespace sim {
namespace detail {

void FiberSwitches::add_stack(void* sp, size_t size) {
  stacks_[reinterpret_cast<uintptr_t>(sp)] = size;
}

void FiberSwitches::remove_stack(void* sp, size_t size) {
  const uintptr_t top = reinterpret_cast<uintptr_t>(sp);
  stacks_.erase(top);
  // The stack held its fiber's context object: forget what was saved for it,
  // a later fiber may get the same address.
  fake_stacks_.erase(fake_stacks_.lower_bound(top - size), fake_stacks_.lower_bound(top));
  // Frames a fiber left behind may still be poisoned; a protected stack is
  // unmapped (not freed), and the next mapping at this address must start clean.
  __asan_unpoison_memory_region(static_cast<char*>(sp) - size, size);
}

FiberSwitches::Bounds FiberSwitches::bounds_of(boost::fibers::context* ctx) {
  const uintptr_t at = reinterpret_cast<uintptr_t>(ctx);
  // A worker's context object lives at the top of its own stack.
  auto it = stacks_.upper_bound(at);
  if (it != stacks_.end() && it->first - it->second <= at) {
    return {reinterpret_cast<const void*>(it->first - it->second), it->second};
  }
  auto known = known_.find(ctx);
  if (known != known_.end()) return known->second;
  if (ctx->is_context(boost::fibers::type::dispatcher_context)) {
    // Boost allocates the dispatcher's stack with malloc and puts its context
    // object at the top of it: the heap block around the context is the stack.
    void* region = nullptr;
    size_t region_size = 0;
    const char* kind = __asan_locate_address(ctx, nullptr, 0, &region, &region_size);
    if (kind != nullptr && std::strcmp(kind, "heap") == 0 && region != nullptr) {
      const Bounds b{region, region_size};
      known_[ctx] = b;
      return b;
    }
  }
  ++unknown_stacks_;
  return {};
}

void*& FiberSwitches::fake_stack_of(boost::fibers::context* ctx) {
  return fake_stacks_.emplace(reinterpret_cast<uintptr_t>(ctx), nullptr).first->second;
}

void FiberSwitches::started(boost::fibers::context* to) {
  finished();
  boost::fibers::context* from = boost::fibers::context::active();
  if (main_ == nullptr && from->is_context(boost::fibers::type::main_context)) main_ = from;
  const Bounds b = bounds_of(to);
  void** save = &fake_stack_of(from);
  from_ = from;
  to_ = to;
  pending_ = true;
  ++switches_;
  __sanitizer_start_switch_fiber(save, b.bottom, b.size);
}

void FiberSwitches::finished() {
  if (!pending_) return;
  pending_ = false;
  auto fake = fake_stacks_.find(reinterpret_cast<uintptr_t>(to_));
  void* restore = fake == fake_stacks_.end() ? nullptr : fake->second;
  const void* old_bottom = nullptr;
  size_t old_size = 0;
  __sanitizer_finish_switch_fiber(restore, &old_bottom, &old_size);
  // The first switch away from the main context tells its stack: the thread's.
  if (from_ == main_ && !known_.count(from_)) known_[from_] = Bounds{old_bottom, old_size};
}

void FiberSwitches::thread_ending() {
  finished();
  if (main_ == nullptr) return;
  auto known = known_.find(main_);
  if (known == known_.end()) return;
  // The dispatcher's last switch, back to the main context, did not pass
  // through pick_next: announce it after the fact, from the main context.
  void* save = nullptr;
  __sanitizer_start_switch_fiber(&save, known->second.bottom, known->second.size);
  __sanitizer_finish_switch_fiber(fake_stack_of(main_), nullptr, nullptr);
}

}  // namespace detail
}  // namespace sim
}  // namespace shardsim

#endif
