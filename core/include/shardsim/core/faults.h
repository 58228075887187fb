// Fault injection through the seams: a Comm wrapper and a HostMemory wrapper
// that work over any backend (fibers, Gloo, NCCL), plus one fault point in
// distribute_tensors. Faults are values: parsed from text, drawn per seed
// (buggify), logged when they fire, so a report can mark them as injected.
//
// Syntax: KIND:key=value,... (collectives are counted per rank from 1, over
// every group of that rank, in program order):
//
//   crash:rank=R,collective=K      rank R dies with an error at its K-th collective
//   exit:rank=R,collective=K       rank R returns early instead of joining its K-th
//                                  collective (its peers wait for it: a deadlock)
//   skip:rank=R,collective=K       rank R does not call its K-th collective and
//                                  carries on (its later calls pair up wrongly)
//   mismatch:rank=R,collective=K[,field=kind|shape|dtype|root]
//                                  rank R's K-th collective is altered in that field
//                                  (default shape): another kind (a barrier, or a
//                                  byte broadcast for a barrier), one element more,
//                                  another dtype, or the next group rank as root
//   delay:rank=R,collective=K,ms=T rank R arrives T ms late (virtual time on fibers)
//   jitter:p=P,max_ms=M[,rank=R]   before each collective, with probability P% a
//                                  rank (every rank, or R) waits 1..M ms
//   alloc:kind=plain|shared|pinned|any,nth=N[,rank=R]
//                                  the N-th host allocation of that kind fails on
//                                  every rank (or on R); shared and pinned include
//                                  shared+pinned allocations
//   diverge:rank=R[,key=NAME]      rank R's full tensors (or the one under NAME)
//                                  differ in distribute_tensors
//
// Ranks are world ranks. A fault whose collective or allocation never comes
// does not fire, and the report says so.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "shardsim/core/comm.h"
#include "shardsim/core/error.h"
#include "shardsim/core/host_memory.h"
#include "shardsim/core/random.h"

namespace shardsim {

enum class FaultKind { kCrash, kExit, kSkip, kMismatch, kDelay, kJitter, kAlloc, kDiverge };
const char* fault_kind_name(FaultKind kind);  // "crash", ...

// What a mismatch fault alters.
enum class MismatchField { kKind, kShape, kDtype, kRoot };
const char* mismatch_field_name(MismatchField field);

// Which host allocations an alloc fault counts.
enum class AllocFilter { kPlain, kShared, kPinned, kAny };
const char* alloc_filter_name(AllocFilter filter);
// Whether an allocation of `kind` counts for `filter`.
bool alloc_filter_matches(AllocFilter filter, HostAllocKind kind);

struct FaultSpec {
  FaultKind kind = FaultKind::kCrash;
  int64_t rank = -1;       // world rank; -1: every rank (jitter, alloc only)
  int64_t collective = 0;  // crash, exit, skip, mismatch, delay: from 1
  MismatchField field = MismatchField::kShape;
  int64_t ms = 0;       // delay: the delay; jitter: the largest delay
  int64_t percent = 0;  // jitter: chance per collective, 1..100
  AllocFilter alloc = AllocFilter::kAny;
  int64_t nth = 0;  // alloc: from 1
  std::string key;  // diverge: empty = every key

  // Canonical text: parse_fault(str()) == *this.
  std::string str() const;
  // Whether the fault applies to `world_rank`.
  bool targets(int64_t world_rank) const { return rank < 0 || rank == world_rank; }
  friend bool operator==(const FaultSpec& a, const FaultSpec& b);
  friend bool operator!=(const FaultSpec& a, const FaultSpec& b) { return !(a == b); }
};
std::ostream& operator<<(std::ostream& os, const FaultSpec& spec);

// Parses one fault. Throws InvalidArgument naming the text and the bad kind,
// key or value.
FaultSpec parse_fault(const std::string& text);
std::vector<FaultSpec> parse_faults(const std::vector<std::string>& texts);

// Thrown into a rank by an injected fault (crash, exit, alloc, and a
// mismatch whose altered collective returned). `kind` tells them apart: an
// exit is not a failure, the runner lets the rank return.
class InjectedFault : public Error {
 public:
  InjectedFault(FaultKind kind, const std::string& message) : Error(message), kind_(kind) {}
  FaultKind kind() const { return kind_; }

 private:
  FaultKind kind_;
};

// One firing of a fault on one rank.
struct FaultFiring {
  size_t spec = 0;      // index into the plan's specs
  int64_t rank = 0;     // world rank
  std::string where;    // "all_gather seq 2 on group world", "host allocation 3 (pinned ...)"
  bool applied = true;  // false: reached, but the fault does not apply there (a
                        // root mismatch on a collective without a root); `where` says why
};

// The faults of one run and their firings, shared by every rank of the run
// in one process. Firings are kept in the order they happen. Thread-safe.
class FaultPlan {
 public:
  // `seed` drives jitter draws (each rank its own stream).
  explicit FaultPlan(std::vector<FaultSpec> specs = {}, uint64_t seed = 1);

