// The reports of a stopped fiber world: which ranks wait in what, which
// finished or failed, and for a mismatch every member's fingerprint. Ranks in
// the same state share a line ("ranks 0-2,5: ..."), so thousands of ranks
// read as a few lines.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shardsim/core/comm.h"
#include "shardsim/core/text.h"

namespace shardsim {
namespace sim {
namespace detail {

class WorldCore;
struct Op;

// One line per distinct rank state, indented, in order of each state's first rank.
std::string describe_ranks(const WorldCore& core);

// The report when no rank can run: a deadlock (some rank waits in a
// collective) or, when `failed`, the failures followed by every rank's state.
std::string quiescent_report(const WorldCore& core, bool failed);

// The report when `world_rank`, waiting in a collective, reached the
// collective timeout (the clock is at its deadline): the operation, how long
// it waited, and the late members with what they do instead.
std::string timeout_report(const WorldCore& core, int64_t world_rank);

// The report when `world_rank` called `fp` in a group whose op is `op`.
std::string mismatch_report(const WorldCore& core, const Op& op, int64_t world_rank,
                            const Fingerprint& fp);

}  // namespace detail
}  // namespace sim
}  // namespace shardsim
