#include "shardsim/sim/fiber_world.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <fstream>
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

namespace {

// Memory the machine can still give this process, in bytes: MemAvailable
// (else free physical memory), capped by the address-space limit (ulimit -v)
// when one is set; 0 when unknown. Read once per world; it only decides
// whether a world is refused, never what a world computes.
uint64_t available_memory_bytes() {
  uint64_t avail = 0;
  std::ifstream meminfo("/proc/meminfo");
  for (std::string key; meminfo >> key;) {
    uint64_t kib = 0;
    if (key == "MemAvailable:" && meminfo >> kib) {
      avail = kib * 1024;
      break;
    }
    meminfo.ignore(256, '\n');
  }
  if (avail == 0) {
    const long pages = ::sysconf(_SC_AVPHYS_PAGES);
    const long page = ::sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) avail = static_cast<uint64_t>(pages) * static_cast<uint64_t>(page);
  }
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_AS, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    const uint64_t as = static_cast<uint64_t>(limit.rlim_cur);
    if (avail == 0 || as < avail) avail = as;
  }
  return avail;
}

std::string gib(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f GiB", static_cast<double>(bytes) / (1u << 30));
  return text;
}

}  // namespace

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
  // A world whose stacks alone exceed the machine's memory would fail
  // halfway through its allocations or be killed: refuse it up front.
  const uint64_t stacks =
      static_cast<uint64_t>(options_.world_size) * static_cast<uint64_t>(options_.stack_bytes);
  const uint64_t avail = available_memory_bytes();
  SHARDSIM_CHECK_ARG(avail == 0 || stacks <= avail, "a fiber world of ", options_.world_size,
                     " ranks needs ", gib(stacks), " for its fiber stacks alone (",
                     options_.stack_bytes / 1024, " KiB each), more than the ", gib(avail),
                     " of memory this machine has available; use a smaller world");
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
