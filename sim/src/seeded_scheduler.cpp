#include "seeded_scheduler.h"

#include <utility>

namespace shardsim {
namespace sim {
namespace detail {

namespace {
// Stream number of the scheduler's generator within the schedule seed.
constexpr uint64_t kSchedulerStream = 0x5c4edu;
}  // namespace

SeededScheduler::SeededScheduler(uint64_t schedule_seed)
    : rng_(derive_seed(schedule_seed, kSchedulerStream)) {}

void SeededScheduler::awakened(boost::fibers::context* ctx) noexcept {
  if (ctx->is_context(boost::fibers::type::pinned_context)) {
    idle_.push_back(ctx);
  } else {
    ready_.push_back(ctx);
  }
}

boost::fibers::context* SeededScheduler::pick_next() noexcept {
  if (!ready_.empty()) {
    const size_t i = static_cast<size_t>(rng_.next() % ready_.size());
    boost::fibers::context* ctx = ready_[i];
    ready_[i] = ready_.back();
    ready_.pop_back();
    return ctx;
  }
  if (!idle_.empty()) {
    boost::fibers::context* ctx = idle_.front();
    idle_.pop_front();
    return ctx;
  }
  return nullptr;
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
  std::unique_lock<std::mutex> lk(mtx_);
  flag_ = true;
  lk.unlock();
  cnd_.notify_all();
}

}  // namespace detail
}  // namespace sim
}  // namespace shardsim
