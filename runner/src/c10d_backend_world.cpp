// The two roles of a process that is one rank of a real world: a rank of a
// torchrun or srun job, and a worker the local launcher started.
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "c10d_backend.h"
#include "c10d_backend_faults.h"
#include "launcher_protocol.h"
#include "shardsim/c10d/c10d_comm.h"
#include "shardsim/c10d/rendezvous.h"
#include "shardsim/core/error.h"
#include "shardsim/runner/real_backends.h"

namespace shardsim::runner {

using ::shardsim::detail::concat;


bool have_real_backend(const std::string& backend) {
  return is_real_backend(backend) && c10d::backend_available(backend);
}

void check_real_specs(const std::vector<RunSpec>& specs) {
  for (const RunSpec& s : specs) {
    if (!is_real_backend(s.backend)) continue;
    SHARDSIM_CHECK_ARG(have_real_backend(s.backend), "backend ", s.backend,
                       " is not available in this build");
  }
  real::test_kill_from_env();
}

bool started_as_job_rank() {
  const c10d::EnvLookup env = c10d::process_env();
  return env("RANK").has_value() || env("SLURM_PROCID").has_value();
}

namespace {

// Connects this process to its world from the environment (torchrun's or
// Slurm's variables). The world and everything built on it are never
// destroyed: the process leaves with _exit (a broken Gloo group's
// destructor can block).
real::C10dBackend& join(const std::string& backend, const real::WorldTimeouts& timeouts) {
  const c10d::RendezvousInfo info = c10d::rendezvous_from_env();
  c10d::ConnectOptions options;
  options.backend = backend;
  options.timeout = timeouts.timeout;
  options.census_timeout = timeouts.census;
  return *new real::C10dBackend(c10d::connect(info, options), timeouts);
}

RunResult skipped(const Scenario& scenario, RunSpec spec, int64_t world, const std::string& why) {
  spec.world = world;
  return skipped_result(resolved_result(scenario, spec), why,
                        backend_named(spec.backend).capabilities);
}

}  // namespace

JobReport run_as_job_rank(const std::vector<RunSpec>& specs, const ResultSink& sink,
                          const ScenarioLookup& lookup) {
  const c10d::RendezvousInfo info = c10d::rendezvous_from_env();
  const ScenarioLookup& find = lookup;
  std::string backend;
  for (const RunSpec& s : specs) {
    if (backend.empty() && is_real_backend(s.backend)) backend = s.backend;
  }
  // Which specs this job runs; the others are SKIP with the reason.
  std::vector<std::string> skip(specs.size());
  std::vector<RunSpec> runs;
  for (size_t i = 0; i < specs.size(); ++i) {
    const RunSpec& s = specs[i];
    const int64_t world = s.world > 0 ? s.world : info.world_size;
    if (!is_real_backend(s.backend)) {
      skip[i] = "backend " + s.backend +
                " does not run inside a torchrun or Slurm job (run it without them)";
    } else if (s.backend != backend) {
      skip[i] = "this job runs backend " + backend + "; run backend " + s.backend +
                " in a job of its own";
    } else if (world != info.world_size) {
      skip[i] = concat("world ", world, " needs ", world, " ranks; this job has ", info.world_size);
    } else {
      check_fault_ranks(s, world);  // before this rank joins the world
      runs.push_back(s);
    }
  }

  JobReport report;
  report.reporter = info.rank == 0;
  const auto emit = [&](const RunResult& r) {
    if (!report.reporter) return;
    report.results.push_back(r);
    if (sink) sink(r);
  };
  real::C10dBackend* world = nullptr;
  if (!runs.empty()) world = &join(backend, real::world_timeouts(runs));
  for (size_t i = 0; i < specs.size(); ++i) {
    const Scenario& scenario = find(specs[i]);
    if (!skip[i].empty()) {
      const int64_t world_size = specs[i].world > 0 ? specs[i].world : info.world_size;
      emit(skipped(scenario, specs[i], world_size, skip[i]));
      continue;
    }
    RunSpec spec = specs[i];
    spec.world = info.world_size;
    world->set_run_index(i);
    emit(run_spec(scenario, spec, *world));
    if (world->stopped()) {
      report.stopped = world->stop_reason();
      return report;
    }
  }
  if (world != nullptr) world->finish();
  return report;
}

int run_as_launched_worker(const std::vector<RunSpec>& specs, const std::vector<size_t>& indices,
                           int report_fd, const ScenarioLookup& lookup) {
  const ScenarioLookup& find = lookup;
  const c10d::RendezvousInfo info = c10d::rendezvous_from_env();
  const std::string who = concat("shardsim worker (rank ", info.rank, "): ");
  std::vector<RunSpec> mine;
  for (size_t i : indices) {
    SHARDSIM_CHECK_ARG(i < specs.size(), "--worker-specs: no spec ", i, " (", specs.size(),
                       " specs)");
    mine.push_back(specs[i]);
  }
  SHARDSIM_CHECK_ARG(!mine.empty(), "--worker-specs names no spec");
  FILE* out = nullptr;
  if (info.rank == 0) {
    out = ::fdopen(report_fd, "w");
    SHARDSIM_CHECK_ARG(out != nullptr, "--worker-report-fd ", report_fd, " is not open");
  }
  const auto say = [&](const std::string& line) {
    if (out == nullptr) return;
    std::fputs((line + "\n").c_str(), out);
    std::fflush(out);
  };
  real::C10dBackend* world = nullptr;
  try {
    world = &join(mine.front().backend, real::world_timeouts(mine));
  } catch (const std::exception& e) {
    std::cerr << who << e.what() << std::endl;
    return 1;
  }
  for (size_t i : indices) {
    say(launcher::begin_line(i));
    world->set_run_index(i);
    // The launcher judges the backend's own result (launcher::result_line carries it).
    const Scenario& scenario = find(specs[i]);
    const RunResult resolved = resolved_result(scenario, specs[i]);
    const std::string why = skip_reason(scenario, resolved, world->capabilities());
    const RunResult raw = why.empty() ? run_resolved(scenario, resolved, *world)
                                      : skipped_result(resolved, why, world->capabilities());
    say(launcher::result_line(i, raw));
    if (world->stopped()) {
      // Rank 0 tells the launcher why; the others just go.
      say(launcher::stop_line(world->stop_reason()));
      return launcher::kStoppedExit;
    }
  }
  try {
    world->finish();
  } catch (const std::exception& e) {
    std::cerr << who << e.what() << std::endl;
    return 1;
  }
  say(launcher::done_line());
  return 0;
}

}  // namespace shardsim::runner
