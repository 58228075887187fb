// BUGGIFY for shardsim runs: fault points switched on per run from the seed.
//
// As in FoundationDB's simulator, each fault point is enabled for a whole run
// with a fixed chance, so most runs exercise a few faults and many runs
// together exercise every combination; the draw depends on the seed alone.
// The points: jitter (small delays before collectives, which reorders
// arrivals but must never change an outcome) and one point per harmful kind,
// aimed at a random rank and one of the first collectives.
#include "shardsim/core/faults.h"

namespace shardsim {

namespace {
// Stream of the plan's draws within the run's seed.
constexpr uint64_t kBuggifyStream = 0xb0661f1u;
// Chance that jitter is on for a run, and that each harmful point is.
constexpr double kJitterChance = 0.5;
constexpr double kHarmfulChance = 0.1;
// Harmful faults aim at one of a rank's first collectives.
constexpr int64_t kMaxCollective = 8;
}  // namespace

std::vector<FaultSpec> buggify_plan(uint64_t seed, int64_t world, int64_t timeout_ms) {
  SHARDSIM_CHECK_ARG(world >= 1, "buggify_plan: world ", world);
  Random rng(derive_seed(seed, kBuggifyStream));
  std::vector<FaultSpec> plan;
  if (rng.chance(kJitterChance)) {
    FaultSpec f;
    f.kind = FaultKind::kJitter;
    const int64_t percents[] = {10, 25, 50};
    f.percent = percents[rng.uniform(3)];
    f.ms = rng.range(1, 20);
    plan.push_back(f);
  }
  const FaultKind harmful[] = {FaultKind::kCrash,    FaultKind::kExit,  FaultKind::kSkip,
                               FaultKind::kMismatch, FaultKind::kDelay, FaultKind::kAlloc,
                               FaultKind::kDiverge};
  for (FaultKind kind : harmful) {
    // Every point draws its parameters whether or not it is on, so switching
    // one point does not shift the draws of the others.
    const bool on = rng.chance(kHarmfulChance);
    FaultSpec f;
    f.kind = kind;
    f.rank = static_cast<int64_t>(rng.uniform(static_cast<uint64_t>(world)));
    f.collective = rng.range(1, kMaxCollective);
    const MismatchField fields[] = {MismatchField::kKind, MismatchField::kShape,
                                    MismatchField::kDtype, MismatchField::kRoot};
    f.field = fields[rng.uniform(4)];
    f.ms = rng.range(1, 2 * std::max<int64_t>(timeout_ms, 1));
    const AllocFilter filters[] = {AllocFilter::kPlain, AllocFilter::kShared, AllocFilter::kPinned,
                                   AllocFilter::kAny};
    f.alloc = filters[rng.uniform(4)];
    f.nth = rng.range(1, 4);
    if (!on) continue;
    plan.push_back(parse_fault(f.str()));  // canonical: only the fields the kind has
  }
  return plan;
}

}  // namespace shardsim
