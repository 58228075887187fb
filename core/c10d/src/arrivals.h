// Members counting each other through the store: each announces itself under
// a key of its own and bumps a shared counter; a waiter polls the counter and,
// when time runs out, names the members whose key is absent. Polls instead of
// Store::wait, which leaves a late reply on the connection when it times out.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/csrc/distributed/c10d/Store.hpp>

namespace shardsim::c10d::detail {

// Sets `key_prefix`<index> and adds 1 to `counter`.
void announce_arrival(::c10d::Store& store, const std::string& key_prefix,
                      const std::string& counter, int64_t index);

// Polls `counter` with a growing pause until it reaches `target`, `deadline`
// passes or `stop` (when given) says so; returns its last value.
int64_t wait_for_count(::c10d::Store& store, const std::string& counter, int64_t target,
                       std::chrono::steady_clock::time_point deadline,
                       const std::function<bool()>& stop);

// The indices below `count` whose arrival key is not in the store.
std::vector<int64_t> absent_members(::c10d::Store& store, const std::string& key_prefix,
                                    int64_t count);

// Announces member `index` of `count` and waits at most `timeout` for all of
// them. Returns the absent indices (empty when all arrived). Throws what the
// store throws.
std::vector<int64_t> gather_arrivals(::c10d::Store& store, const std::string& key_prefix,
                                     const std::string& counter, int64_t index, int64_t count,
                                     std::chrono::milliseconds timeout);

}  // namespace shardsim::c10d::detail
