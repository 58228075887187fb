// shardsim bench: benchmarks that print figures (never asserted in tests).
#include <iostream>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "shardsim/core/shape.h"
#include "shardsim/runner/run.h"

#if SHARDSIM_HAVE_BENCH
#include "shardsim/bench/bench.h"
#endif
#if SHARDSIM_HAVE_FUZZ
#include <sstream>

#include "shardsim/properties/fuzz.h"
#endif

namespace shardsim::cli {

#if SHARDSIM_HAVE_BENCH
namespace {

std::vector<int64_t> parse_worlds(const std::string& text) {
  std::vector<int64_t> worlds;
  for (int64_t w : parse_shape(text, "--worlds")) {
    SHARDSIM_CHECK_ARG(w >= 1 && w <= (int64_t{1} << 20), "--worlds '", text, "': ", w, " is not a world size");
    worlds.push_back(w);
  }
  SHARDSIM_CHECK_ARG(!worlds.empty(), "--worlds is empty");
  return worlds;
}

#if SHARDSIM_HAVE_FUZZ
// Cases per second of one law on small cases (worlds up to 8, tensors of up
// to 64 elements): what a property run costs per case.
int run_property_bench(const std::string& law, double seconds, std::ostream& out) {
  properties::FuzzOptions o;
  o.property_glob = law;
  o.time_s = seconds;
  o.seed = 1;
  o.limits = {8, 2, 3, 64, 2, 4, 16};
  o.progress_every_s = 1e9;
  std::ostringstream progress, failures;
  const properties::FuzzSummary s = properties::run_fuzz(o, progress, failures);
  const int64_t n = s.passed + s.failed;
  out << "properties law=" << law << " max_world=" << o.limits.max_world
      << " max_numel=" << o.limits.max_numel << " cases=" << n << " seconds=" << s.seconds
      << " cases_per_s=" << (s.seconds > 0 ? double(n) / s.seconds : 0.0)
      << " failed=" << s.failed << std::endl;
  if (s.failed > 0) out << failures.str();
  return s.failed > 0 ? 1 : 0;
}
#endif

}  // namespace
#endif

int bench_command(int argc, char** argv) {
  CLI::App app(
      "Benchmarks of the fiber world; each prints key=value figures.\n"
      "  gather: gather_state_dict vs memcpy in the same run (throughput)\n"
      "  scale:  an FSDP state dict gathered to rank 0 in one process, with peak memory, per world\n"
      "  curve:  the cost of one collective as the world grows\n"
      "  suite:  a suite on fibers vs on Gloo processes, same worlds and seeds (whole and after start-up)\n"
      "  properties: cases per second of a property law on small cases",
      "shardsim bench");
  app.require_subcommand(1);
  auto* gather = app.add_subcommand("gather", "gather_state_dict throughput vs memcpy");
  int64_t world = 8;
  std::string bytes = "256MiB";
  int64_t tensors = 8;
  int64_t repeat = 3;
  bool cpu = false;
  gather->add_option("--world", world, "number of simulated ranks (default 8)")->check(CLI::Range(1, 65536));
  gather->add_option("--bytes", bytes, "size of the state dict every rank receives (default 256MiB)");
  gather->add_option("--tensors", tensors, "tensors it is split into (default 8)")->check(CLI::Range(1, 4096));
  gather->add_option("--repeat", repeat, "timed repetitions; the best is reported (default 3)")
      ->check(CLI::Range(1, 1000));
  gather->add_flag("--cpu", cpu, "ranks on CPU instead of the simulated accelerator");

  auto* scale = app.add_subcommand("scale", "FSDP state dict gathered to rank 0, per world, with peak memory");
  std::string worlds = "8,64,512,4096";
  std::string scale_bytes = "64MiB";
  int64_t scale_tensors = 16;
  scale->add_option("--worlds", worlds, "world sizes (default 8,64,512,4096)");
  scale->add_option("--bytes", scale_bytes, "size of the whole state dict (default 64MiB)");
  scale->add_option("--tensors", scale_tensors, "tensors in it (default 16)")->check(CLI::Range(1, 4096));
  bool in_process = false;
  bool scale_cpu = false;
  scale->add_flag("--in-process", in_process, "run every world in this process (default: a fresh process each)");
  scale->add_flag("--cpu", scale_cpu, "ranks on CPU instead of the simulated accelerator");

  auto* curve = app.add_subcommand("curve", "cost of one collective as the world grows");
  std::string curve_worlds = "8,16,32,64,128,256,512,1024,2048,4096";
  int64_t collectives = 20;
  curve->add_option("--worlds", curve_worlds, "world sizes (default 8,16,...,4096)");
  curve->add_option("--collectives", collectives, "collectives of each kind per world (default 20)")
      ->check(CLI::Range(1, 100000));

  auto* suite = app.add_subcommand("suite", "a suite on fibers vs on Gloo processes, side by side");
  std::string suite_file = SHARDSIM_SEED_SUITE;
  std::string suite_worlds = "4,8";
  int64_t suite_seeds = 10;
  uint64_t suite_seed = 1;
  suite->add_option("--suite", suite_file, "suite file (default: the seed suite of this source tree)");
  suite->add_option("--worlds", suite_worlds, "world sizes (default 4,8)");
  suite->add_option("--seed", suite_seed, "first seed (default 1)");
  suite->add_option("--seeds", suite_seeds, "seeds per world (default 10)")->check(CLI::Range(1, 100000));
  int64_t suite_repeat = 3;
  suite->add_option("--repeat", suite_repeat, "runs per backend and world; the best is reported (default 3)")
      ->check(CLI::Range(1, 100));

  auto* props = app.add_subcommand("properties", "cases per second of a property law on small cases");
  std::string law = "gather_state_dict";
  double prop_seconds = 10;
  props->add_option("--property", law, "law name (default gather_state_dict)");
  props->add_option("--time", prop_seconds, "seconds to run (default 10)")->check(CLI::Range(0.1, 86400.0));

  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;
  if (props->parsed()) {
#if SHARDSIM_HAVE_FUZZ
    properties::select_laws(law);
    return run_property_bench(law, prop_seconds, std::cout);
#else
    return usage_error(app.get_name(), "this build has no property generators (SHARDSIM_WITH_PROPERTIES=OFF)");
#endif
  }
#if SHARDSIM_HAVE_BENCH
  if (gather->parsed()) {
    bench::GatherBenchOptions o;
    o.world = world;
    o.bytes = bench::parse_bytes(bytes, "--bytes");
    o.tensors = tensors;
    o.repeat = repeat;
    o.simulated_devices = !cpu;
    return bench::run_gather_bench(o, std::cout);
  }
  if (suite->parsed()) {
    bench::SuiteBenchOptions o;
    o.suite = suite_file;
    o.worlds = parse_worlds(suite_worlds);
    o.seed = suite_seed;
    o.seeds = suite_seeds;
    o.repeat = suite_repeat;
    return bench::run_suite_bench(o, std::cout);
  }
  if (scale->parsed()) {
    bench::ScaleBenchOptions o;
    o.worlds = parse_worlds(worlds);
    o.bytes = bench::parse_bytes(scale_bytes, "--bytes");
    o.tensors = scale_tensors;
    o.simulated_devices = !scale_cpu;
    o.fresh_process = !in_process;
    return bench::run_scale_bench(o, std::cout);
  }
  bench::CurveBenchOptions o;
  o.worlds = parse_worlds(curve_worlds);
  o.collectives = collectives;
  return bench::run_curve_bench(o, std::cout);
#else
  return usage_error(app.get_name(), "benchmarks need the fiber world (configured with SHARDSIM_WITH_FIBERS=OFF)");
#endif
}

}  // namespace shardsim::cli
