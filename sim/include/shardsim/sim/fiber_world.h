// The fiber world: N ranks of one SPMD program run as Boost.Fiber fibers on
// one thread, over a fake collective backend (Comm "fiber"), with a seeded
// scheduler, virtual time, instant deadlock and mismatch diagnosis, and an
// event trace whose digest a schedule seed fixes.
//
// Determinism: two seeds, kept apart. `schedule_seed` drives only the choice
// of the next ready fiber; `data_seed` gives each rank rank_stream(seed, rank)
// and shared_stream(seed). Same options and body -> same result, byte for
// byte; the values a rank computes depend on the data seed alone.
//
// Rules for rank bodies (fibers share one thread):
// - Never suspend (call a collective, sleep or yield) inside a catch block:
//   the C++ runtime keeps one stack of caught exceptions per thread. The
//   world detects it and fails the rank.
// - Never hold an ATen thread-local guard (no-grad, RNG) across a suspension.
// - When the world stops (deadlock, mismatch), blocked ranks are unwound by an
//   internal exception that does not derive from std::exception; a rank that
//   catches it with catch (...) must rethrow it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include <c10/core/Device.h>

#include "shardsim/core/comm.h"
#include "shardsim/core/digest.h"
#include "shardsim/core/random.h"

namespace shardsim {
namespace sim {

namespace detail {
class WorldCore;
}  // namespace detail

// Where a rank's tensors live (Comm::device() and RankEnv::device()).
enum class DeviceKind {
  kCpu,        // every rank on CPU (as on Gloo)
  kSimulated,  // the simulated accelerator (accelerator.h), local index rank % ranks_per_host
};

// How fiber stacks are allocated.
enum class StackKind {
  kAuto,       // protected up to kMaxProtectedRanks ranks, fixed above
  kFixed,      // plain heap blocks: cheapest, no overflow guard
  kProtected,  // mmap with a guard page: an overflow faults instead of corrupting
};

// Protected stacks take two kernel mappings each (vm.max_map_count is 65530).
constexpr int64_t kMaxProtectedRanks = 16384;

struct WorldOptions {
  int64_t world_size = 1;                           // number of ranks, >= 1
  uint64_t schedule_seed = 1;                       // drives the scheduler only
  uint64_t data_seed = 1;                           // drives RankEnv::data() and shared()
  size_t stack_bytes = 64 * 1024;                   // per fiber; >= 16 KiB (ATen needs ~10 KiB)
  StackKind stacks = StackKind::kAuto;              // see StackKind
  int64_t ranks_per_host = 8;                       // simulated device index = rank % this; 1..128
  DeviceKind device_kind = DeviceKind::kSimulated;  // see DeviceKind
  bool record_trace = false;  // keep readable event lines in WorldResult::trace
  // A member that waits longer than this in one collective (virtual time)
  // stops the world with kTimeout, naming the late ranks; 0: never. A world
  // in which nobody can come is a deadlock at once, timeout or not.
  int64_t collective_timeout_ms = 0;
};

// What one rank of a world sees: its rank, the world group, its data streams,
// its device and virtual time. Valid only inside the body, on its own fiber
// (so are the Comm objects it hands out, sub-groups included).
class RankEnv {
 public:
  RankEnv(const RankEnv&) = delete;
  RankEnv& operator=(const RankEnv&) = delete;

  int64_t rank() const { return rank_; }
  int64_t world_size() const;
  // The world group, named "world"; sub-groups via comm().subgroup / mesh_group.
  Comm& comm() { return comm_; }
  // This rank's data stream: rank_stream(data_seed, rank).
  Random& data() { return data_; }
  // The stream every rank sees identically: shared_stream(data_seed).
  Random& shared() { return shared_; }
  // The device this rank's tensors live on (same as comm().device()).
  c10::Device device() const { return comm_.device(); }
  // This rank's contribution to WorldResult::values_digest (fed by the body).
  Digest& values() { return values_; }

