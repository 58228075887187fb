#include "seeded_scheduler.h"

#include <utility>

namespace shardsim {
namespace sim {
namespace detail {

namespace {
// Stream number of the scheduler's generator within the schedule seed.
constexpr uint64_t kSchedulerStream = 0x5c4edu;
}  // namespace

SeededScheduler::SeededScheduler(uint64_t schedule_seed, std::shared_ptr<FiberSwitches> switches)
    : rng_(derive_seed(schedule_seed, kSchedulerStream)), switches_(std::move(switches)) {}

// Destroyed with the thread's Boost scheduler, on the main context, after the
// dispatcher's last switch back to it.
SeededScheduler::~SeededScheduler() { switches_->thread_ending(); }

// awakened, pick_next and notify may be the first code on a new stack after a
// switch: each completes a pending switch announcement (fiber_switches.h).
void SeededScheduler::awakened(boost::fibers::context* ctx) noexcept {
  switches_->finished();
  if (ctx->is_context(boost::fibers::type::pinned_context)) {
    idle_.push_back(ctx);
  } else {
    ready_.push_back(ctx);
  }
}

// Boost switches to the context this returns, at once.
boost::fibers::context* SeededScheduler::pick_next() noexcept {
  switches_->finished();
  boost::fibers::context* ctx = nullptr;
  if (!ready_.empty()) {
    const size_t i = static_cast<size_t>(rng_.next() % ready_.size());
    ctx = ready_[i];
    ready_[i] = ready_.back();
    ready_.pop_back();
  } else if (!idle_.empty()) {
    ctx = idle_.front();
    idle_.pop_front();
  }
  if (ctx != nullptr) switches_->started(ctx);
  return ctx;
}

bool SeededScheduler::has_ready_fibers() const noexcept {
  return !ready_.empty() || !idle_.empty();
}

void SeededScheduler::suspend_until(std::chrono::steady_clock::time_point const& when) noexcept {
  std::unique_lock<std::mutex> lk(mtx_);
  if (when == (std::chrono::steady_clock::time_point::max)()) {
    cnd_.wait(lk, [this] { return flag_; });
  } else {
    cnd_.wait_until(lk, when, [this] { return flag_; });
  }
  flag_ = false;
}

void SeededScheduler::notify() noexcept {
  switches_->finished();
  std::unique_lock<std::mutex> lk(mtx_);
  flag_ = true;
  lk.unlock();
  cnd_.notify_all();
}

}  // namespace detail
}  // namespace sim
}  // namespace shardsim
