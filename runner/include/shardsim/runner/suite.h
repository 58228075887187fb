// Suite files: declarative TOML lists of runs, FoundationDB style.
//
//   title = "seed suite"
//   [[test]]
//   scenario = "gather_*"          # a name or a glob
//   worlds = [1, 2, 3, 8, 64]      # or world = 4; default: the scenario's default
//   meshes = ["2x4"]               # optional; default: the scenario's default mesh
//   seeds = [1, 2, 3]              # or seed = 5 (with optional seed_count = 10)
//   schedule_seeds = [7]           # optional; default: each run's data seed
//   backends = ["fiber"]           # default ["fiber"]
//   faults = ["crash:rank=1,collective=2"]   # optional
//   expect = "crash"               # optional; the outcome that makes the run pass
//   timeout = 5.0                  # optional collective timeout, seconds
//
// Unknown fields, wrong types and bad values are InvalidArgument naming the
// file, line and field.
#pragma once

#include <string>
#include <vector>

#include <c10/util/Optional.h>

#include "shardsim/runner/run.h"
#include "shardsim/runner/scenario.h"

namespace shardsim::runner {

struct SuiteEntry {
  std::string scenario;  // name or glob
  std::vector<int64_t> worlds;
  std::vector<Shape> meshes;
  std::vector<uint64_t> seeds;
  std::vector<uint64_t> schedule_seeds;
  std::vector<std::string> backends;
  std::vector<FaultSpec> faults;
  c10::optional<Outcome> expect;
  double timeout_s = 0;
  std::string origin;  // "path:line"
};

struct Suite {
  std::string path;
  std::string title;
  std::vector<SuiteEntry> entries;
};

// Parses suite text; `path` names it in messages. Throws InvalidArgument.
Suite parse_suite(const std::string& text, const std::string& path);
// Reads and parses a suite file. Throws InvalidArgument (also when unreadable).
Suite load_suite(const std::string& path);

// Command-line settings that filter or override suite entries.
struct RunOverrides {
  c10::optional<std::string> scenario_glob;  // filters entries' scenarios
  c10::optional<std::string> backend;
  std::vector<int64_t> worlds;
  c10::optional<Shape> mesh;
  c10::optional<uint64_t> seed;
  int64_t seed_count = 0;  // --seeds K: seeds S..S+K-1 (0: not given)
  c10::optional<uint64_t> schedule_seed;
  std::vector<FaultSpec> faults;
  c10::optional<Outcome> expect;
  c10::optional<double> timeout_s;
};

// Every run a suite asks for, with overrides applied, in file order. Entries
// naming an unknown scenario (or a glob matching none) are InvalidArgument.
std::vector<RunSpec> expand_suite(const Suite& suite, const ScenarioRegistry& registry,
                                  const RunOverrides& overrides);
// The runs of the command line alone (no suite): every scenario matching
// the glob (all when none), at the given or default worlds and seeds.
std::vector<RunSpec> expand_command_line(const ScenarioRegistry& registry,
                                         const RunOverrides& overrides);

}  // namespace shardsim::runner