  const std::vector<FaultSpec>& specs() const { return specs_; }
  bool empty() const { return specs_.empty(); }
  uint64_t seed() const { return seed_; }

  void record(size_t spec, int64_t rank, std::string where, bool applied = true);
  std::vector<FaultFiring> firings() const;
  // The specs that fired (and applied) at least once, in plan order.
  std::vector<FaultSpec> fired() const;
  // One line per spec: "crash:rank=1,collective=2 (fired at all_gather seq 2
  // on group world)", "... (did not fire)", "... (fired 12 times; first: ...)".
  std::vector<std::string> report() const;

 private:
  std::vector<FaultSpec> specs_;
  uint64_t seed_;
  mutable std::mutex mu_;
  std::vector<FaultFiring> firings_;
};

// How a rank waits for a delay: virtual time on fibers, a real sleep elsewhere.
using FaultSleep = std::function<void(int64_t ms)>;
// A real sleep of `ms` milliseconds.
void real_sleep_ms(int64_t ms);

// The fault state of one rank: its collective counter (shared by every group
// of the rank), per-group sequence numbers, allocation counters and jitter
// stream. Used from the rank's own thread or fiber only.
class RankFaults {
 public:
  RankFaults(std::shared_ptr<FaultPlan> plan, int64_t world_rank, FaultSleep sleep = real_sleep_ms);

  int64_t world_rank() const { return world_rank_; }
  FaultPlan& plan() { return *plan_; }

  // What a collective must do instead of running normally.
  struct Action {
    enum class Kind { kRun, kCrash, kExit, kSkip, kMismatch } kind = Kind::kRun;
    const FaultSpec* spec = nullptr;
    std::string where;  // "all_gather seq 2 on group world"
  };
  // The slot of the group of `members` (world ranks): sequence numbers are
  // per member list, as on every backend. Cheap to call once per group.
  size_t group_slot(const std::vector<int64_t>& members);
  // Called before each collective of the rank on the group in `slot` (named
  // `group`): counts it, sleeps for delays and jitter (logged), and says what
  // to do.
  Action before_collective(CollectiveKind kind, size_t slot, const std::string& group);
  // Called before each host allocation; throws InjectedFault when it must fail.
  void before_alloc(HostAllocKind kind, c10::IntArrayRef shape, c10::ScalarType dtype);
  // `full` as this rank holds it in distribute_tensors under `key`: altered
  // (every element changed) when a diverge fault targets it.
  at::Tensor diverge(const std::string& key, const at::Tensor& full);

  // Throws the InjectedFault for a crash, exit or returned mismatch.
  [[noreturn]] void raise(const Action& action, const std::string& what) const;

 private:
  std::shared_ptr<FaultPlan> plan_;
  int64_t world_rank_;
  FaultSleep sleep_;
  std::vector<size_t> mine_;  // indices of the specs targeting this rank
  int64_t collectives_ = 0;
  struct GroupSeq {
    uint64_t id;   // digest of the member list
    int64_t size;  // members
    int64_t seq;   // this rank's last sequence number in the group
  };
  std::vector<GroupSeq> group_seq_;
  std::vector<int64_t> alloc_counts_;  // per entry of mine_
  Random jitter_;                      // this rank's jitter draws
};

// `inner` seen through `faults`: every collective of it and of its
// sub-groups passes RankFaults::before_collective. `inner` must outlive the
// result (the world Comm of a fiber rank, say); sub-groups are kept alive.
std::shared_ptr<Comm> make_faulty_comm(Comm& inner, std::shared_ptr<RankFaults> faults);
std::shared_ptr<Comm> make_faulty_comm(std::shared_ptr<Comm> inner,
                                       std::shared_ptr<RankFaults> faults);
// The RankFaults behind `comm` when it is a faulty Comm; null otherwise.
RankFaults* faults_of(Comm& comm);

// `inner` seen through `faults`: allocations pass RankFaults::before_alloc.
std::shared_ptr<HostMemory> make_faulty_host_memory(std::shared_ptr<HostMemory> inner,
                                                    std::shared_ptr<RankFaults> faults);

// The fault point of distribute_tensors: `full` as rank `comm` holds it
// under `key` (altered when a diverge fault targets it; else `full`).
at::Tensor diverge_point(Comm& comm, const std::string& key, const at::Tensor& full);

// FoundationDB's BUGGIFY for one run: a fault plan drawn from `seed` for a
// world of `world` ranks whose collective timeout is `timeout_ms`. Each fault
// point (jitter; crash, exit, skip, mismatch, delay, alloc, diverge at a
// random rank and collective) is switched on with a fixed chance; the same
// seed always draws the same plan.
std::vector<FaultSpec> buggify_plan(uint64_t seed, int64_t world, int64_t timeout_ms);

}  // namespace shardsim
