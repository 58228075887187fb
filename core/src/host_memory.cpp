// HostMemory's value types and the PinRegistry bookkeeping; VmLck.
#include "shardsim/core/host_memory.h"

#include <fstream>
#include <ostream>
#include <sstream>
#include <string>

#include "host_memory_page_lock.h"

namespace shardsim {

const char* host_alloc_kind_name(HostAllocKind kind) {
  switch (kind) {
    case HostAllocKind::kPlain:
      return "plain";
    case HostAllocKind::kShared:
      return "shared";
    case HostAllocKind::kPinned:
      return "pinned";
    case HostAllocKind::kSharedPinned:
      return "shared+pinned";
  }
  return "?";
}

std::ostream& operator<<(std::ostream& os, HostAllocKind kind) {
  return os << host_alloc_kind_name(kind);
}

HostAllocKind host_alloc_kind(bool pin_memory, bool share_memory) {
  if (share_memory) return pin_memory ? HostAllocKind::kSharedPinned : HostAllocKind::kShared;
  return pin_memory ? HostAllocKind::kPinned : HostAllocKind::kPlain;
}

bool operator==(const HostMemoryStats& a, const HostMemoryStats& b) {
  return a.live_registrations == b.live_registrations && a.locked_bytes == b.locked_bytes &&
         a.total_registered == b.total_registered && a.total_released == b.total_released &&
         a.double_releases == b.double_releases && a.failed_releases == b.failed_releases &&
         a.live_shared_segments == b.live_shared_segments &&
         a.total_shared_segments == b.total_shared_segments;
}

std::ostream& operator<<(std::ostream& os, const HostMemoryStats& s) {
  return os << "{live_registrations=" << s.live_registrations << " locked_bytes=" << s.locked_bytes
            << " total_registered=" << s.total_registered << " total_released=" << s.total_released
            << " double_releases=" << s.double_releases << " failed_releases=" << s.failed_releases
            << " live_shared_segments=" << s.live_shared_segments
            << " total_shared_segments=" << s.total_shared_segments << "}";
}

PinRegistry::PinRegistry(std::function<void(const PinRelease&)> on_release)
    : on_release_(std::move(on_release)) {}

int64_t PinRegistry::add(const void* address, int64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t id = ++stats_.total_registered;
  live_.emplace(id, Entry{address, bytes});
  stats_.live_registrations += 1;
  stats_.locked_bytes += bytes;
  return id;
}

bool PinRegistry::release(int64_t id, bool unlocked) {
  PinRelease released;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = live_.find(id);
    if (it == live_.end()) {
      stats_.double_releases += 1;
      return false;
    }
    released = PinRelease{id, it->second.address, it->second.bytes, unlocked};
    live_.erase(it);
    stats_.live_registrations -= 1;
    stats_.locked_bytes -= released.bytes;
    stats_.total_released += 1;
    if (!unlocked) stats_.failed_releases += 1;
  }
  if (on_release_) on_release_(released);
  return true;
}

bool PinRegistry::is_live(int64_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return live_.count(id) != 0;
}

int64_t PinRegistry::add_segment() {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.live_shared_segments += 1;
  return ++stats_.total_shared_segments;
}

void PinRegistry::release_segment() {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.live_shared_segments -= 1;
}

HostMemoryStats PinRegistry::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

int64_t process_locked_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmLck:", 0) != 0) continue;
    std::istringstream fields(line.substr(6));
    int64_t kib = -1;
    std::string unit;
    if (!(fields >> kib >> unit) || unit != "kB") return -1;
    return kib * 1024;
  }
  return -1;
}

const char* page_lock_mechanism() { return detail::page_lock_mechanism_name(); }

}  // namespace shardsim
