// The worker processes of one local world: started together in a process
// group of their own, watched through pipes and waitpid, and killed together.
// Each worker dies with the launcher (PR_SET_PDEATHSIG), and a launcher that
// gets SIGINT, SIGTERM or SIGHUP kills the group before it goes, so no worker
// outlives the run.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace shardsim::runner::launcher {

struct WorldLaunch {
  std::string executable;
  std::vector<std::string> args;  // after argv[0]
  int64_t size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;
  std::string label;  // prefix of the workers' forwarded stderr lines, e.g. "gloo w3"
};

struct Event {
  enum class Kind { kLine, kExit, kIdle };
  Kind kind = Kind::kIdle;
  std::string line;   // kLine: one line of rank 0's report pipe
  int64_t rank = -1;  // kExit
  int status = 0;     // kExit: the waitpid status
};

// "exited with status 1", "was killed by signal 9 (SIGKILL)"
std::string describe_status(int status);
// Whether `status` is a clean exit (status 0).
bool clean_exit(int status);

// Tells the world of `launch` (through its store, from a short-lived child
// process) that a worker died, so the others stop at once naming `reason`
// instead of waiting for it until the timeout. Best effort; returns within
// about `timeout`.
void announce_death(const WorldLaunch& launch, const std::string& reason,
                    std::chrono::milliseconds timeout);

class LocalWorld {
 public:
  // Starts the workers: each gets torchrun's variables (RANK, WORLD_SIZE,
  // LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), rank 0 its
  // report pipe as fd 3, and every worker's stdout and stderr come back here.
  // Throws Error when a process cannot be started.
  explicit LocalWorld(const WorldLaunch& launch);
  // Kills and reaps whatever is left.
  ~LocalWorld();
  LocalWorld(const LocalWorld&) = delete;
  LocalWorld& operator=(const LocalWorld&) = delete;

  // The next report line or worker exit, waiting at most `wait` (kIdle when
  // none). A worker's report lines all come before its exit. Forwards the
  // workers' output lines to this process's stderr, prefixed with the label
  // and rank, meanwhile.
  Event next(std::chrono::milliseconds wait);
  // SIGKILL to every worker still running; reaps them all.
  void kill_all();
  bool all_ended() const;
  pid_t pid(int64_t rank) const;
  // The last few lines rank `rank` wrote, for reasons.
  std::string tail(int64_t rank) const;

 private:
  struct Worker {
    pid_t pid = 0;
    bool ended = false;
    int out_fd = -1;      // its stdout and stderr
    std::string partial;  // an unfinished output line
    std::deque<std::string> tail;
  };
  void pump(std::chrono::milliseconds wait);
  void read_output(Worker& w, int64_t rank);
  void read_report();
  void reap();

  WorldLaunch launch_;
  std::vector<Worker> workers_;
  pid_t group_ = 0;
  int report_fd_ = -1;  // read end of rank 0's report pipe
  std::string report_partial_;
  std::deque<Event> queued_;
};

}  // namespace shardsim::runner::launcher
