// The local launcher: specs grouped by world, one set of worker processes per
// group (started again only after a world lost a rank), results reported in
// the original spec order.
//
// Vocabulary. A *group* is the specs that share a backend, a world size and a
// timeout, in spec order; a *world run* is one start of its workers, which
// runs the group's specs that are still *open* (not yet reported) until they
// are all done or the world ends early. What ends a world early: a dead
// worker (its open spec is a crash naming the rank and the signal or exit
// status), rank 0 saying the world cannot go on, or the launcher's watchdog
// (its open spec is a timeout). A world that never begins a spec could not
// start: its open specs fail with the workers' own words.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <tuple>

#include "c10d_backend.h"
#include "launcher_process.h"
#include "launcher_protocol.h"
#include "shardsim/c10d/free_port.h"
#include "shardsim/core/error.h"
#include "shardsim/runner/real_backends.h"

namespace shardsim::runner {

namespace {

using Clock = std::chrono::steady_clock;
using ::shardsim::detail::concat;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string indent(const std::string& text, const std::string& by = "  ") {
  std::string out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out += (out.empty() ? "" : "\n") + by + line;
  return out;
}

class Launcher {
 public:
  Launcher(const std::vector<RunSpec>& specs, const LauncherOptions& options,
           const ResultSink& sink)
      : specs_(specs),
        options_(options),
        find_(options.lookup),
        sink_(sink),
        results_(specs.size()) {}

  std::vector<RunResult> run() {
    std::map<std::tuple<std::string, int64_t, double>, std::vector<size_t>> groups;
    for (size_t i = 0; i < specs_.size(); ++i) {
      const RunSpec& spec = specs_[i];
      const BackendCapabilities& can = backend_named(spec.backend).capabilities;
      if (!can.rank_per_process) continue;
      const Scenario& scenario = find_(spec);
      const RunResult resolved = resolved_result(scenario, spec);
      const int64_t world = resolved.world;
      check_fault_ranks(spec, world);  // before any worker starts
      const std::string why = skip_reason(scenario, resolved, can);
      if (!why.empty()) {
        results_[i] = skipped_result(resolved, why, can);
        continue;
      }
      if (world > options_.max_procs) {
        results_[i] = skipped(i, concat("world ", world, " needs ", world,
                                        " local processes; the launcher starts at most ",
                                        options_.max_procs, " (--max-procs)"));
        continue;
      }
      groups[{spec.backend, world, spec.timeout_s}].push_back(i);
      group_of_[i] = {spec.backend, world, spec.timeout_s};
    }
    for (size_t i = 0; i < specs_.size(); ++i) {
      if (!results_[i]) {
        if (backend_named(specs_[i].backend).capabilities.rank_per_process) {
          run_group(groups[group_of_[i]], std::get<1>(group_of_[i]));
        } else {
          if (!fiber_) {
            SHARDSIM_CHECK_ARG(options_.in_process_backend, "backend ", specs_[i].backend,
                               " is not available in this build");
            fiber_ = options_.in_process_backend();
          }
          results_[i] = run_spec(find_(specs_[i]), specs_[i], *fiber_);
        }
      }
      release();
    }
    std::vector<RunResult> all;
    for (auto& r : results_) all.push_back(*r);
    return all;
  }

 private:
  // Hands every result that is final, in order, to the sink.
  void release() {
    while (released_ < results_.size() && results_[released_] &&
           held_ != static_cast<int64_t>(released_)) {
      if (sink_) sink_(*results_[released_]);
      ++released_;
    }
  }

  RunResult skipped(size_t i, const std::string& why) {
    const RunSpec& spec = specs_[i];
    return skipped_result(resolved_result(find_(spec), spec), why,
                          backend_named(spec.backend).capabilities);
  }

  void finalize(size_t i, RunResult raw) {
    const RunSpec& spec = specs_[i];
    const Scenario& scenario = find_(spec);
    const RunResult resolved = resolved_result(scenario, spec);
    const BackendCapabilities& can = backend_named(spec.backend).capabilities;
    const std::string why = skip_reason(scenario, resolved, can);
    raw.has_schedule = can.scheduler;
    results_[i] = why.empty() ? judge(resolved, std::move(raw)) : skipped_result(resolved, why, can);
  }

  void run_group(const std::vector<size_t>& group, int64_t world) {
    std::vector<size_t> open = group;
    while (!open.empty()) {
      const size_t before = open.size();
      run_world(open, world);
      if (open.size() == before) {
        // Nothing came of that start: fail the first spec so the run ends.
        RunResult raw;
        raw.outcome = Outcome::kError;
        raw.reason = "the world ended without running it";
        finalize(open.front(), raw);
        open.erase(open.begin());
      }
    }
  }

