// The device guard of the simulated accelerator. ATen needs one to run ops on
// a device type at all. The current device is per thread, as on CUDA; it only
// decides where an index-less device (privateuseone without :N) allocates.
// Work is synchronous, so streams and events are trivially complete.
#include "accelerator_internal.h"
#include "shardsim/sim/accelerator.h"

namespace shardsim::sim::detail {
namespace {

thread_local c10::DeviceIndex t_current_index = 0;

class SimulatedGuardImpl final : public c10::impl::DeviceGuardImplInterface {
 public:
  c10::DeviceType type() const override { return c10::DeviceType::PrivateUse1; }

  c10::Device exchangeDevice(c10::Device d) const override {
    const c10::Device old = getDevice();
    setDevice(d);
    return old;
  }

  c10::Device getDevice() const override {
    return c10::Device(c10::DeviceType::PrivateUse1, t_current_index);
  }

  void setDevice(c10::Device d) const override {
    TORCH_CHECK(d.type() == c10::DeviceType::PrivateUse1, "simulated device guard got ", d);
    if (d.has_index()) {
      check_device_index(d.index());
      t_current_index = d.index();
    }
  }

  void uncheckedSetDevice(c10::Device d) const noexcept override {
    if (d.has_index()) t_current_index = d.index();
  }

  c10::Stream getStream(c10::Device d) const noexcept override {
    return c10::Stream(c10::Stream::DEFAULT, d);
  }

  c10::Stream exchangeStream(c10::Stream s) const noexcept override {
    return c10::Stream(c10::Stream::DEFAULT, s.device());
  }

  // Indices 0..127 exist; 128 does not fit DeviceIndex (int8_t), so report 127.
  c10::DeviceIndex deviceCount() const noexcept override {
    return static_cast<c10::DeviceIndex>(kMaxSimulatedDeviceIndex);
  }

  void record(void** event, const c10::Stream& stream, const c10::DeviceIndex device_index,
              const c10::EventFlag flag) const override {}
  void block(void* event, const c10::Stream& stream) const override {}
  bool queryEvent(void* event) const override { return true; }
  void destroyEvent(void* event, const c10::DeviceIndex device_index) const noexcept override {}
  bool queryStream(const c10::Stream& stream) const override { return true; }
  void synchronizeStream(const c10::Stream& stream) const override {}
};

}  // namespace

c10::DeviceIndex current_device_index() { return t_current_index; }

void check_device_index(int64_t index) {
  TORCH_CHECK(index >= 0 && index <= kMaxSimulatedDeviceIndex, "simulated device index ", index,
              " is out of range [0, ", kMaxSimulatedDeviceIndex, "]");
}

c10::impl::DeviceGuardImplInterface* make_guard_impl() { return new SimulatedGuardImpl(); }

}  // namespace shardsim::sim::detail
