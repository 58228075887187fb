#include "diagnosis.h"

#include <algorithm>
#include <map>
#include <sstream>
#include <utility>

#include "collective.h"
#include "world_core.h"

namespace shardsim {
namespace sim {
namespace detail {

namespace {
// At most this many failures are quoted in full at the head of a report.
constexpr int64_t kMaxQuotedFailures = 16;

// "3 of 4 joined; missing: rank 2"
std::string op_progress(const Op& op) {
  std::vector<int64_t> missing;
  for (int64_t g = 0; g < op.size; ++g) {
    if (!op.joined[g]) missing.push_back(op.group->members[g]);
  }
  std::ostringstream os;
  os << op.joined_count << " of " << op.size << " joined";
  if (!missing.empty()) os << "; missing: " << ranks_str(missing);
  return os.str();
}

std::string rank_line(const RankState& st, std::map<const Op*, std::string>& progress) {
  if (st.done) {
    switch (st.report.status) {
      case RankReport::Status::kFinished:
        return "finished";
      case RankReport::Status::kError:
        return "failed: " + st.report.error;
      default:
        return "stopped";
    }
  }
  if (!st.disagreeing.empty()) return "calls " + st.disagreeing + ", which disagrees";
  if (st.blocked && st.wait == RankState::Wait::kSleep) {
    return "sleeps until t=" + std::to_string(st.wake_at) + " ms";
  }
  if (st.blocked && st.op != nullptr) {
    auto it = progress.find(st.op);
    if (it == progress.end()) it = progress.emplace(st.op, op_progress(*st.op)).first;
    return "waits in " + st.op->fp.str() + " (" + it->second + ")";
  }
  return st.started ? "runnable, outside any collective" : "not started";
}

}  // namespace

std::string describe_ranks(const WorldCore& core) {
  std::map<const Op*, std::string> progress;  // looked up only, never iterated
  std::vector<std::string> lines;             // distinct states, by first rank
  std::map<std::string, std::vector<int64_t>> ranks_of;
  for (int64_t r = 0; r < core.world_size(); ++r) {
    std::string line = rank_line(core.rank_state(r), progress);
    auto it = ranks_of.find(line);
    if (it == ranks_of.end()) {
      lines.push_back(line);
      it = ranks_of.emplace(line, std::vector<int64_t>()).first;
    }
    it->second.push_back(r);
  }
  std::ostringstream os;
  for (const std::string& line : lines)
    os << "  " << ranks_str(ranks_of[line]) << ": " << line << "\n";
  return os.str();
}

std::string quiescent_report(const WorldCore& core, bool failed) {
  std::ostringstream os;
  int64_t waiting = 0;
  for (int64_t r = 0; r < core.world_size(); ++r) {
    if (core.rank_state(r).blocked) ++waiting;
  }
  // In the order they failed: the first is the root cause, the rest may be echoes.
  const std::vector<int64_t>& failures = core.failure_order();
  if (failed) {
    for (size_t i = 0; i < failures.size() && int64_t(i) < kMaxQuotedFailures; ++i) {
      os << "rank " << failures[i] << " failed: " << core.rank_state(failures[i]).report.error
         << "\n";
    }
    if (int64_t(failures.size()) > kMaxQuotedFailures) {
      os << "(" << failures.size() - kMaxQuotedFailures << " more failed ranks)\n";
    }
    if (waiting > 0) os << waiting << " of " << core.world_size() << " ranks were left waiting\n";
  } else {
    os << "deadlock: no rank can run; " << waiting << " of " << core.world_size()
       << " ranks wait in collectives that cannot complete\n";
  }
  os << describe_ranks(core);
  return os.str();
}

std::string timeout_report(const WorldCore& core, int64_t world_rank) {
  const RankState& st = core.rank_state(world_rank);
  std::ostringstream os;
  os << "timeout: rank " << world_rank << " waited " << core.now_ms() - st.wait_since
     << " ms (virtual time; the collective timeout is " << core.options().collective_timeout_ms
     << " ms)";
  if (st.op != nullptr) {
    const Op& op = *st.op;
    os << " in " << op.fp.str() << " since t=" << st.wait_since << " ms";
    std::vector<int64_t> late;
    for (int64_t g = 0; g < op.size; ++g) {
      if (!op.joined[g]) late.push_back(op.group->members[g]);
    }
    std::map<const Op*, std::string> progress;
    for (int64_t r : late) {
      os << "\n  late: rank " << r << " (" << rank_line(core.rank_state(r), progress) << ")";
    }
  }
  os << "\nranks:\n" << describe_ranks(core);
  return os.str();
}

std::string mismatch_report(const WorldCore& core, const Op& op, int64_t world_rank,
                            const Fingerprint& fp) {
  std::vector<int64_t> joined;
  for (int64_t g = 0; g < op.size; ++g) {
    if (op.joined[g]) joined.push_back(op.group->members[g]);
  }
  std::ostringstream os;
  os << "collective mismatch in group " << op.group->name << " at seq " << op.fp.sequence << ":\n"
     << "  " << ranks_str(joined) << ": " << op.fp << "\n"
     << "  rank " << world_rank << ": " << fp << "\n"
     << "ranks:\n"
     << describe_ranks(core);
  return os.str();
}

}  // namespace detail
}  // namespace sim
}  // namespace shardsim
