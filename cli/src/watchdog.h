// The wall-clock guard of the command line: whatever a run does (a rank in an
// endless loop, a real backend that never answers), the process ends within
// the time limit with a clear message and exit status 1. Fibers never need it
// for deadlocks (those are found at once); it is the last line of defence.
#pragma once

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace shardsim::cli {

class Watchdog {
 public:
  // Starts a thread that, `limit_s` seconds from now (0: never), prints
  // "<program>: time limit of N s reached ..." naming the current activity to
  // stderr and ends the process with _exit(1). Child processes that follow
  // their parent (the launcher's workers) end with it.
  Watchdog(double limit_s, std::string program);
  // Stops the thread; the limit no longer applies.
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // What the process is doing now (quoted when the limit is reached).
  void set_activity(std::string activity);

 private:
  void watch();

  double limit_s_;
  std::string program_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::string activity_;
  std::thread thread_;
};

}  // namespace shardsim::cli
