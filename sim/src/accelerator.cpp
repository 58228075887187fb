// The simulated accelerator's public functions and every static registration
// with ATen. They share this translation unit on purpose: a static library only
// contributes the objects something references, so whoever calls any public
// function here also gets the allocator, guard, kernels and fallback (no
// --whole-archive), and this file's references pull in the other accelerator
// objects.
#include "shardsim/sim/accelerator.h"

#include <torch/library.h>

#include "accelerator_internal.h"
#include "shardsim/core/error.h"

namespace shardsim::sim {
namespace {

const c10::impl::DeviceGuardImplRegistrar g_guard_registrar(c10::DeviceType::PrivateUse1,
                                                            detail::make_guard_impl());

const bool g_allocator_registered = [] {
  c10::SetAllocator(c10::DeviceType::PrivateUse1, detail::current_device_allocator());
  return true;
}();

// How many ops run their CPU kernel instead of a composite (defined at the end).
int64_t host_kernel_count();

}  // namespace

void ensure_simulated_accelerator() {
  // Registration happened during static initialisation of this object; calling
  // this function is what links it. Check it took, once.
  static const bool ready = [] {
    SHARDSIM_CHECK(g_allocator_registered && c10::GetAllocator(c10::DeviceType::PrivateUse1) ==
                                                 detail::current_device_allocator(),
                   "simulated accelerator: the PrivateUse1 allocator is not ours");
    SHARDSIM_CHECK(c10::impl::hasDeviceGuardImpl(c10::DeviceType::PrivateUse1),
                   "simulated accelerator: no device guard registered for PrivateUse1");
    SHARDSIM_CHECK(host_kernel_count() > 0,
                   "simulated accelerator: no op was routed to its CPU kernel");
    return true;
  }();
  (void)ready;
}

c10::Device simulated_device(int64_t index) {
  SHARDSIM_CHECK_ARG(index >= 0 && index <= kMaxSimulatedDeviceIndex, "simulated device index ",
                     index, " is out of range [0, ", kMaxSimulatedDeviceIndex,
                     "]: map ranks to a local index");
  ensure_simulated_accelerator();
  return c10::Device(c10::DeviceType::PrivateUse1, static_cast<c10::DeviceIndex>(index));
}

bool is_simulated_device(const c10::Device& d) { return d.type() == c10::DeviceType::PrivateUse1; }

int64_t simulated_bytes_in_use() { return detail::bytes_in_use(); }

}  // namespace shardsim::sim

// Plain function pointers, not TORCH_FN: GCC's sanitizers make TORCH_FN's
// compile-time null check non-constant, and one indirect call is noise here.
TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) {
  using namespace shardsim::sim::detail;
  m.impl("empty.memory_format", &empty_memory_format);
  m.impl("empty_strided", &empty_strided);
  m.impl("_copy_from", &copy_from);
  m.impl("_copy_from_and_resize", &copy_from_and_resize);
  m.impl("resize_", &resize_);
  m.impl("as_strided", &as_strided);
  m.impl("view", &view);
  m.impl("_reshape_alias", &reshape_alias);
  m.impl("unfold", &unfold);
  m.impl("view_as_real", &view_as_real);
  m.impl("view_as_complex", &view_as_complex);
  m.impl("set_.source_Storage", &set_storage);
  m.impl("set_.source_Storage_storage_offset", &set_storage_offset);
  m.impl("set_.source_Tensor", &set_tensor);
  m.impl("set_", &set_empty);
  m.impl("index.Tensor", &index_tensor);
  m.impl("convolution_overrideable", &convolution_overrideable);
  m.impl("convolution_backward_overrideable", &convolution_backward_overrideable);
}

// copy_ hands copies to or from an unknown device to _copy_from, which the
// conjugate and negative fallbacks do not let through: they would materialise a
// conjugated source with clone, which copies through _copy_from again, forever.
// Our _copy_from honours both bits (the CPU copy on host aliases does), so let it through.
TORCH_LIBRARY_IMPL(aten, Conjugate, m) {
  m.impl("_copy_from", torch::CppFunction::makeFallthrough());
  m.impl("_copy_from_and_resize", torch::CppFunction::makeFallthrough());
}

TORCH_LIBRARY_IMPL(aten, Negative, m) {
  m.impl("_copy_from", torch::CppFunction::makeFallthrough());
  m.impl("_copy_from_and_resize", torch::CppFunction::makeFallthrough());
}

TORCH_LIBRARY_IMPL(_, PrivateUse1, m) {
  m.fallback(
      torch::CppFunction::makeFromBoxedFunction<&shardsim::sim::detail::simulated_fallback>());
}

namespace shardsim::sim {
namespace {

// After the registrations above (same translation unit: initialised in order).
const int64_t g_host_kernel_count = detail::register_host_kernels();

int64_t host_kernel_count() { return g_host_kernel_count; }

}  // namespace
}  // namespace shardsim::sim
