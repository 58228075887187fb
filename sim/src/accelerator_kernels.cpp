// Native kernels of the simulated accelerator: factories, copies, resize,
// set_ and the primitive views. Views must be native: through the fallback they
// would still alias, but every narrow/select/reshape would pay a kernel call.
#include <ATen/EmptyTensor.h>
#include <ATen/ops/_reshape_alias_native.h>
#include <ATen/ops/as_strided_native.h>
#include <ATen/ops/resize_native.h>
#include <ATen/ops/set_native.h>
#include <ATen/ops/unfold_native.h>
#include <ATen/ops/view_as_complex_native.h>
#include <ATen/ops/view_as_real_native.h>
#include <ATen/ops/view_native.h>
#include <c10/core/SymIntArrayRef.h>

#include "accelerator_internal.h"

namespace shardsim::sim::detail {
namespace {

const c10::DispatchKeySet kDeviceKeys(c10::DispatchKey::PrivateUse1);

c10::DeviceIndex requested_index(const c10::optional<at::Device>& device) {
  if (!device || !device->has_index()) return current_device_index();
  TORCH_CHECK(device->type() == c10::DeviceType::PrivateUse1,
              "simulated device kernel asked to allocate on ", *device);
  return device->index();
}

void check_factory_options(c10::optional<at::Layout> layout, c10::optional<bool> pin_memory) {
  TORCH_CHECK(c10::layout_or_default(layout) == c10::Layout::Strided,
              "simulated devices hold strided tensors only, not ", *layout);
  TORCH_CHECK(!c10::pinned_memory_or_default(pin_memory),
              "Only dense CPU tensors can be pinned (asked for a simulated device tensor)");
}

bool is_host_or_device(const at::Tensor& t) {
  return t.is_cpu() || t.device().type() == c10::DeviceType::PrivateUse1;
}

}  // namespace

at::Tensor empty_memory_format(c10::SymIntArrayRef size, c10::optional<at::ScalarType> dtype,
                               c10::optional<at::Layout> layout, c10::optional<at::Device> device,
                               c10::optional<bool> pin_memory,
                               c10::optional<at::MemoryFormat> memory_format) {
  check_factory_options(layout, pin_memory);
  return at::detail::empty_generic(c10::asIntArrayRefSlow(size),
                                   allocator_for(requested_index(device)), kDeviceKeys,
                                   c10::dtype_or_default(dtype), memory_format);
}

at::Tensor empty_strided(c10::SymIntArrayRef size, c10::SymIntArrayRef stride,
                         c10::optional<at::ScalarType> dtype, c10::optional<at::Layout> layout,
                         c10::optional<at::Device> device, c10::optional<bool> pin_memory) {
  check_factory_options(layout, pin_memory);
  return at::detail::empty_strided_generic(
      c10::asIntArrayRefSlow(size), c10::asIntArrayRefSlow(stride),
      allocator_for(requested_index(device)), kDeviceKeys, c10::dtype_or_default(dtype));
}

// Copies between host and device, or between device indices, are memory copies
// done by the CPU kernel on host aliases; `non_blocking` is accepted and moot
// because the simulated device is synchronous.
at::Tensor copy_from(const at::Tensor& self, const at::Tensor& dst, bool non_blocking) {
  TORCH_CHECK(is_host_or_device(self) && is_host_or_device(dst),
              "simulated device copy supports cpu and privateuseone tensors, got ", self.device(),
              " -> ", dst.device());
  DeviceArgs args;
  at::Tensor host_dst = args.to_host(dst, /*cpu_allowed=*/true);
  host_dst.copy_(args.to_host(self, /*cpu_allowed=*/true));
  return dst;
}

at::Tensor copy_from_and_resize(const at::Tensor& self, const at::Tensor& dst) {
  dst.resize_(self.sizes());
  return copy_from(self, dst, /*non_blocking=*/false);
}

// Storage growth goes through the storage's own allocator, so a resized device
// tensor stays on its device.
const at::Tensor& resize_(const at::Tensor& self, c10::SymIntArrayRef size,
                          c10::optional<at::MemoryFormat> memory_format) {
  return at::native::resize_(self, c10::asIntArrayRefSlow(size), memory_format);
}

at::Tensor as_strided(const at::Tensor& self, c10::SymIntArrayRef size, c10::SymIntArrayRef stride,
                      c10::optional<c10::SymInt> storage_offset) {
  return at::native::as_strided_tensorimpl(
      self, c10::asIntArrayRefSlow(size), c10::asIntArrayRefSlow(stride),
      storage_offset ? c10::optional<int64_t>(storage_offset->expect_int()) : c10::nullopt);
}

at::Tensor view(const at::Tensor& self, c10::SymIntArrayRef size) {
  return at::native::view(self, c10::asIntArrayRefSlow(size));
}

at::Tensor reshape_alias(const at::Tensor& self, c10::SymIntArrayRef size,
                         c10::SymIntArrayRef stride) {
  return at::native::_reshape_alias(self, c10::asIntArrayRefSlow(size),
                                    c10::asIntArrayRefSlow(stride));
}

at::Tensor unfold(const at::Tensor& self, int64_t dimension, int64_t size, int64_t step) {
  return at::native::unfold(self, dimension, size, step);
}

at::Tensor view_as_real(const at::Tensor& self) { return at::native::view_as_real(self); }

at::Tensor view_as_complex(const at::Tensor& self) { return at::native::view_as_complex(self); }

at::Tensor& set_storage(at::Tensor& self, c10::Storage source) {
  return at::native::set_(self, std::move(source));
}

at::Tensor& set_storage_offset(at::Tensor& self, c10::Storage source, c10::SymInt storage_offset,
                               c10::SymIntArrayRef size, c10::SymIntArrayRef stride) {
  return at::native::set_storage_cpu_(self, std::move(source), storage_offset.expect_int(),
                                      c10::asIntArrayRefSlow(size), c10::asIntArrayRefSlow(stride));
}

at::Tensor& set_tensor(at::Tensor& self, const at::Tensor& source) {
  return at::native::set_tensor_(self, source);
}

at::Tensor& set_empty(at::Tensor& self) {
  c10::Storage storage(c10::Storage::use_byte_size_t(), 0, allocator_for(self.device().index()),
                       /*resizable=*/true);
  return self.set_(std::move(storage), 0, {0}, {});
}

}  // namespace shardsim::sim::detail