  // One world run over the open specs of a group; removes those it reports.
  void run_world(std::vector<size_t>& open, int64_t world) {
    std::vector<RunSpec> mine;
    for (size_t i : open) mine.push_back(specs_[i]);
    const real::WorldTimeouts timeouts = real::world_timeouts(mine);
    const std::string backend = mine.front().backend;

    launcher::WorldLaunch launch;
    launch.executable = options_.executable;
    launch.args = options_.args;
    std::string list;
    for (size_t i : open) list += (list.empty() ? "" : ",") + std::to_string(i);
    launch.args.insert(launch.args.end(), {"--worker-specs", list, "--worker-report-fd", "3"});
    launch.size = world;
    launch.master_addr = options_.master_addr;
    launch.master_port = options_.master_port != 0 ? options_.master_port
                                                   : c10d::pick_free_port(options_.master_addr);
    launch.label = concat(backend, " w", world);
    const std::string what = concat("the ", backend, " world of ", world, " ranks");

    launcher::LocalWorld procs(launch);
    const auto started = Clock::now();
    auto watchdog = started + timeouts.timeout + std::chrono::seconds(15);
    auto spec_started = started;
    bool begun = false, in_flight = false, watchdog_fired = false;
    size_t reported = 0;  // open[0..reported) have results
    std::optional<launcher::Event> death;
    Clock::time_point grace{};
    std::string stop_why;

    // A death belongs to the spec in flight; else to the last one reported
    // when the world stopped over it; else to the next.
    const auto crash_text = [&] {
      std::string text = concat("rank ", death->rank, " (pid ", procs.pid(death->rank), ") ",
                                launcher::describe_status(death->status));
      const std::string tail = procs.tail(death->rank);
      if (!tail.empty()) text += concat("; its last words:\n", indent(tail));
      return text;
    };

    bool death_placed = false;  // the death is already in a result
    while (true) {
      const launcher::Event e = procs.next(std::chrono::milliseconds(50));
      if (e.kind == launcher::Event::Kind::kLine) {
        const launcher::Message m = launcher::parse_line(e.line);
        if (m.kind == launcher::Message::Kind::kBegin) {
          begun = true;
          in_flight = true;
          spec_started = Clock::now();
          watchdog = spec_started + timeouts.verdict_bound() + std::chrono::seconds(10);
          held_ = -1;
          release();
        } else if (m.kind == launcher::Message::Kind::kResult) {
          in_flight = false;
          RunResult raw = m.result;
          if (death && !death_placed) {
            raw.reason = crash_text() + (raw.reason.empty() ? "" : "\n" + raw.reason);
            raw.outcome = Outcome::kCrash;
            raw.values = "-";
            death_placed = true;
          }
          finalize(m.index, raw);
          ++reported;
          // Held back until the next spec begins: a worker found dead before
          // then may be why it failed.
          held_ = static_cast<int64_t>(m.index);
          release();
        } else if (m.kind == launcher::Message::Kind::kStop) {
          stop_why = m.why;
          // The others follow rank 0 at once; one that does not is stuck.
          watchdog = std::min(watchdog, Clock::now() + std::chrono::seconds(2));
        }
      } else if (e.kind == launcher::Event::Kind::kExit) {
        const bool expected = launcher::clean_exit(e.status) || launcher::stopped_exit(e.status);
        if (!expected && !death) {
          death = e;
          grace = Clock::now() + timeouts.timeout;
          // Rank 0 serves the store: with it gone the others find out alone.
          if (e.rank != 0) {
            launcher::announce_death(
                launch,
                concat("the launcher saw world rank ", e.rank, " (pid ", procs.pid(e.rank),
                       ") die: it ", launcher::describe_status(e.status)),
                std::chrono::seconds(2));
          }
          const size_t last = reported > 0 ? open[reported - 1] : 0;
          if (!in_flight && reported > 0 && !stop_why.empty() &&
              results_[last]->outcome != Outcome::kPassed) {
            // The world stopped over the last reported spec: this is why.
            RunResult raw;
            raw.outcome = Outcome::kCrash;
            raw.reason = crash_text() + "\n" + results_[last]->reason;
            raw.seconds = results_[last]->seconds;
            finalize(last, raw);
            death_placed = true;
          }
        }
      }
      if (procs.all_ended()) break;
      // A world that has not begun a spec cannot go on without the dead one.
      if (death && (!begun || Clock::now() >= grace)) break;
      if (Clock::now() >= watchdog) {
        watchdog_fired = in_flight || !begun;
        break;
      }
    }
    procs.kill_all();
    held_ = -1;

    std::vector<size_t> rest(open.begin() + static_cast<long>(reported), open.end());
    if (death && !death_placed && !rest.empty()) {
      RunResult raw;
      raw.outcome = Outcome::kCrash;
      raw.reason = begun ? crash_text() : what + " did not start: " + crash_text();
      raw.seconds = seconds_since(spec_started);
      if (!begun) {
        // It would not start the next time either: the same words for all.
        raw.outcome = Outcome::kError;
        for (size_t i : rest) finalize(i, raw);
        rest.clear();
      } else {
        finalize(rest.front(), raw);
        rest.erase(rest.begin());
      }
    } else if (death && !death_placed) {
      std::cerr << "shardsim run: " << what << ": " << crash_text() << " after its last spec\n";
    } else if (watchdog_fired && !rest.empty()) {
      RunResult raw;
      raw.outcome = Outcome::kTimeout;
      raw.reason = concat(begun ? "no result from rank 0 within " : what + " did not begin within ",
                          seconds_since(begun ? spec_started : started),
                          " s; the launcher stopped the world");
      raw.seconds = seconds_since(spec_started);
      finalize(rest.front(), raw);
      rest.erase(rest.begin());
    }
    open = rest;
    release();
  }

  const std::vector<RunSpec>& specs_;
  const LauncherOptions& options_;
  ScenarioLookup find_;
  ResultSink sink_;
  std::vector<std::optional<RunResult>> results_;
  std::map<size_t, std::tuple<std::string, int64_t, double>> group_of_;
  std::unique_ptr<Backend> fiber_;
  size_t released_ = 0;
  int64_t held_ = -1;  // a result not to release yet
};

}  // namespace

std::vector<RunResult> run_with_launcher(const std::vector<RunSpec>& specs,
                                         const LauncherOptions& options, const ResultSink& sink) {
  check_real_specs(specs);
  return Launcher(specs, options, sink).run();
}

}  // namespace shardsim::runner
