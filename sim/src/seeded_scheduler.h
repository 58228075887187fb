// The scheduling algorithm of a fiber world: the next fiber to run is drawn
// from the ready workers with the world's seeded generator (`next() % n`, the
// same on every standard library). The thread's own contexts (the main
// context that runs the world loop and Boost's dispatcher) run only when no
// worker is ready, so the world loop sees every quiescent point. Under
// AddressSanitizer the hooks also announce each stack switch (fiber_switches.h).
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include <boost/fiber/algo/algorithm.hpp>
#include <boost/fiber/context.hpp>

#include "fiber_switches.h"
#include "shardsim/core/random.h"

namespace shardsim {
namespace sim {
namespace detail {

class SeededScheduler : public boost::fibers::algo::algorithm {
 public:
  SeededScheduler(uint64_t schedule_seed, std::shared_ptr<FiberSwitches> switches);
  ~SeededScheduler() override;

  void awakened(boost::fibers::context* ctx) noexcept override;
  boost::fibers::context* pick_next() noexcept override;
  bool has_ready_fibers() const noexcept override;
  void suspend_until(std::chrono::steady_clock::time_point const& when) noexcept override;
  void notify() noexcept override;

 private:
  Random rng_;
  std::shared_ptr<FiberSwitches> switches_;
  std::vector<boost::fibers::context*> ready_;  // workers; picked at random, removed by swap
  std::deque<boost::fibers::context*> idle_;    // main and dispatcher contexts, FIFO
  // Only reached when nothing at all is ready (never in a running world).
  std::mutex mtx_;
  std::condition_variable cnd_;
  bool flag_ = false;
};

}  // namespace detail
}  // namespace sim
}  // namespace shardsim
