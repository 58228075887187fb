// shardsim run: scenarios and suites on simulated ranks (or real backends).
#include <unistd.h>

#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <sstream>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "fault_options.h"
#include "launch_options.h"
#include "watchdog.h"
#include "shardsim/core/shape.h"
#include "shardsim/runner/real_backends.h"
#include "shardsim/runner/run.h"
#include "shardsim/runner/suite.h"
#include "shardsim/scenarios/builtin.h"
#include "shardsim/runner/fiber_backend.h"

namespace shardsim::cli {

namespace {

std::vector<int64_t> parse_worlds(const std::string& text) {
  std::vector<int64_t> worlds;
  for (int64_t w : parse_shape(text, "--world")) {
    SHARDSIM_CHECK_ARG(w >= 1, "--world '", text, "': a world needs at least 1 rank");
    SHARDSIM_CHECK_ARG(w <= (int64_t{1} << 20), "--world '", text, "': ", w,
                       " ranks is more than shardsim runs (1048576)");
    worlds.push_back(w);
  }
  SHARDSIM_CHECK_ARG(!worlds.empty(), "--world is empty");
  return worlds;
}

// The in-process backend (its ranks are not processes): the fiber backend.
std::unique_ptr<runner::Backend> make_backend(const std::string& name) {
  SHARDSIM_CHECK_ARG(!runner::backend_named(name).capabilities.rank_per_process, "backend '", name,
                     "' runs through the launcher, not in this process");
  SHARDSIM_CHECK_ARG(runner::have_fiber_backend(),
                     "backend fiber is not in this build (configured with SHARDSIM_WITH_FIBERS=OFF)");
  return runner::make_fiber_backend();
}

// Prints the closing line, writes the JUnit report; the exit status.
int close_run(const std::vector<runner::RunResult>& results, const std::string& junit) {
  if (!junit.empty()) runner::write_junit(junit, results);
  std::cout << runner::format_summary(results) << std::endl;
  for (const auto& r : results) {
    if (r.verdict == runner::RunResult::Verdict::kFail) return 1;
  }
  return 0;
}

// One rank of a torchrun or srun job; rank 0 reports.
[[noreturn]] void run_job_rank(const std::vector<runner::RunSpec>& specs,
                               const runner::ScenarioLookup& lookup, const std::string& junit) {
  int status = 0;
  try {
    const runner::JobReport report = runner::run_as_job_rank(
        specs, [](const runner::RunResult& r) { std::cout << runner::format_result(r) << std::flush; },
        lookup);
    if (!report.stopped.empty()) {
      std::cerr << "shardsim run: the world stopped early: " << report.stopped << std::endl;
      status = 1;
    }
    if (report.reporter) status = std::max(status, close_run(report.results, junit));
  } catch (const std::exception& e) {
    std::cerr << "shardsim run: error: " << e.what() << std::endl;
    status = 1;
  }
  leave(status);
}

// Runs one spec; bad input found only when it starts (a world too large for
// this machine, say) names where the spec came from (file:line).
runner::RunResult run_one(const runner::Scenario& s, const runner::RunSpec& spec,
                             runner::Backend& backend) {
  try {
    return runner::run_spec(s, spec, backend);
  } catch (const InvalidArgument& e) {
    const std::string what = e.what();
    if (spec.origin.empty() || what.rfind(spec.origin, 0) == 0) throw;
    throw InvalidArgument(spec.origin + ": " + what);
  }
}

}  // namespace

int run_command(int argc, char** argv) {
  CLI::App app(
      "Run scenarios or suite files. Prints one line per result and closes with "
      "'N passed, M failed' (', K skipped' where a scenario does not accept the world).\n"
      "Exit status: 0 nothing failed, 1 something failed, 2 bad usage or input.",
      "shardsim run");
  std::vector<std::string> suites;
  app.add_option("suites", suites, "suite files (TOML); without any, the command line alone says what to run");
  std::string scenario;
  auto* scenario_opt =
      app.add_option("--scenario", scenario, "scenario name or glob (filters suite entries)");
  std::string backend;
  auto* backend_opt = app.add_option("--backend", backend, "fiber (default), gloo or nccl");
  std::string worlds;
  auto* world_opt =
      app.add_option("--world", worlds, "world size(s), N[,N...] (default: each scenario's default)");
  std::string mesh;
  auto* mesh_opt =
      app.add_option("--mesh", mesh, "mesh shape, e.g. 8 or 2x4 (default: each scenario's default)");
  uint64_t seed = 1;
  auto* seed_opt = app.add_option("--seed", seed, "data seed S (default 1); also the schedule seed unless --schedule-seed")
                       ->check(CLI::NonNegativeNumber);
  int64_t seeds = 0;
  app.add_option("--seeds", seeds, "run seeds S, S+1, ..., S+K-1")->check(CLI::Range(int64_t{1}, int64_t{1000000}));
  uint64_t schedule_seed = 0;
  auto* sched_opt = app.add_option("--schedule-seed", schedule_seed, "schedule seed T (fiber backend)")
                        ->check(CLI::NonNegativeNumber);
  std::string junit;
  app.add_option("--junit", junit, "write a JUnit XML report to FILE");
  double timeout = 0;
  auto* timeout_opt = app.add_option(
      "--timeout", timeout,
      "seconds any wait of a real backend may take (a collective, joining the world; default 120): "
      "a dead or stuck rank ends the run within about this long; on fibers, a collective's "
      "timeout in virtual time");
  timeout_opt->check(CLI::Range(0.001, 86400.0));
  LaunchOptions launch;
  add_launch_options(app, launch);
  FaultOptions fault_options;
  add_fault_options(app, fault_options);
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;
  Watchdog watchdog(fault_options.time_limit_s, app.get_name());

  runner::RunOverrides o;
  if (scenario_opt->count() > 0) o.scenario_glob = scenario;
  if (backend_opt->count() > 0) {
    try {
      runner::backend_named(backend);
    } catch (const InvalidArgument& e) {
      return usage_error(app.get_name(), std::string("--backend: ") + e.what());
    }
    o.backend = backend;
  }
  if (world_opt->count() > 0) o.worlds = parse_worlds(worlds);
  if (mesh_opt->count() > 0) o.mesh = parse_mesh_shape(mesh, "--mesh");
  if (seed_opt->count() > 0) o.seed = seed;
  o.seed_count = seeds;
  if (sched_opt->count() > 0) o.schedule_seed = schedule_seed;
  if (timeout_opt->count() > 0) {
    // CLI::Range lets NaN through (every comparison with it is false).
    if (!std::isfinite(timeout)) return usage_error(app.get_name(), "--timeout: expected a number of seconds");
    o.timeout_s = timeout;
  }
  apply_fault_options(fault_options, o);

  const auto& registry = scenarios::builtin_scenarios();
  std::vector<runner::RunSpec> specs;
  if (suites.empty()) {
    specs = runner::expand_command_line(registry, o);
  } else {
    for (const std::string& path : suites) {
      auto more = runner::expand_suite(runner::load_suite(path), registry, o);
      specs.insert(specs.end(), more.begin(), more.end());
    }
  }
  if (specs.empty()) return usage_error(app.get_name(), "the suites and --scenario select nothing to run");
  finish_fault_options(fault_options, specs);
  const runner::ScenarioLookup lookup = runner::lookup_in(registry);

  // Real backends: a launched worker, a rank of a torchrun/srun job, or the
  // local launcher.
  bool any_real = false;
  for (const auto& spec : specs) any_real = any_real || runner::is_real_backend(spec.backend);
  if (!launch.worker_specs.empty()) {
    const std::vector<size_t> indices = worker_spec_indices(launch);
    int status = 1;
    try {
      status = runner::run_as_launched_worker(specs, indices, launch.worker_report_fd, lookup);
    } catch (const std::exception& e) {
      std::cerr << "shardsim worker: error: " << e.what() << std::endl;
    }
    leave(status);
  }
  if (any_real) {
    runner::check_real_specs(specs);
    if (runner::started_as_job_rank()) run_job_rank(specs, lookup, junit);
    runner::LauncherOptions launcher = launcher_for(launch, "run", argc, argv);
    launcher.lookup = lookup;
    const auto results = runner::run_with_launcher(
        specs, launcher, [](const runner::RunResult& r) { std::cout << runner::format_result(r) << std::flush; });
    return close_run(results, junit);
  }

  std::map<std::string, std::unique_ptr<runner::Backend>> backends;
  for (const auto& spec : specs) {
    if (!backends.count(spec.backend)) backends[spec.backend] = make_backend(spec.backend);
  }

  std::vector<runner::RunResult> results;
  for (const auto& spec : specs) {
    const runner::Scenario* s = registry.find(spec.scenario);
    watchdog.set_activity(activity_of(spec));
    runner::RunResult r = run_one(*s, spec, *backends[spec.backend]);
    std::cout << runner::format_result(r) << std::flush;
    results.push_back(std::move(r));
  }
  return close_run(results, junit);
}

}  // namespace shardsim::cli
