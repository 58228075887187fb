// shardsim replay: rerun saved case files (one file, several, or every
// *.json of a directory) exactly as the law that wrote them ran them.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "shardsim/core/error.h"
#include "shardsim/properties/case_json.h"
#include "shardsim/properties/case_run.h"
#include "shardsim/scenarios/runner.h"

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

// The backend a replay runs on. Cases are scenarios, so every backend of the
// runner can run them; real backends also need the launcher to accept a
// case's scenario (it resolves scenarios by name in the built-in registry).
std::unique_ptr<scenarios::Backend> make_replay_backend(const std::string& name) {
  if (name == "fiber") {
    SHARDSIM_CHECK_ARG(scenarios::have_fiber_backend(),
                       "backend fiber is not in this build (configured with SHARDSIM_WITH_FIBERS=OFF)");
    return scenarios::make_fiber_backend();
  }
  throw InvalidArgument("replay on backend '" + name +
                        "' is not available yet (available: fiber)");
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
  app.add_option("--backend", backend, "fiber (default); gloo and nccl where the build has them");
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;

  // Read every case before running any: a malformed file is bad input (2).
  std::vector<std::pair<std::string, properties::CaseFile>> cases;
  for (const std::string& arg : args) {
    for (const std::string& path : case_paths(arg)) {
      cases.emplace_back(path, properties::load_case(path));
    }
  }
  const std::unique_ptr<scenarios::Backend> runner = make_replay_backend(backend);

  std::vector<scenarios::RunResult> results;
  for (const auto& [path, c] : cases) {
    scenarios::RunResult r = properties::run_case(c, *runner, path);
    std::cout << properties::format_case_result(r, path) << std::flush;
    results.push_back(std::move(r));
  }
  std::cout << scenarios::format_summary(results) << std::endl;
  for (const auto& r : results) {
    if (r.verdict == scenarios::RunResult::Verdict::kFail) return 1;
  }
  return 0;
}

}  // namespace shardsim::cli
