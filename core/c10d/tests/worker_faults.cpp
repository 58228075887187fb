// The fault worker: one rank (SHARDSIM_C10D_VICTIM) misbehaves as
// SHARDSIM_C10D_FAULT says, and every other rank must get a CommError in
// bounded time. Survivors print "SURVIVOR elapsed_ms=<ms>" and the error on a
// line starting "ERROR: ", which the test reads.
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include <ATen/ATen.h>

#include "shardsim/core/error.h"
#include "worker.h"
#include "worker_support.h"

namespace shardsim::c10d::testing {
namespace {

using Clock = std::chrono::steady_clock;

int64_t ms_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

int report(const CommError& e, Clock::time_point start) {
  std::cerr << "SURVIVOR elapsed_ms=" << ms_since(start) << "\nERROR: " << e.what() << std::endl;
  return kWorkerOk;
}

// The victim's misdeed. Returns only for faults that leave it running.
void misbehave(const std::string& fault) {
  if (fault == "exit") std::_Exit(3);
  if (fault == "stall") std::this_thread::sleep_for(std::chrono::hours(1));
}

}  // namespace

int run_fault() {
  const std::string fault = env_str("SHARDSIM_C10D_FAULT", "exit");
  const int64_t victim = env_ms("SHARDSIM_C10D_VICTIM", 0);
  const RendezvousInfo info = rendezvous_from_env();
  const bool is_victim = info.rank == victim;
  const std::string when = env_str("SHARDSIM_C10D_WHEN", "collective");

  // Before connecting: the others must not manage to join.
  if (when == "connect") {
    if (is_victim) misbehave(fault);
    const auto start = Clock::now();
    try {
      connect_from_env();
    } catch (const CommError& e) {
      return report(e, start);
    }
    std::cerr << "rank " << info.rank << ": connect succeeded without rank " << victim << "\n";
    return kWorkerCheckFailed;
  }

  std::shared_ptr<C10dComm> comm = connect_from_env();
  comm->barrier();  // everyone is alive up to here
  std::shared_ptr<Comm> group = comm;
  if (when == "subgroup") {
    // A group of everyone in reverse order, so the failure is not in "world".
    std::vector<int64_t> members;
    for (int64_t r = comm->size() - 1; r >= 0; --r) members.push_back(r);
    group = comm->subgroup(members);
  }
  if (is_victim) misbehave(fault);

  const auto start = Clock::now();
  try {
    const at::Tensor x = at::ones({1000}, at::kFloat);
    const std::vector<int64_t> counts(group->size(), 1000);
    group->all_gather(x, counts, [](int64_t, const at::Tensor&) {});
  } catch (const CommError& e) {
    const int status = report(e, start);
    // A failed group refuses the next collective at once.
    const auto again = Clock::now();
    try {
      group->barrier();
      std::cerr << "rank " << info.rank << ": barrier on a failed group succeeded\n";
      return kWorkerCheckFailed;
    } catch (const CommError& refused) {
      const std::string text = refused.what();
      if (ms_since(again) > 200 || text.find("failed earlier") == std::string::npos) {
        std::cerr << "rank " << info.rank << ": slow or unclear refusal after " << ms_since(again)
                  << " ms: " << text << "\n";
        return kWorkerCheckFailed;
      }
    }
    return status;
  }
  std::cerr << "rank " << info.rank << ": all_gather succeeded although rank " << victim
            << " is gone\n";
  return kWorkerCheckFailed;
}

}  // namespace shardsim::c10d::testing
