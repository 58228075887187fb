// shardsim replay: rerun saved case files (one file, several, or every
// *.json of a directory) exactly as the law that wrote them ran them, on
// fibers or, like `shardsim run`, on a real backend through the launcher,
// torchrun or srun (every process builds the same scenarios from the same
// case files).
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "launch_options.h"
#include "shardsim/core/error.h"
#include "shardsim/properties/case_json.h"
#include "shardsim/properties/case_run.h"
#include "shardsim/runner/real_backends.h"
#include "shardsim/runner/run.h"
#include "shardsim/runner/fiber_backend.h"

namespace shardsim::cli {

namespace {

// The case files named by `arg`: the file itself, or a directory's *.json in name order.
std::vector<std::string> case_paths(const std::string& arg) {
  struct stat st {};
  if (stat(arg.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return {arg};
  std::vector<std::string> paths;
  DIR* dir = opendir(arg.c_str());
  SHARDSIM_CHECK_ARG(dir != nullptr, arg, ": cannot read the directory");
  while (dirent* e = readdir(dir)) {
    const std::string name = e->d_name;
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".json") == 0) {
      paths.push_back(arg + (arg.back() == '/' ? "" : "/") + name);
    }
  }
  closedir(dir);
  std::sort(paths.begin(), paths.end());
  SHARDSIM_CHECK_ARG(!paths.empty(), arg, ": no *.json case files in this directory");
  return paths;
}

struct LoadedCase {
  std::string path;
  properties::CaseFile c;
  runner::Scenario scenario;
};

void print(const runner::RunResult& r) {
  std::cout << properties::format_case_result(r, r.spec.scenario) << std::flush;
}

int close_replay(const std::vector<runner::RunResult>& results) {
  std::cout << runner::format_summary(results) << std::endl;
  for (const auto& r : results) {
    if (r.verdict == runner::RunResult::Verdict::kFail) return 1;
  }
  return 0;
}


// Real backends: a launched worker, a rank of a torchrun/srun job, or the
// local launcher, each resolving specs to the cases' scenarios by path.
// Schedule independence needs the fiber scheduler: those cases are SKIP.
int replay_on_real_backend(const std::vector<LoadedCase>& cases, const std::string& backend,
                           double timeout_s, const LaunchOptions& launch, int argc,
                           char** argv) {
  std::vector<runner::RunSpec> specs;
  std::map<std::string, const runner::Scenario*> by_path;
  std::vector<runner::RunResult> skipped;
  for (const LoadedCase& lc : cases) {
    runner::RunSpec spec = properties::run_spec_from_case(lc.c, backend, lc.path);
    spec.timeout_s = timeout_s;
    if (lc.c.law == "schedule_independence") {
      runner::RunResult r;
      r.spec = spec;
      r.world = lc.c.world;
      r.mesh = lc.c.mesh;
      r.has_schedule = false;
      r.reason = "schedule_independence needs the fiber scheduler; it runs on backend fiber only";
      skipped.push_back(r);
      continue;
    }
    by_path[lc.path] = &lc.scenario;
    specs.push_back(spec);
  }
  const runner::ScenarioLookup lookup =
      [by_path](const runner::RunSpec& spec) -> const runner::Scenario& {
    return *by_path.at(spec.scenario);
  };

  if (!launch.worker_specs.empty()) {
    int status = 1;
    try {
      status = runner::run_as_launched_worker(specs, worker_spec_indices(launch),
                                                 launch.worker_report_fd, lookup);
    } catch (const std::exception& e) {
      std::cerr << "shardsim worker: error: " << e.what() << std::endl;
    }
    leave(status);
  }
  runner::check_real_specs(specs);
  std::vector<runner::RunResult> results;
  if (runner::started_as_job_rank()) {
    int status = 0;
    try {
      const runner::JobReport report = runner::run_as_job_rank(specs, print, lookup);
      if (!report.stopped.empty()) {
        std::cerr << "shardsim replay: the world stopped early: " << report.stopped << std::endl;
        status = 1;
      }
      if (report.reporter) {
        for (const auto& r : skipped) print(r);
        results = report.results;
        results.insert(results.end(), skipped.begin(), skipped.end());
        status = std::max(status, close_replay(results));
      }
    } catch (const std::exception& e) {
      std::cerr << "shardsim replay: error: " << e.what() << std::endl;
      status = 1;
    }
    leave(status);
  }
  runner::LauncherOptions launcher = launcher_for(launch, "replay", argc, argv);
  launcher.lookup = lookup;
  results = specs.empty() ? std::vector<runner::RunResult>{}
                          : runner::run_with_launcher(specs, launcher, print);
  for (const auto& r : skipped) print(r);
  results.insert(results.end(), skipped.begin(), skipped.end());
  return close_replay(results);
}

}  // namespace

int replay_command(int argc, char** argv) {
  CLI::App app(
      "Replay case files: each runs as the law that wrote it, on the chosen backend, and prints "
      "the standard result line (a failure names the rank and the state-dict path); a directory "
      "replays every *.json in it. Closes with 'N passed, M failed'.\n"
      "Exit status: 0 every case passed, 1 a case failed, 2 bad usage or a malformed case file.",
      "shardsim replay");
  std::vector<std::string> args;
  app.add_option("cases", args, "case files (JSON) or directories of them")->required();
  std::string backend = "fiber";
  app.add_option("--backend", backend, "fiber (default), gloo or nccl");
  double timeout = 0;
  app.add_option("--timeout", timeout,
                 "gloo/nccl: seconds any wait may take (default 120): a dead or stuck rank ends "
                 "the replay within about this long")
      ->check(CLI::Range(0.001, 86400.0));
  LaunchOptions launch;
  add_launch_options(app, launch);
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;
  try {
    runner::backend_named(backend);
  } catch (const InvalidArgument& e) {
    return usage_error(app.get_name(), std::string("--backend: ") + e.what());
  }

  // Read every case before running any: a malformed file is bad input (2).
  std::vector<LoadedCase> cases;
  for (const std::string& arg : args) {
    for (const std::string& path : case_paths(arg)) {
      properties::CaseFile c = properties::load_case(path);
      runner::Scenario s = properties::scenario_from_case(c, path);
      cases.push_back(LoadedCase{path, std::move(c), std::move(s)});
    }
  }
  if (runner::is_real_backend(backend)) {
    return replay_on_real_backend(cases, backend, timeout, launch, argc, argv);
  }
  SHARDSIM_CHECK_ARG(
      runner::have_fiber_backend(),
      "backend fiber is not in this build (configured with SHARDSIM_WITH_FIBERS=OFF)");
  const std::unique_ptr<runner::Backend> fibers = runner::make_fiber_backend();
  std::vector<runner::RunResult> results;
  for (const LoadedCase& lc : cases) {
    runner::RunResult r = properties::run_case(lc.c, *fibers, lc.path);
    print(r);
    results.push_back(std::move(r));
  }
  return close_replay(results);
}

}  // namespace shardsim::cli
