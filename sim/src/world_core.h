// The state of one running fiber world: ranks, their waits, the virtual
// clock, the groups and their collectives, the trace, and the stop. Lives on
// the world's own thread for the length of one FiberWorld::run.
//
// Vocabulary: a rank is *blocked* while its fiber is suspended waiting (in a
// collective or a sleep) and *done* once its body has returned or thrown.
// The world is *quiescent* when no rank is ready to run; then the main loop
// advances the clock to the earliest sleeper, or, with none, stops the world
// (deadlock, or error when some rank failed). With a collective timeout, a
// wait whose deadline comes before the earliest sleeper wakes stops the world
// at that deadline (timeout): the late member could not have arrived in time.
// *Stopping* wakes every blocked rank with WorldStopped, which unwinds it to
// its fiber's top level.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <boost/fiber/context.hpp>

#include "fiber_switches.h"
#include "shardsim/core/digest.h"
#include "shardsim/sim/fiber_world.h"
#include "trace.h"

namespace shardsim {
namespace sim {
namespace detail {

struct GroupState;
struct Op;

// Thrown into a rank when the world stops; not a std::exception, so ordinary
// handlers let it pass. Swallowed at the fiber's top level.
struct WorldStopped {};

struct RankState {
  enum class Wait { kNone, kCollective, kSleep };
  boost::fibers::context* ctx = nullptr;  // valid while blocked
  bool started = false;
  bool blocked = false;
  bool done = false;
  Wait wait = Wait::kNone;
  Op* op = nullptr;         // the collective it is in (joined, not yet left)
  int64_t wake_at = -1;     // while sleeping: virtual time to wake at
  int64_t wait_since = -1;  // while waiting in a collective: virtual time it began
  std::string disagreeing;  // the fingerprint it called when it caused a mismatch
  RankReport report;
  Digest values;
};

class WorldCore {
 public:
  WorldCore(const WorldOptions& options, const std::function<void(RankEnv&)>& body);
  ~WorldCore();

  // Runs the world on the calling thread, which must have no other fibers:
  // installs the seeded scheduler, runs every rank to the end and returns the
  // result.
  WorldResult run();

  const WorldOptions& options() const { return options_; }
  int64_t world_size() const { return options_.world_size; }
  int64_t now_ms() const { return now_ms_; }
  Trace& trace() { return trace_; }
  c10::Device device_of(int64_t rank) const;
  RankState& rank_state(int64_t rank) { return ranks_[rank]; }
  const RankState& rank_state(int64_t rank) const { return ranks_[rank]; }

  // Suspends `rank` (the running fiber) until wake(rank). Throws WorldStopped
  // if the world has stopped, before or during the wait.
  void block(int64_t rank);
  // Makes a blocked rank ready again (no effect on a rank that is not blocked).
  void wake(int64_t rank);
  bool stopping() const { return stopping_; }
  // Throws WorldStopped when the world has stopped.
  void check_running() const;
  // Throws Error when `rank` is about to suspend inside a catch block (the
  // thread's caught-exception stack would be shared with other fibers).
  void check_may_suspend(int64_t rank, const char* what) const;

  void sleep_ms(int64_t rank, int64_t ms);

  // A collective wait of `rank` begins or ends (the running fiber): with a
  // collective timeout, its deadline is watched while it lasts.
  void begin_collective_wait(int64_t rank);
  void end_collective_wait(int64_t rank);

  // Ranks that threw, in the order they did.
  const std::vector<int64_t>& failure_order() const { return failure_order_; }
  void yield(int64_t rank);

  // The group of `members` (world ranks, in group-rank order), created on
  // first use. Throws InvalidArgument on an empty list, a rank out of range or
  // a repeated rank.
  GroupState& group(const std::vector<int64_t>& members);

  // Stops the world at once with `status`: records the diagnosis, reports
  // every waiting rank as blocked (with what it waits in) and wakes it.
  void stop(WorldResult::Status status, std::string diagnosis);

 private:
  void rank_main(int64_t rank);
  void fail(RankState& st, std::string message);
  void advance_clock();
  void time_out();
  void quiesce();
  void launch_fibers();
  WorldResult result();

  WorldOptions options_;
  const std::function<void(RankEnv&)>* body_;
  std::vector<RankState> ranks_;
  int64_t done_ = 0;
  int64_t failed_ = 0;
  bool stopping_ = false;
  WorldResult::Status stop_status_ = WorldResult::Status::kOk;
  std::string diagnosis_;
  int64_t now_ms_ = 0;
  // Sleeping ranks by (wake-up time, order of falling asleep).
  std::map<std::pair<int64_t, uint64_t>, int64_t> sleepers_;
  uint64_t sleep_order_ = 0;
  // Collective waits by (deadline, rank), when there is a collective timeout.
  std::set<std::pair<int64_t, int64_t>> deadlines_;
  std::vector<int64_t> failure_order_;
  Trace trace_;
  std::map<std::vector<int64_t>, std::unique_ptr<GroupState>> groups_;
  GroupState* world_group_ = nullptr;
  // Stack switches announced to AddressSanitizer (no-op without it); shared
  // with the scheduler and the stacks, which outlive the world by a little.
  std::shared_ptr<FiberSwitches> switches_ = std::make_shared<FiberSwitches>();
};

}  // namespace detail
}  // namespace sim
}  // namespace shardsim
