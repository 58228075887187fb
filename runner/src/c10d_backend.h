// The c10d backends of the runner (Gloo, NCCL): the ranks of a scenario are
// the processes of one real world, one rank per process, each running the
// same specs in the same order.
//
// Vocabulary. A *world* is one c10d world (C10dComm) that runs many specs.
// After each spec every rank posts a *note* (its RankRun and how it failed)
// through the store; rank 0 gathers them, decides the outcome and the *next*
// step (go on, renew the world after a failure, or stop because a rank is
// gone) and posts it; every rank follows. A rank whose scenario fails aborts
// the world first, so peers waiting in collectives for it give up at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "shardsim/runner/run.h"

namespace shardsim {
class HostMemory;
namespace c10d {
class C10dComm;
}
}  // namespace shardsim

namespace shardsim::runner::real {

// One rank's account of one spec.
struct RankNote {
  RankRun run;
  bool echo = false;  // failed only because another rank aborted the world
  bool comm = false;  // failed by a CommError of its own (a peer died, a timeout)
  // Per fault of the spec (FaultPlan order): whether it fired on this rank,
  // and its report line as this rank saw it.
  std::vector<bool> fault_fired;
  std::vector<std::string> fault_lines;

  friend bool operator==(const RankNote& a, const RankNote& b);
};
std::string encode_note(const RankNote& note);
// Throws Error on malformed text.
RankNote decode_note(const std::string& text);

// What rank 0 makes of the notes of every rank (nullopt: the rank posted
// none in time).
struct WorldOutcome {
  Outcome outcome = Outcome::kPassed;
  std::string reason;                 // the root causes (failing ranks other than echoes)
  std::string values = "-";           // combine_values() when every rank passed
  std::vector<int64_t> missing;       // ranks without a note
  bool any_failed = false;            // some rank failed or left (its groups need renewing)
  std::vector<std::string> injected;  // one line per fault, as a rank it fired on saw it
  std::vector<size_t> fired;          // the faults that fired on some rank
};
WorldOutcome decide(const std::vector<std::optional<RankNote>>& notes, double waited_s);

// What the world does after a spec.
enum class Next { kContinue, kRenew, kStop };

// Bounds of a world's waits, from the --timeout of its specs.
struct WorldTimeouts {
  std::chrono::milliseconds timeout;  // every collective, connect, renew
  std::chrono::milliseconds census;   // the census after a failure
  // How long rank 0 still waits for notes after the first failure it sees.
  std::chrono::milliseconds after_failure() const { return census + std::chrono::seconds(1); }
  // The longest a spec's wrap-up may take on rank 0 (a collective timing
  // out, its census, the notes): bounds the wait for rank 0's verdict.
  std::chrono::milliseconds verdict_bound() const {
    return timeout * 2 + census * 2 + std::chrono::seconds(5);
  }
};
// The default collective timeout on real backends, seconds.
constexpr double kDefaultTimeoutSeconds = 120;
// The timeouts of a world that runs `specs` (the largest timeout_s; the
// default where none is given).
WorldTimeouts world_timeouts(const std::vector<RunSpec>& specs);

// A Backend over one world. Not thread-safe; one per process.
class C10dBackend : public Backend {
 public:
  C10dBackend(std::shared_ptr<c10d::C10dComm> world, WorldTimeouts timeouts);
  ~C10dBackend() override;

  std::string name() const override;  // "gloo" or "nccl"
  // Runs one spec on this rank; on rank 0 the result carries the outcome
  // of the whole world, elsewhere only what rank 0 decided to do next.
  RunResult run(const Scenario& scenario, const RunSpec& spec) override;

  int64_t rank() const;
  // The index in the run's list of the spec that run() gets next (what
  // SHARDSIM_TEST_KILL's spec= counts).
  void set_run_index(size_t index) { run_index_ = index; }
  // The world cannot run more specs: a rank is gone, renewing failed, or an
  // NCCL world saw a failure. Says why.
  bool stopped() const { return !stop_reason_.empty(); }
  const std::string& stop_reason() const { return stop_reason_; }
  // Leaves the world in order (C10dComm::finish); rank 0 returns when every
  // rank has. Throws CommError.
  void finish();

 private:
  RankNote run_here(const Scenario& scenario, const RunSpec& spec);
  WorldOutcome gather(const RankNote& mine, int64_t spec_index);
  void follow(Next next);

  std::shared_ptr<c10d::C10dComm> world_;
  // Worlds left behind by renew(): kept alive (a broken Gloo group's
  // destructor can block); the process leaves with _exit.
  std::vector<std::shared_ptr<c10d::C10dComm>> retired_;
  std::shared_ptr<HostMemory> host_;
  WorldTimeouts timeouts_;
  int64_t specs_run_ = 0;  // in this world: names each spec's store keys
  size_t run_index_ = 0;
  std::string stop_reason_;
};

}  // namespace shardsim::runner::real
