// Helpers shared by the fiber-world tests: independent oracles only (plain
// ATen and byte comparison), never the code under test.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "shardsim/sim/fiber_world.h"

namespace shardsim {
namespace sim {
namespace testing {

// Same dtype, same shape and the same bytes (so -0.0 differs from 0.0).
inline bool bit_equal(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  if (a.numel() == 0) return true;
  const at::Tensor ca = a.to(c10::kCPU).contiguous();
  const at::Tensor cb = b.to(c10::kCPU).contiguous();
  return std::memcmp(ca.data_ptr(), cb.data_ptr(), ca.numel() * ca.element_size()) == 0;
}

inline WorldOptions world_options(int64_t world_size, uint64_t schedule_seed = 1,
                                  uint64_t data_seed = 1,
                                  DeviceKind device_kind = DeviceKind::kSimulated) {
  WorldOptions o;
  o.world_size = world_size;
  o.schedule_seed = schedule_seed;
  o.data_seed = data_seed;
  o.device_kind = device_kind;
  return o;
}

inline const char* device_kind_word(DeviceKind kind) {
  return kind == DeviceKind::kCpu ? "cpu" : "sim";
}

// Peak resident set of this process in KiB (VmHWM), or -1.
int64_t peak_rss_kib();
// Resets VmHWM to the current RSS where the kernel allows it.
void reset_peak_rss();

}  // namespace testing
}  // namespace sim
}  // namespace shardsim
