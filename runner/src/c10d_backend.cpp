// C10dBackend: one spec on one rank of a real world, and the agreement on
// its outcome through the store (see c10d_backend.h for the vocabulary).
#include "c10d_backend.h"

#include <algorithm>
#include <thread>

#include "c10d_backend_faults.h"
#include "shardsim/c10d/c10d_comm.h"
#include "shardsim/core/error.h"
#include "shardsim/core/host_memory.h"

namespace shardsim::runner::real {

namespace {

using Clock = std::chrono::steady_clock;
using ::shardsim::detail::concat;

std::string note_key(int64_t spec_index, int64_t rank) {
  return concat("spec/", spec_index, "/rank/", rank);
}
std::string next_key(int64_t spec_index) { return concat("spec/", spec_index, "/next"); }
std::string seen_key(int64_t spec_index, int64_t rank) {
  return concat("spec/", spec_index, "/seen/", rank);
}

// "<next> <outcome>\n<why the world stops>"
std::string encode_next(Next next, Outcome outcome, const std::string& why) {
  return concat(static_cast<int>(next), " ", outcome_name(outcome), "\n", why);
}

}  // namespace

WorldTimeouts world_timeouts(const std::vector<RunSpec>& specs) {
  double seconds = 0;
  for (const RunSpec& s : specs) seconds = std::max(seconds, s.timeout_s);
  if (seconds <= 0) seconds = kDefaultTimeoutSeconds;
  WorldTimeouts t;
  t.timeout = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  // Long enough for live ranks on a loaded machine, short next to the timeout.
  t.census = std::min<std::chrono::milliseconds>(std::chrono::seconds(5), t.timeout / 4);
  return t;
}

C10dBackend::C10dBackend(std::shared_ptr<c10d::C10dComm> world, WorldTimeouts timeouts)
    : world_(std::move(world)), host_(make_host_memory()), timeouts_(timeouts) {}

C10dBackend::~C10dBackend() = default;

std::string C10dBackend::name() const { return world_->backend(); }

int64_t C10dBackend::rank() const { return world_->rank(); }

void C10dBackend::finish() { world_->finish(); }

RankNote C10dBackend::run_here(const Scenario& scenario, const RunSpec& spec) {
  ScenarioConfig config;
  config.data_seed = spec.seed;
  config.mesh_shape = spec.mesh;
  config.backend = name();
  const FaultyRank faulty = apply_faults(world_, host_, spec, run_index_, rank());
  bool echo = false, comm_error = false;
  Scenario watched = scenario;
  watched.body = [&](ScenarioContext& ctx) {
    try {
      scenario.body(ctx);
    } catch (const c10d::AbandonedError&) {
      echo = true;
      throw;
    } catch (const CommError&) {
      comm_error = true;
      throw;
    }
  };
  RankNote note;
  note.run = run_rank(watched, *faulty.comm, *faulty.host, config);
  note.echo = echo && !note.run.ok;
  note.comm = comm_error && !note.run.ok;
  const std::vector<FaultSpec> fired = faulty.plan->fired();
  const std::vector<std::string> lines = faulty.plan->report();
  for (size_t i = 0; i < faulty.plan->specs().size(); ++i) {
    const FaultSpec& f = faulty.plan->specs()[i];
    note.fault_fired.push_back(std::find(fired.begin(), fired.end(), f) != fired.end());
    note.fault_lines.push_back(i < lines.size() ? lines[i] : f.str());
  }
  // Peers waiting for this rank in a collective must not wait out the timeout.
  if (note.run.exited) {
    world_->abort(note.run.message);
  } else if (!note.run.ok && !note.echo) {
    world_->abort(note.run.message);
  }
  return note;
}

WorldOutcome C10dBackend::gather(const RankNote& mine, int64_t spec_index) {
  const auto n = static_cast<size_t>(world_->size());
  std::vector<std::optional<RankNote>> notes(n);
  notes[0] = mine;
  const auto start = Clock::now();
  // A rank stuck in a collective fails after the timeout and its census.
  // Once a failure is known, the others follow within a census; a failure
  // that took a census itself (a CommError) has waited for them already.
  auto deadline = start + timeouts_.timeout + timeouts_.after_failure();
  const auto failure_seen = [&](const RankNote& note) {
    const auto grace = note.comm ? std::chrono::milliseconds(1000) : timeouts_.after_failure();
    deadline = std::min(deadline, Clock::now() + grace);
  };
  if (!mine.run.ok) failure_seen(mine);
  size_t have = 1;
  auto pause = std::chrono::milliseconds(1);
  while (have < n) {
    for (size_t r = 1; r < n; ++r) {
      if (notes[r]) continue;
      std::optional<std::string> text = world_->fetch(note_key(spec_index, static_cast<int64_t>(r)),
                                                      std::chrono::milliseconds(0));
      if (!text) continue;
      notes[r] = decode_note(*text);
      ++have;
      if (!notes[r]->run.ok) failure_seen(*notes[r]);
      pause = std::chrono::milliseconds(1);
    }
    if (have == n || Clock::now() >= deadline) break;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
  const double waited = std::chrono::duration<double>(Clock::now() - start).count();
  return decide(notes, waited);
}

void C10dBackend::follow(Next next) {
  if (next != Next::kRenew) return;
  retired_.push_back(world_);
  try {
    world_ = world_->renew();
  } catch (const std::exception& e) {
    stop_reason_ = concat("renewing the world after a failure failed: ", e.what());
  }
}

RunResult C10dBackend::run(const Scenario& scenario, const RunSpec& spec) {
  SHARDSIM_CHECK(!stopped(), "rank ", rank(), ": the world has stopped: ", stop_reason_);
  const int64_t index = specs_run_++;
  RunResult r;
  RankNote mine;
  try {
    mine = run_here(scenario, spec);
    if (rank() != 0) world_->post(note_key(index, rank()), encode_note(mine));
  } catch (const std::exception& e) {
    // The store is gone: world rank 0, which serves it, is dead.
    stop_reason_ = e.what();
    r.outcome = Outcome::kError;
    r.reason = stop_reason_;
    return r;
  }

  Next next = Next::kContinue;
  if (rank() == 0) {
    const WorldOutcome w = gather(mine, index);
    r.outcome = w.outcome;
    r.reason = w.reason;
    r.values = w.values;
    r.injected = w.injected;
    const std::vector<FaultSpec>& faults = spec.faults;
    for (size_t i : w.fired) {
      if (i < faults.size()) r.fired.push_back(faults[i]);
    }
    for (size_t i = 0; i < faults.size() && i < r.injected.size(); ++i) {
      const bool fired = std::find(w.fired.begin(), w.fired.end(), i) != w.fired.end();
      const bool unheard =
          std::find(w.missing.begin(), w.missing.end(), faults[i].rank) != w.missing.end();
      if (!fired && unheard) {
        r.injected[i] =
            concat(faults[i].str(), " (unknown: rank ", faults[i].rank, " did not report)");
      }
    }
    std::string why;
    if (!w.missing.empty()) {
      next = Next::kStop;
      why = w.reason.substr(0, w.reason.find('\n'));
    } else if (w.any_failed) {
      // An NCCL kernel abandoned on a stream cannot be taken back; Gloo's
      // pending operations just time out in the background.
      next = name() == "nccl" ? Next::kStop : Next::kRenew;
      if (next == Next::kStop) why = "an NCCL world does not go on after a failure";
    }
    world_->post(next_key(index), encode_next(next, r.outcome, why));
    if (next == Next::kStop) {
      stop_reason_ = why;
      // Rank 0's process serves the store: it stays until the others have read the verdict.
      for (int64_t peer = 1; peer < world_->size(); ++peer) {
        if (std::find(w.missing.begin(), w.missing.end(), peer) != w.missing.end()) continue;
        world_->fetch(seen_key(index, peer), timeouts_.census);
      }
    }
  } else {
    std::optional<std::string> text;
    try {
      text = world_->fetch(next_key(index), timeouts_.verdict_bound());
    } catch (const std::exception& e) {
      stop_reason_ = e.what();
    }
    if (!text) {
      if (stop_reason_.empty()) {
        stop_reason_ = concat("rank 0 did not say how the world goes on after spec ", index,
                              " within ", timeouts_.verdict_bound().count() / 1000.0, " s");
      }
      r.outcome = Outcome::kError;
      r.reason = stop_reason_;
      return r;
    }
    const size_t newline = text->find('\n');
    const std::string head = text->substr(0, newline);
    next = static_cast<Next>(std::stoi(head.substr(0, head.find(' '))));
    r.outcome = parse_outcome(head.substr(head.find(' ') + 1));
    if (next == Next::kStop) {
      stop_reason_ = text->substr(newline + 1);
      try {
        world_->post(seen_key(index, rank()), "");
      } catch (const std::exception&) {
        // Rank 0 did not wait: nothing is lost, this rank stops anyway.
      }
    }
  }
  follow(next);
  return r;
}

}  // namespace shardsim::runner::real
