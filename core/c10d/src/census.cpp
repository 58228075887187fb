// The census after a failure: the members that saw a group fail count each
// other through the store, so every one of them can name the absent ones.
#include <algorithm>
#include <sstream>

#include "arrivals.h"
#include "group_state.h"
#include "shardsim/core/error.h"

namespace shardsim::c10d::detail {

std::string failure_key(const std::string& prefix) { return "shardsim/failed/" + prefix; }

std::string census(Session& session, const std::string& prefix, const std::vector<int64_t>& members,
                   int64_t rank) {
  const RendezvousInfo& info = session.info;
  const std::chrono::milliseconds timeout =
      std::min(session.options.census_timeout, session.options.timeout);
  try {
    // The session's own connection. A fresh client would be safer against a
    // late reply to a wait that Gloo abandoned, but in libtorch 1.13 a client
    // whose server resets the connection (a dying rank 0 has not accepted it
    // yet) terminates the process from its callback thread.
    compat::StorePtr store = session.store;
    const std::string base = "shardsim/census/" + prefix + "/";
    const auto count = static_cast<int64_t>(members.size());
    const std::vector<int64_t> absent =
        gather_arrivals(*store, base, base + "count", rank, count, timeout);
    // World rank 0's process serves the store: it stays until every member
    // that answered has its result (each ends at most one census later).
    store->add(base + "done", 1);
    if (info.rank == 0) {
      wait_for_count(*store, base + "done", count - static_cast<int64_t>(absent.size()),
                     std::chrono::steady_clock::now() + timeout, nullptr);
    }
    if (absent.empty()) return " Every member of the group answered the census afterwards.";
    std::vector<int64_t> absent_ranks;
    for (int64_t i : absent) absent_ranks.push_back(members[i]);
    return ::shardsim::detail::concat(" World ranks ", members_str(absent_ranks),
                                      " did not answer the census within ", seconds_str(timeout),
                                      " (dead or stuck).");
  } catch (const std::exception& e) {
    return ::shardsim::detail::concat(
        " The rendezvous store at ", store_address(info),
        ", served by world rank 0, is unreachable, so world rank 0 is dead or stuck (",
        compat::error_text(e), ").");
  }
}

}  // namespace shardsim::c10d::detail
