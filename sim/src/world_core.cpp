#include "world_core.h"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <new>

#include <c10/util/Exception.h>
#include <boost/fiber/fiber.hpp>
#include <boost/fiber/fixedsize_stack.hpp>
#include <boost/fiber/operations.hpp>
#include <boost/fiber/protected_fixedsize_stack.hpp>

#include "collective.h"
#include "diagnosis.h"
#include "fake_comm.h"
#include "seeded_scheduler.h"
#include "shardsim/core/error.h"
#include "shardsim/sim/accelerator.h"

namespace shardsim {
namespace sim {
namespace detail {

WorldCore::WorldCore(const WorldOptions& options, const std::function<void(RankEnv&)>& body)
    : options_(options),
      body_(&body),
      ranks_(static_cast<size_t>(options.world_size)),
      trace_(options.record_trace) {
  for (int64_t r = 0; r < options_.world_size; ++r) ranks_[r].report.rank = r;
  if (options_.device_kind == DeviceKind::kSimulated) ensure_simulated_accelerator();
}

WorldCore::~WorldCore() = default;

c10::Device WorldCore::device_of(int64_t rank) const {
  if (options_.device_kind == DeviceKind::kCpu) return c10::Device(c10::kCPU);
  return simulated_device(rank % options_.ranks_per_host);
}

void WorldCore::check_running() const {
  if (stopping_) throw WorldStopped{};
}

void WorldCore::check_may_suspend(int64_t rank, const char* what) const {
  if (std::current_exception()) {
    throw Error("rank " + std::to_string(rank) + ": " + what +
                " called inside a catch block; fibers share the thread's caught-exception "
                "stack, so a rank must leave the handler before it suspends");
  }
}

void WorldCore::block(int64_t rank) {
  check_running();
  RankState& st = ranks_[rank];
  st.ctx = boost::fibers::context::active();
  st.blocked = true;
  st.ctx->suspend();
  switches_->finished();
  check_running();
}

void WorldCore::wake(int64_t rank) {
  RankState& st = ranks_[rank];
  if (!st.blocked) return;
  st.blocked = false;
  boost::fibers::context::active()->schedule(st.ctx);
}

void WorldCore::sleep_ms(int64_t rank, int64_t ms) {
  SHARDSIM_CHECK_ARG(ms >= 0, "rank ", rank, ": sleep_ms(", ms, ")");
  check_may_suspend(rank, "sleep_ms");
  check_running();
  RankState& st = ranks_[rank];
  st.wake_at = now_ms_ + ms;
  trace_.record(EventKind::kSleep, rank, static_cast<uint64_t>(st.wake_at));
  if (trace_.keeps_lines()) {
    trace_.add_line("t=" + std::to_string(now_ms_) + " rank " + std::to_string(rank) +
                    " sleep until t=" + std::to_string(st.wake_at));
  }
  sleepers_.emplace(std::make_pair(st.wake_at, sleep_order_++), rank);
  st.wait = RankState::Wait::kSleep;
  block(rank);
  st.wait = RankState::Wait::kNone;
}

void WorldCore::begin_collective_wait(int64_t rank) {
  RankState& st = ranks_[rank];
  st.wait_since = now_ms_;
  if (options_.collective_timeout_ms > 0) {
    deadlines_.emplace(now_ms_ + options_.collective_timeout_ms, rank);
  }
}

void WorldCore::end_collective_wait(int64_t rank) {
  RankState& st = ranks_[rank];
  if (options_.collective_timeout_ms > 0) {
    deadlines_.erase(std::make_pair(st.wait_since + options_.collective_timeout_ms, rank));
  }
  st.wait_since = -1;
}

void WorldCore::yield(int64_t rank) {
  check_may_suspend(rank, "yield");
  check_running();
  trace_.record(EventKind::kYield, rank);
  boost::this_fiber::yield();
  switches_->finished();
  check_running();
}

GroupState& WorldCore::group(const std::vector<int64_t>& members) {
  auto it = groups_.find(members);
  if (it != groups_.end()) return *it->second;
  SHARDSIM_CHECK_ARG(!members.empty(), "a group needs at least one member");
  std::vector<char> seen(static_cast<size_t>(options_.world_size), 0);
  for (int64_t m : members) {
    SHARDSIM_CHECK_ARG(m >= 0 && m < options_.world_size, "group member ", m,
                       " is not a rank of a world of ", options_.world_size);
    SHARDSIM_CHECK_ARG(!seen[m], "rank ", m, " appears twice in a group");
    seen[m] = 1;
  }
  auto group = std::make_unique<GroupState>();
  group->members = members;
  group->name = group_name(members, options_.world_size);
  Digest id;
  id.update_u64(members.size());
  for (int64_t m : members) id.update_i64(m);
  group->id = id.value();
  group->last_seq.assign(members.size(), 0);
  GroupState& ref = *group;
  groups_.emplace(members, std::move(group));
  return ref;
}

void WorldCore::stop(WorldResult::Status status, std::string diagnosis) {
  if (stopping_) return;
  stopping_ = true;
  stop_status_ = status;
  diagnosis_ = std::move(diagnosis);
  trace_.record(EventKind::kStop, -1, static_cast<uint64_t>(status));
  for (RankState& st : ranks_) {
    if (!st.blocked) continue;
    st.report.status = RankReport::Status::kBlocked;
    if (st.wait == RankState::Wait::kSleep) {
      st.report.pending = "sleep(until=" + std::to_string(st.wake_at) + " ms)";
    } else if (st.op != nullptr) {
      st.report.pending = st.op->fp.str();
    }
  }
  sleepers_.clear();
  deadlines_.clear();
  for (int64_t r = 0; r < options_.world_size; ++r) wake(r);
}

void WorldCore::fail(RankState& st, std::string message) {
  st.report.status = RankReport::Status::kError;
  st.report.error = std::move(message);
  ++failed_;
  failure_order_.push_back(st.report.rank);
}

// The top level of a rank's fiber: every exception ends here.
void WorldCore::rank_main(int64_t rank) {
  switches_->finished();
  RankState& st = ranks_[rank];
  if (!stopping_) {
    st.started = true;
    trace_.record(EventKind::kStart, rank);
    try {
      Random data = rank_stream(options_.data_seed, rank);
      Random shared = shared_stream(options_.data_seed);
      FakeComm comm(*this, *world_group_, rank);
      RankEnv env(*this, rank, comm, data, shared, st.values);
      (*body_)(env);
      st.report.status = RankReport::Status::kFinished;
    } catch (const WorldStopped&) {
      if (st.report.status != RankReport::Status::kBlocked) {
        st.report.status = RankReport::Status::kStopped;
      }
    } catch (const c10::Error& e) {
      fail(st, e.what_without_backtrace());
    } catch (const std::exception& e) {
      fail(st, e.what());
    } catch (...) {
      fail(st, "an exception not derived from std::exception");
    }
  }
  st.done = true;
  trace_.record(EventKind::kFinish, rank, static_cast<uint64_t>(st.report.status));
  if (trace_.keeps_lines()) {
    trace_.add_line("t=" + std::to_string(now_ms_) + " rank " + std::to_string(rank) + " " +
                    rank_status_name(st.report.status));
  }
  ++done_;
}

void WorldCore::launch_fibers() {
  const int64_t n = options_.world_size;
  const bool protect = options_.stacks == StackKind::kProtected ||
                       (options_.stacks == StackKind::kAuto && n <= kMaxProtectedRanks);
  for (int64_t r = 0; r < n; ++r) {
    auto fn = [this, r] { rank_main(r); };
    try {
      if (protect) {
        RegisteredStack<boost::fibers::protected_fixedsize_stack> stack(
            boost::fibers::protected_fixedsize_stack(options_.stack_bytes), switches_);
        boost::fibers::fiber(boost::fibers::launch::post, std::allocator_arg, std::move(stack), fn)
            .detach();
      } else {
        RegisteredStack<boost::fibers::fixedsize_stack> stack(
            boost::fibers::fixedsize_stack(options_.stack_bytes), switches_);
        boost::fibers::fiber(boost::fibers::launch::post, std::allocator_arg, std::move(stack), fn)
            .detach();
      }
    } catch (const std::bad_alloc&) {
      // The fibers launched so far sit in Boost's scheduler and point at this
      // world: they must end before it does (a stopped world runs no rank body).
      stopping_ = true;
      while (done_ < r) {
        boost::this_fiber::yield();
        switches_->finished();
      }
      throw InvalidArgument("a fiber world of " + std::to_string(n) +
                            " ranks does not fit in this machine: the stack of rank " +
                            std::to_string(r) + " (" + std::to_string(options_.stack_bytes / 1024) +
                            " KiB) could not be allocated; use a smaller world");
    }
  }
}

void WorldCore::advance_clock() {
  const int64_t t = sleepers_.begin()->first.first;
  now_ms_ = t;
  trace_.record(EventKind::kClock, -1, static_cast<uint64_t>(t));
  if (trace_.keeps_lines()) trace_.add_line("t=" + std::to_string(t) + " clock");
  while (!sleepers_.empty() && sleepers_.begin()->first.first == t) {
    const int64_t r = sleepers_.begin()->second;
    sleepers_.erase(sleepers_.begin());
    wake(r);
  }
}

void WorldCore::time_out() {
  const auto [deadline, rank] = *deadlines_.begin();
  now_ms_ = deadline;
  trace_.record(EventKind::kClock, -1, static_cast<uint64_t>(deadline));
  if (trace_.keeps_lines()) trace_.add_line("t=" + std::to_string(deadline) + " clock (timeout)");
  stop(WorldResult::Status::kTimeout, timeout_report(*this, rank));
}

// Called when no rank is ready and the world has stopped, yet some rank is
// not done: it is suspended in something other than the world's own waits
// (a Boost.Fiber primitive, say), which the world cannot unwind.
void WorldCore::quiesce() {
  std::vector<int64_t> stuck;
  for (int64_t r = 0; r < options_.world_size; ++r) {
    if (!ranks_[r].done) stuck.push_back(r);
  }
  std::fprintf(stderr,
               "shardsim fiber world: %s cannot be unwound after the world stopped (suspended "
               "outside the world's collectives and sleeps)\n%s\n",
               ranks_str(stuck).c_str(), diagnosis_.c_str());
  std::abort();
}

WorldResult WorldCore::run() {
  boost::fibers::use_scheduling_algorithm<SeededScheduler>(options_.schedule_seed, switches_);
  std::vector<int64_t> everyone(static_cast<size_t>(options_.world_size));
  for (int64_t r = 0; r < options_.world_size; ++r) everyone[r] = r;
  world_group_ = &group(everyone);
  launch_fibers();
  // The main context runs only when no rank is ready (SeededScheduler).
  while (true) {
    boost::this_fiber::yield();
    switches_->finished();
    if (done_ == options_.world_size) break;
    if (stopping_) quiesce();
    if (!sleepers_.empty()) {
      if (!deadlines_.empty() && deadlines_.begin()->first < sleepers_.begin()->first.first) {
        time_out();
      } else {
        advance_clock();
      }
      continue;
    }
    stop(failed_ > 0 ? WorldResult::Status::kError : WorldResult::Status::kDeadlock,
         quiescent_report(*this, failed_ > 0));
  }
  return result();
}

WorldResult WorldCore::result() {
  WorldResult res;
  if (stopping_) {
    res.status = stop_status_;
    res.diagnosis = diagnosis_;
  } else if (failed_ > 0) {
    res.status = WorldResult::Status::kError;
    res.diagnosis = quiescent_report(*this, true);
  }
  res.world_size = options_.world_size;
  res.schedule_seed = options_.schedule_seed;
  res.data_seed = options_.data_seed;
  res.trace_digest = trace_.hex();
  res.events = trace_.events();
  res.virtual_ms = now_ms_;
  res.failure_order = failure_order_;
  Digest values;
  res.ranks.reserve(ranks_.size());
  for (RankState& st : ranks_) {
    values.update_u64(st.values.value());
    res.ranks.push_back(std::move(st.report));
  }
  res.values_digest = values.hex();
  res.trace = trace_.take_lines();
  return res;
}

}  // namespace detail
}  // namespace sim
}  // namespace shardsim
