// The simulated accelerator: each simulated rank's device is a
// c10::DeviceType::PrivateUse1 device backed by plain host memory.
//
// A tensor on a simulated device is not a CPU tensor (is_cpu() is false, its
// device prints as privateuseone:N), ordinary ATen ops run on it, views alias
// its storage, and moving it to or from the CPU (or to another simulated index)
// is a real copy into distinct storage. So "on the mesh's device" and
// "offloaded to CPU" mean on fibers what they mean on GPUs.
//
// Device indices are local (0..kMaxSimulatedDeviceIndex; c10::DeviceIndex is
// int8_t in libtorch 1.13): map ranks to a local index, never the global rank.
// Always name the index: an index-less privateuseone device means the calling
// thread's current device, which every fiber of the thread shares.
//
// Limits: strided layout only (no sparse, quantized or pinned tensors);
// random ops draw from the CPU generators; work is synchronous, so streams and
// events are trivially complete and non_blocking copies are ordinary copies.
#pragma once

#include <c10/core/Device.h>

#include <cstdint>

namespace shardsim::sim {

// Largest local index a simulated device can have.
constexpr int64_t kMaxSimulatedDeviceIndex = 127;

// Registers the simulated accelerator with ATen (allocator, device guard,
// kernels, fallback). Idempotent and thread-safe; returns once it is usable.
void ensure_simulated_accelerator();

// The simulated device with local index `index`. Throws InvalidArgument unless
// 0 <= index <= kMaxSimulatedDeviceIndex.
c10::Device simulated_device(int64_t index);

// True when `d` is a simulated device (any index).
bool is_simulated_device(const c10::Device& d);

// Bytes currently allocated on simulated devices (all indices), for leak checks.
int64_t simulated_bytes_in_use();

}  // namespace shardsim::sim