  // The world's virtual clock in milliseconds (starts at 0; never the wall clock).
  int64_t now_ms() const;
  // Suspends this rank for `ms` of virtual time (>= 0). The clock advances
  // only when no rank can run, to the earliest wake-up.
  void sleep_ms(int64_t ms);
  // Lets the scheduler pick another ready rank (a scheduling point).
  void yield();

 private:
  friend class detail::WorldCore;
  RankEnv(detail::WorldCore& core, int64_t rank, Comm& comm, Random& data, Random& shared,
          Digest& values)
      : core_(core), rank_(rank), comm_(comm), data_(data), shared_(shared), values_(values) {}

  detail::WorldCore& core_;
  int64_t rank_;
  Comm& comm_;
  Random& data_;
  Random& shared_;
  Digest& values_;
};

// How one rank ended.
struct RankReport {
  enum class Status {
    kFinished,  // the body returned
    kError,     // the body threw; `error` holds the message
    kBlocked,   // waited (collective or sleep) when the world stopped; `pending` says in what
    kStopped,   // was runnable when the world stopped and was unwound, or never started
  };
  int64_t rank = 0;
  Status status = Status::kStopped;
  std::string error;    // kError: the exception's message
  std::string pending;  // kBlocked (and a mismatching rank): the fingerprint of the operation

  // "rank 2: blocked in all_gather(group=world, seq=1, ...)"
  std::string str() const;
};
const char* rank_status_name(RankReport::Status status);  // "finished", ...
std::ostream& operator<<(std::ostream& os, const RankReport& report);

struct WorldResult {
  enum class Status {
    kOk,        // every rank finished
    kError,     // some rank threw (its peers may have been left blocked)
    kDeadlock,  // no rank could run and some waited in collectives
    kMismatch,  // members of a group called disagreeing collectives
    kTimeout,   // a member waited in a collective past collective_timeout_ms
  };
  Status status = Status::kOk;
  // Empty when kOk; else a multi-line report naming ranks, their states and fingerprints.
  std::string diagnosis;
  std::vector<RankReport> ranks;  // indexed by rank
  std::vector<int64_t> failure_order;  // ranks that threw (kError), in the order they did
  int64_t world_size = 0;
  uint64_t schedule_seed = 0;
  uint64_t data_seed = 0;
  std::string trace_digest;   // 16 hex digits over the event trace (fixed by schedule_seed)
  std::string values_digest;  // 16 hex digits over every rank's RankEnv::values(), in rank order
  uint64_t events = 0;        // number of trace events
  int64_t virtual_ms = 0;     // the virtual clock when the world ended
  std::vector<std::string> trace;  // event lines, when WorldOptions::record_trace

  bool ok() const { return status == Status::kOk; }
  // "status=ok world=8 schedule_seed=1 data_seed=1 trace=... values=... events=..."
  std::string summary() const;
};
const char* world_status_name(WorldResult::Status status);  // "ok", "error", ...
std::ostream& operator<<(std::ostream& os, const WorldResult& result);

class FiberWorld {
 public:
  // Throws InvalidArgument on options out of range.
  explicit FiberWorld(WorldOptions options);

  const WorldOptions& options() const { return options_; }

  // Runs `body` once per rank, each on its own fiber, until every rank has
  // finished or the world stopped; expected outcomes (errors, deadlock,
  // mismatch) are in the result, never thrown. Each call is a fresh world on
  // a thread of its own (the caller's thread and its fiber scheduler are left
  // alone; ATen thread-local state is carried over), so worlds can run one
  // after the other or side by side.
  WorldResult run(const std::function<void(RankEnv&)>& body) const;

 private:
  WorldOptions options_;
};

// FiberWorld(options).run(body).
WorldResult run_world(const WorldOptions& options, const std::function<void(RankEnv&)>& body);

}  // namespace sim
}  // namespace shardsim
