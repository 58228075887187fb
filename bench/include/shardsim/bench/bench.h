// Benchmarks of the fiber world (issue: performance and scale). Each prints
// its figures as `key=value` lines; nothing here asserts a speed.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace shardsim::bench {

// Parses "256MiB", "64MB", "1GiB", "4096" (bytes). Throws InvalidArgument.
int64_t parse_bytes(const std::string& text, const std::string& what);
// "256.0 MiB"
std::string bytes_str(double bytes);

// This executable's path (/proc/self/exe), for child processes.
std::string self_exe();

// Resident memory of this process (VmRSS, VmHWM in /proc/self/status), bytes.
int64_t rss_bytes();
int64_t peak_rss_bytes();
// Resets the peak (VmHWM) to the current RSS (writes 5 to /proc/self/clear_refs).
// Returns false where the kernel does not allow it.
bool reset_peak_rss();

struct GatherBenchOptions {
  int64_t world = 8;
  int64_t bytes = int64_t{256} << 20;  // the state dict every rank receives
  int64_t tensors = 8;                 // number of tensors it is split into
  int64_t repeat = 3;                  // timed gathers; the best is reported
  bool simulated_devices = true;
};
// gather_state_dict of a Shard(0) state dict of `bytes` on `world` fibers
// vs memcpy of the same bytes measured in the same run. Returns 0, or 1 when
// the gathered values were wrong.
int run_gather_bench(const GatherBenchOptions& options, std::ostream& out);

struct ScaleBenchOptions {
  std::vector<int64_t> worlds{8, 64, 512, 4096};
  int64_t bytes = int64_t{64} << 20;  // the whole (unsharded) state dict
  int64_t tensors = 16;
  bool simulated_devices = true;
  // Run each world in a fresh child process (`shardsim bench scale --worlds W
  // ... --in-process`), so that one world's freed memory cannot hide in the
  // next one's baseline. Off: every world in this process.
  bool fresh_process = true;
};
// The usual full-checkpoint save: an FSDP-sharded (Shard(0)) state dict
// gathered to rank 0 only (ranks_only, cpu_offload) in one process, per
// world: wall time, peak RSS above the baseline, and RSS per rank beyond the
// tensor data, against the budget of 2 x state dict + 32 KiB per rank.
int run_scale_bench(const ScaleBenchOptions& options, std::ostream& out);

struct CurveBenchOptions {
  std::vector<int64_t> worlds{8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096};
  int64_t collectives = 20;  // all-gathers of one element per rank, per world
};
// Cost of one all-gather as the world grows: time per collective and per
// rank (flat when the cost is O(world)), scheduler events per collective.
int run_curve_bench(const CurveBenchOptions& options, std::ostream& out);

struct SuiteBenchOptions {
  std::string suite;                // suite file (the seed suite by default)
  std::vector<int64_t> worlds{4, 8};
  uint64_t seed = 1;
  int64_t seeds = 10;               // seeds seed..seed+seeds-1
  int64_t repeat = 3;               // runs of each backend; the best wall time is reported
  int64_t startup_repeat = 5;       // start-up measurements; the best is reported
};
// The suite at each world over the seeds, as one `shardsim run` process on
// fibers and one on Gloo (its workers started once), timed side by side: the
// ratio of whole wall times, and of the times after start-up (the start-up of
// fresh processes of this executable, measured in the same run, subtracted),
// and of the sums of the runs' own times (the scenario bodies alone).
// Returns 1 when either run did not pass.
int run_suite_bench(const SuiteBenchOptions& options, std::ostream& out);

}  // namespace shardsim::bench
