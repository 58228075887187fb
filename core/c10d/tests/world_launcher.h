// Starts a world of worker processes (copies of this test binary, each told
// its rank through torchrun's variables) and collects how each one ended.
// Every worker runs in one process group that is killed when the world is
// over or its deadline passes, and each dies with the test process
// (PR_SET_PDEATHSIG), so a failing test leaves no process behind.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace shardsim::c10d::testing {

// The variable that turns a copy of the test binary into a worker; its value
// names the worker program (see worker.h).
constexpr const char* kWorkerVariable = "SHARDSIM_C10D_WORKER";

struct WorldSpec {
  std::string program;  // the worker program
  int64_t world_size = 2;
  std::map<std::string, std::string> env;  // extra variables for every worker
  std::chrono::milliseconds deadline = std::chrono::seconds(60);  // then all are killed
  int port = 0;                                                   // MASTER_PORT; 0: a free one
  // Ranks that are killed as soon as every other rank has ended (a stalled
  // rank that a test expects to outlive the others).
  std::vector<int64_t> may_outlive;
};

struct WorkerOutcome {
  int64_t rank = 0;
  bool exited = false;  // ended by exit(); else by a signal
  int code = -1;        // exit status, or the signal number
  bool killed = false;  // killed by the launcher: at the deadline, or as may_outlive
  double seconds = 0;   // from the start of the world to the end of this worker
  std::string output;   // stdout and stderr

  bool ok() const { return exited && code == 0; }
};
// "rank 1: exit 0 after 1.2 s" plus the output, for failure messages.
std::string describe(const WorkerOutcome& outcome);
std::string describe(const std::vector<WorkerOutcome>& outcomes);

// Runs the world to its end (or deadline) and returns one outcome per rank.
std::vector<WorkerOutcome> run_world(const WorldSpec& spec);

}  // namespace shardsim::c10d::testing
