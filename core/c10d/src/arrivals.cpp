#include "arrivals.h"

#include <algorithm>
#include <thread>

namespace shardsim::c10d::detail {

void announce_arrival(::c10d::Store& store, const std::string& key_prefix,
                      const std::string& counter, int64_t index) {
  store.set(key_prefix + std::to_string(index), std::vector<uint8_t>{'1'});
  store.add(counter, 1);
}

int64_t wait_for_count(::c10d::Store& store, const std::string& counter, int64_t target,
                       std::chrono::steady_clock::time_point deadline,
                       const std::function<bool()>& stop) {
  auto pause = std::chrono::milliseconds(2);
  int64_t value = store.add(counter, 0);
  while (value < target && std::chrono::steady_clock::now() < deadline && !(stop && stop())) {
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(100));
    value = store.add(counter, 0);
  }
  return value;
}

std::vector<int64_t> absent_members(::c10d::Store& store, const std::string& key_prefix,
                                    int64_t count) {
  std::vector<int64_t> absent;
  for (int64_t i = 0; i < count; ++i) {
    if (!store.check({key_prefix + std::to_string(i)})) absent.push_back(i);
  }
  return absent;
}

std::vector<int64_t> gather_arrivals(::c10d::Store& store, const std::string& key_prefix,
                                     const std::string& counter, int64_t index, int64_t count,
                                     std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  announce_arrival(store, key_prefix, counter, index);
  if (wait_for_count(store, counter, count, deadline, nullptr) >= count) return {};
  return absent_members(store, key_prefix, count);
}

}  // namespace shardsim::c10d::detail
