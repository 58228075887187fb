// Running specs on real c10d backends (Gloo across processes, NCCL on GPUs),
// in one of three roles:
//
// - the local launcher (`shardsim run --backend gloo --world N`): starts the
//   N worker processes of each world itself, once per world for the whole
//   run, gathers their results and prints them like the fiber backend;
// - a launched worker: one rank of such a world (hidden flags);
// - one rank of a job that torchrun or srun started (RANK or SLURM_PROCID in
//   the environment): runs the specs whose world is the job's size; rank 0
//   prints the report.
//
// Results carry trace=- and schedule=- (no scheduler), and values= equal to
// the fiber backend's for the same scenario, world and seed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "shardsim/runner/run.h"

namespace shardsim::runner {

// Whether this build can run `backend` ("gloo", "nccl") on real process groups.
bool have_real_backend(const std::string& backend);
// Whether `backend` names a real backend ("gloo", "nccl").
bool is_real_backend(const std::string& backend);

// Checks what real backends need of `specs` before anything starts: every
// fault is one real backends inject. Throws InvalidArgument.
void check_real_specs(const std::vector<RunSpec>& specs);

// Receives each result once it is final, in spec order.
using ResultSink = std::function<void(const RunResult&)>;


struct LauncherOptions {
  std::string executable;                 // the shardsim binary the workers run
  std::vector<std::string> args;          // `shardsim run`'s own arguments, handed to every worker
  std::string master_addr = "127.0.0.1";  // where rank 0 serves the store
  int master_port = 0;                    // 0: a free port for each world
  int64_t max_procs = 16;                 // worlds above this many processes are SKIP
  ScenarioLookup lookup;                  // how specs find their scenario (required)
  // The backend that runs fiber specs in this process (unset: they are refused).
  std::function<std::unique_ptr<Backend>()> in_process_backend;
};

// The local launcher: runs every spec in order (fiber specs in this
// process; gloo and nccl specs on worker processes started once per world
// size and timeout, and again after a world lost a rank) and hands each
// result to `sink` in spec order. A worker is `executable args...
// --worker-specs I,J,... --worker-report-fd 3` with torchrun's variables: the
// command that receives those flags calls run_as_launched_worker. Leaves no
// process behind, also when this process is interrupted by SIGINT, SIGTERM
// or SIGHUP.
std::vector<RunResult> run_with_launcher(const std::vector<RunSpec>& specs,
                                         const LauncherOptions& options, const ResultSink& sink);

// True when torchrun's RANK or Slurm's SLURM_PROCID is set: this process is
// one rank of a job.
bool started_as_job_rank();

struct JobReport {
  bool reporter = false;           // this is rank 0, which reports
  std::vector<RunResult> results;  // rank 0: every spec's result, in order
  std::string stopped;             // why the world stopped early ("" if it did not)
};

// One rank of a torchrun or srun job: runs the real-backend specs whose world
// is the job's size (a spec without a world takes the job's size); the
// others are SKIP with the reason. On rank 0, `sink` receives every result in
// order. Throws CommError when the world cannot be joined.
JobReport run_as_job_rank(const std::vector<RunSpec>& specs, const ResultSink& sink,
                          const ScenarioLookup& lookup);

// A worker the local launcher started: runs specs[i] for each i of `indices`
// as one rank of a world from torchrun's variables, and (on rank 0) writes
// the protocol lines the launcher reads to `report_fd`. Returns the exit status.
int run_as_launched_worker(const std::vector<RunSpec>& specs, const std::vector<size_t>& indices,
                           int report_fd, const ScenarioLookup& lookup);

}  // namespace shardsim::runner
