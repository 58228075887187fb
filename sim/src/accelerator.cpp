// The simulated accelerator's public functions and its registration with ATen.
// They share this translation unit on purpose: a static library only
// contributes the objects something references, so whoever calls any public
// function here also gets the load-time registration of the allocator, guard,
// kernels and fallback (no --whole-archive), and this file's references pull
// in the other accelerator objects.
#include "shardsim/sim/accelerator.h"

#include <torch/library.h>

#include <memory>
#include <vector>

#include "accelerator_internal.h"
#include "shardsim/core/error.h"

namespace shardsim::sim {
namespace {

// Libraries are never destroyed (destroying one deregisters its kernels, and
// tensors may outlive static destruction); a static holder keeps them reachable.
torch::Library* new_library(const char* ns, c10::DispatchKey key) {
  static auto* const libraries = new std::vector<std::unique_ptr<torch::Library>>();
  libraries->push_back(
      std::make_unique<torch::Library>(torch::Library::IMPL, ns, key, __FILE__, __LINE__));
  return libraries->back().get();
}

// Registers everything, in order: the host-kernel routing must come after
// this module's own kernels, which it skips.
int64_t register_with_aten() {
  using namespace detail;
  static const c10::impl::DeviceGuardImplRegistrar guard(c10::DeviceType::PrivateUse1,
                                                         make_guard_impl());
  c10::SetAllocator(c10::DeviceType::PrivateUse1, current_device_allocator());

  // Plain function pointers, not TORCH_FN: GCC's sanitizers make TORCH_FN's
  // compile-time null check non-constant, and one indirect call is noise here.
  torch::Library& kernels = *new_library("aten", c10::DispatchKey::PrivateUse1);
  kernels.impl("empty.memory_format", &empty_memory_format);
  kernels.impl("empty_strided", &empty_strided);
  kernels.impl("_copy_from", &copy_from);
  kernels.impl("_copy_from_and_resize", &copy_from_and_resize);
  kernels.impl("resize_", &resize_);
  kernels.impl("as_strided", &as_strided);
  kernels.impl("view", &view);
  kernels.impl("_reshape_alias", &reshape_alias);
  kernels.impl("unfold", &unfold);
  kernels.impl("view_as_real", &view_as_real);
  kernels.impl("view_as_complex", &view_as_complex);
  kernels.impl("set_.source_Storage", &set_storage);
  kernels.impl("set_.source_Storage_storage_offset", &set_storage_offset);
  kernels.impl("set_.source_Tensor", &set_tensor);
  kernels.impl("set_", &set_empty);
  kernels.impl("index.Tensor", &index_tensor);
  kernels.impl("convolution_overrideable", &convolution_overrideable);
  kernels.impl("convolution_backward_overrideable", &convolution_backward_overrideable);

  // copy_ hands copies to or from an unknown device to _copy_from, which the
  // conjugate and negative fallbacks do not let through: they would materialise
  // a conjugated source with clone, which copies through _copy_from again,
  // forever. Our _copy_from honours both bits (the CPU copy on host aliases
  // does), so let it through.
  for (const c10::DispatchKey bit : {c10::DispatchKey::Conjugate, c10::DispatchKey::Negative}) {
    torch::Library& passthrough = *new_library("aten", bit);
    passthrough.impl("_copy_from", torch::CppFunction::makeFallthrough());
    passthrough.impl("_copy_from_and_resize", torch::CppFunction::makeFallthrough());
  }

  new_library("_", c10::DispatchKey::PrivateUse1)
      ->fallback(torch::CppFunction::makeFromBoxedFunction<&simulated_fallback>());
  return register_host_kernels(*new_library("aten", c10::DispatchKey::PrivateUse1));
}

}  // namespace

void ensure_simulated_accelerator() {
  static const int64_t host_kernels = register_with_aten();
  SHARDSIM_CHECK(host_kernels > 0, "simulated accelerator: no op was routed to its CPU kernel");
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

namespace {

// Registers at load time too, so that code which only names PrivateUse1
// devices works once anything here is linked.
const bool g_registered_at_load = (ensure_simulated_accelerator(), true);

}  // namespace
}  // namespace shardsim::sim
