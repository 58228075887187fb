// The fault plan of a run (its firings) and the fault state of one rank.
#include <chrono>
#include <thread>

#include <ATen/ATen.h>

#include "shardsim/core/digest.h"
#include "shardsim/core/faults.h"
#include "shardsim/core/shape.h"

namespace shardsim {

namespace {
// Stream of the jitter draws within the plan's seed.
constexpr uint64_t kJitterStream = 0x717e5u;
// A spec that fired more often than this is summarised in the report.
constexpr size_t kQuotedFirings = 1;
}  // namespace

FaultPlan::FaultPlan(std::vector<FaultSpec> specs, uint64_t seed)
    : specs_(std::move(specs)), seed_(seed) {}

void FaultPlan::record(size_t spec, int64_t rank, std::string where, bool applied) {
  std::lock_guard<std::mutex> lock(mu_);
  firings_.push_back(FaultFiring{spec, rank, std::move(where), applied});
}

std::vector<FaultFiring> FaultPlan::firings() const {
  std::lock_guard<std::mutex> lock(mu_);
  return firings_;
}

std::vector<FaultSpec> FaultPlan::fired() const {
  std::vector<char> hit(specs_.size(), 0);
  for (const FaultFiring& f : firings()) hit[f.spec] = hit[f.spec] || f.applied;
  std::vector<FaultSpec> out;
  for (size_t i = 0; i < specs_.size(); ++i) {
    if (hit[i]) out.push_back(specs_[i]);
  }
  return out;
}

std::vector<std::string> FaultPlan::report() const {
  const std::vector<FaultFiring> all = firings();
  std::vector<std::string> lines;
  for (size_t i = 0; i < specs_.size(); ++i) {
    std::vector<const FaultFiring*> mine;
    for (const FaultFiring& f : all) {
      if (f.spec == i) mine.push_back(&f);
    }
    const FaultSpec& spec = specs_[i];
    std::string line = spec.str() + " (";
    auto place = [&](const FaultFiring& f) {
      return (spec.rank < 0 ? "on rank " + std::to_string(f.rank) + " " : std::string()) + "at " +
             f.where;
    };
    if (mine.empty()) {
      line += "did not fire";
    } else if (mine.size() <= kQuotedFirings) {
      line += (mine[0]->applied ? "fired " : "not applied ") + place(*mine[0]);
    } else {
      line += "fired " + std::to_string(mine.size()) + " times; first " + place(*mine[0]);
    }
    lines.push_back(line + ")");
  }
  return lines;
}

void real_sleep_ms(int64_t ms) {
  if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

RankFaults::RankFaults(std::shared_ptr<FaultPlan> plan, int64_t world_rank, FaultSleep sleep)
    : plan_(std::move(plan)),
      world_rank_(world_rank),
      sleep_(sleep ? std::move(sleep) : FaultSleep(real_sleep_ms)),
      jitter_(derive_seed(derive_seed(plan_->seed(), kJitterStream),
                          static_cast<uint64_t>(world_rank))) {
  for (size_t i = 0; i < plan_->specs().size(); ++i) {
    if (plan_->specs()[i].targets(world_rank_)) mine_.push_back(i);
  }
  alloc_counts_.assign(mine_.size(), 0);
}

namespace {

bool has_root(CollectiveKind kind) {
  return kind == CollectiveKind::kBroadcast || kind == CollectiveKind::kBroadcastBytes ||
         kind == CollectiveKind::kScatter;
}

bool has_tensor(CollectiveKind kind) {
  return kind != CollectiveKind::kBarrier && kind != CollectiveKind::kBroadcastBytes;
}

// Empty when `field` can be altered on a `kind` collective of `n` members; else why not.
std::string not_applicable(MismatchField field, CollectiveKind kind, size_t n) {
  const std::string name = collective_kind_name(kind);
  switch (field) {
    case MismatchField::kKind:
      return "";
    case MismatchField::kShape:
    case MismatchField::kDtype:
      return has_tensor(kind) ? "" : name + " carries no tensor";
    case MismatchField::kRoot:
      if (!has_root(kind)) return name + " has no root";
      return n > 1 ? "" : "a group of one has no other root";
  }
  return "";
}

}  // namespace

size_t RankFaults::group_slot(const std::vector<int64_t>& members) {
  // A digest, not a copy: every rank of a large world holds a slot for the
  // world group, and W copies of a W-rank list would cost O(W^2) memory.
  Digest d;
  d.update_u64(members.size());
  for (int64_t m : members) d.update_i64(m);
  const GroupSeq key{d.value(), static_cast<int64_t>(members.size()), 0};
  for (size_t i = 0; i < group_seq_.size(); ++i) {
    if (group_seq_[i].id == key.id && group_seq_[i].size == key.size) return i;
  }
  group_seq_.push_back(key);
  return group_seq_.size() - 1;
}

RankFaults::Action RankFaults::before_collective(CollectiveKind kind, size_t slot,
                                                 const std::string& group) {
  ++collectives_;
  const int64_t seq = ++group_seq_.at(slot).seq;
  const size_t members = static_cast<size_t>(group_seq_[slot].size);
  Action action;
  action.where = std::string(collective_kind_name(kind)) + " seq " + std::to_string(seq) +
                 " on group " + group;
  for (size_t m : mine_) {
    const FaultSpec& spec = plan_->specs()[m];
    switch (spec.kind) {
      case FaultKind::kDelay:
        if (spec.collective != collectives_) break;
        plan_->record(m, world_rank_, action.where + ", " + std::to_string(spec.ms) + " ms late");
        sleep_(spec.ms);
        break;
      case FaultKind::kJitter:
        if (jitter_.uniform(100) < static_cast<uint64_t>(spec.percent)) {
          const int64_t ms = jitter_.range(1, spec.ms);
          plan_->record(m, world_rank_, action.where + ", " + std::to_string(ms) + " ms late");
          sleep_(ms);
        }
        break;
      case FaultKind::kCrash:
      case FaultKind::kExit:
      case FaultKind::kSkip:
      case FaultKind::kMismatch: {
        if (spec.collective != collectives_ || action.kind != Action::Kind::kRun) break;
        if (spec.kind == FaultKind::kMismatch) {
          const std::string why = not_applicable(spec.field, kind, members);
          if (!why.empty()) {
            plan_->record(m, world_rank_, action.where + ": " + why, /*applied=*/false);
            break;
          }
        }
        plan_->record(m, world_rank_, action.where);
        action.spec = &spec;
        action.kind = spec.kind == FaultKind::kCrash  ? Action::Kind::kCrash
                      : spec.kind == FaultKind::kExit ? Action::Kind::kExit
                      : spec.kind == FaultKind::kSkip ? Action::Kind::kSkip
                                                      : Action::Kind::kMismatch;
        break;
      }
      default:
        break;
    }
  }
  return action;
}

void RankFaults::before_alloc(HostAllocKind kind, c10::IntArrayRef shape, c10::ScalarType dtype) {
  for (size_t i = 0; i < mine_.size(); ++i) {
    const FaultSpec& spec = plan_->specs()[mine_[i]];
    if (spec.kind != FaultKind::kAlloc || !alloc_filter_matches(spec.alloc, kind)) continue;
    if (++alloc_counts_[i] != spec.nth) continue;
    const std::string what = "host allocation " + std::to_string(spec.nth) + " of kind " +
                             alloc_filter_name(spec.alloc) + " (" + host_alloc_kind_name(kind) +
                             " " + c10::toString(dtype) + shape_str(shape.vec()) + ")";
    plan_->record(mine_[i], world_rank_, what);
    throw InjectedFault(FaultKind::kAlloc,
                        "injected fault " + spec.str() + ": " + what + " failed");
  }
}

at::Tensor RankFaults::diverge(const std::string& key, const at::Tensor& full) {
  for (size_t m : mine_) {
    const FaultSpec& spec = plan_->specs()[m];
    if (spec.kind != FaultKind::kDiverge || (!spec.key.empty() && spec.key != key)) continue;
    plan_->record(m, world_rank_, "distribute_tensors key '" + key + "'");
    at::NoGradGuard no_grad;
    if (full.scalar_type() == at::kBool) return full.logical_not();
    return full + 1;
  }
  return full;
}

void RankFaults::raise(const Action& action, const std::string& what) const {
  const std::string spec = action.spec != nullptr ? action.spec->str() : "?";
  switch (action.kind) {
    case Action::Kind::kCrash:
      throw InjectedFault(FaultKind::kCrash, "injected crash (" + spec + ") at " + action.where);
    case Action::Kind::kExit:
      throw InjectedFault(FaultKind::kExit,
                          "injected exit (" + spec + "): left before " + action.where);
    default:
      throw InjectedFault(FaultKind::kMismatch,
                          "injected " + spec + " at " + action.where + ": " + what);
  }
}

}  // namespace shardsim
