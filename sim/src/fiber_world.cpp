#include "shardsim/sim/fiber_world.h"

#include <exception>
#include <ostream>
#include <sstream>
#include <thread>

#include <ATen/ThreadLocalState.h>

#include "shardsim/core/error.h"
#include "world_core.h"

namespace shardsim {
namespace sim {

int64_t RankEnv::world_size() const { return core_.world_size(); }

int64_t RankEnv::now_ms() const { return core_.now_ms(); }

void RankEnv::sleep_ms(int64_t ms) { core_.sleep_ms(rank_, ms); }

void RankEnv::yield() { core_.yield(rank_); }

const char* rank_status_name(RankReport::Status status) {
  switch (status) {
    case RankReport::Status::kFinished:
      return "finished";
    case RankReport::Status::kError:
      return "error";
    case RankReport::Status::kBlocked:
      return "blocked";
    case RankReport::Status::kStopped:
      return "stopped";
  }
  return "?";
}

std::string RankReport::str() const {
  std::ostringstream os;
  os << "rank " << rank << ": " << rank_status_name(status);
  if (!pending.empty()) os << " in " << pending;
  if (!error.empty()) os << ": " << error;
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const RankReport& report) { return os << report.str(); }

const char* world_status_name(WorldResult::Status status) {
  switch (status) {
    case WorldResult::Status::kOk:
      return "ok";
    case WorldResult::Status::kError:
      return "error";
    case WorldResult::Status::kDeadlock:
      return "deadlock";
    case WorldResult::Status::kMismatch:
      return "mismatch";
    case WorldResult::Status::kTimeout:
      return "timeout";
  }
  return "?";
}

std::string WorldResult::summary() const {
  std::ostringstream os;
  os << "status=" << world_status_name(status) << " world=" << world_size
     << " schedule_seed=" << schedule_seed << " data_seed=" << data_seed
     << " trace=" << trace_digest << " values=" << values_digest << " events=" << events
     << " virtual_ms=" << virtual_ms;
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const WorldResult& result) {
  os << result.summary();
  if (!result.diagnosis.empty()) os << "\n" << result.diagnosis;
  return os;
}

FiberWorld::FiberWorld(WorldOptions options) : options_(options) {
  SHARDSIM_CHECK_ARG(options_.world_size >= 1, "FiberWorld: world_size ", options_.world_size,
                     " (must be at least 1)");
  SHARDSIM_CHECK_ARG(options_.stack_bytes >= 16 * 1024, "FiberWorld: stack_bytes ",
                     options_.stack_bytes, " (must be at least 16 KiB)");
  SHARDSIM_CHECK_ARG(options_.collective_timeout_ms >= 0, "FiberWorld: collective_timeout_ms ",
                     options_.collective_timeout_ms, " (must be >= 0)");
  SHARDSIM_CHECK_ARG(options_.ranks_per_host >= 1 && options_.ranks_per_host <= 128,
                     "FiberWorld: ranks_per_host ", options_.ranks_per_host,
                     " (must be in 1..128: device indices are local)");
  SHARDSIM_CHECK_ARG(
      options_.stacks != StackKind::kProtected || options_.world_size <= kMaxProtectedRanks,
      "FiberWorld: protected stacks for ", options_.world_size,
      " ranks would exhaust the kernel's mappings (at most ", kMaxProtectedRanks,
      "); use fixed stacks");
}

WorldResult FiberWorld::run(const std::function<void(RankEnv&)>& body) const {
  WorldResult result;
  std::exception_ptr failure;
  const at::ThreadLocalState caller_state;
  // A fresh thread gives the world a fiber scheduler of its own.
  std::thread thread([&] {
    at::ThreadLocalStateGuard guard(caller_state);
    try {
      detail::WorldCore core(options_, body);
      result = core.run();
    } catch (...) {
      failure = std::current_exception();
    }
  });
  thread.join();
  if (failure) std::rethrow_exception(failure);
  return result;
}

WorldResult run_world(const WorldOptions& options, const std::function<void(RankEnv&)>& body) {
  return FiberWorld(options).run(body);
}

}  // namespace sim
}  // namespace shardsim
