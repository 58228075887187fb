// Internals of the simulated accelerator shared by its translation units.
//
// Vocabulary: a "device tensor" lives on a simulated device (PrivateUse1); a
// "host alias" is a CPU tensor over the same memory (through a CPU StorageImpl
// of its own), so a CPU kernel reads and writes the device memory in place (the
// memory is host memory anyway). Kernels run on host aliases; their results are "re-homed":
// made device tensors again, without a copy where the result owns its memory.
//
// All registration happens in accelerator.cpp, which references the kernels
// declared here, so linking any public function pulls in all of them.
#pragma once

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/Allocator.h>
#include <c10/core/Storage.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <c10/util/SmallVector.h>

#include <array>
#include <cstdint>
#include <tuple>

namespace torch {
class Library;
}  // namespace torch

namespace shardsim::sim::detail {

// --- memory (accelerator_memory.cpp) -----------------------------------------

// The allocator that stamps its DataPtrs with simulated device `index`.
c10::Allocator* allocator_for(c10::DeviceIndex index);
// The allocator for the calling thread's current simulated device (what
// c10::GetAllocator(PrivateUse1) returns).
c10::Allocator* current_device_allocator();
// Bytes currently allocated on simulated devices.
int64_t bytes_in_use();
// The allocator for host aliases of device `index`: device memory tagged as CPU.
c10::Allocator* host_side_allocator_for(c10::DeviceIndex index);
// A device storage that takes over `host`'s memory (no copy); `host` is left empty.
// REQUIRES: nothing but the caller's results reference `host`'s StorageImpl.
c10::Storage adopt_host_storage(c10::StorageImpl& host, c10::DeviceIndex index);
// A CPU storage over `device`'s memory that keeps `device` alive. A kernel that
// grows it allocates through host_side_allocator_for.
c10::Storage make_host_alias_storage(const c10::Storage& device);
// Moves the memory a host alias storage was given by a resize into `device`
// (every view of `device` then sees it, as after a resize on CPU); `host` is left empty.
void take_reallocated_memory(c10::StorageImpl& device, c10::StorageImpl& host);

// --- device guard (accelerator_guard.cpp) -------------------------------------

// The calling thread's current simulated device index (0 unless a guard set it).
c10::DeviceIndex current_device_index();
// Throws c10::Error unless `index` is a valid simulated device index.
void check_device_index(int64_t index);
// The device-guard implementation registered for PrivateUse1.
c10::impl::DeviceGuardImplInterface* make_guard_impl();

// --- host aliases and re-homing (accelerator_alias.cpp) -----------------------

// Gathers the tensors of one kernel call: hands out host aliases for device
// tensors, checks that devices are not mixed (as CUDA does), writes metadata
// changes made by the kernel back, and re-homes results.
class DeviceArgs {
 public:
  // The host alias of `t` when it is a device tensor, else `t`. A CPU tensor
  // with dim() > 0 next to device tensors is an error unless `cpu_allowed`
  // (index lists accept CPU indices, as on CUDA).
  at::Tensor to_host(const at::Tensor& t, bool cpu_allowed);
  // Records a device named by a factory argument (device=...).
  void note_device(c10::Device d);
  // Throws c10::Error ("Expected all tensors to be on the same device...") when
  // the arguments mix devices; `op` names the operator in the message.
  void check_devices(const char* op) const;
  // Copies shape, stride, offset and storage changes the kernel made to a host
  // alias (resize_ of an out= argument) onto its device tensor.
  void write_back();
  // The device tensor for a kernel result: the original device tensor for a
  // returned alias, a device view for a view of device memory, and a device
  // tensor owning the result's memory otherwise. `owner_refs` is how many
  // distinct results share the result's StorageImpl (adoption needs all owners).
  at::Tensor to_device(const at::Tensor& host, int64_t owner_refs);
  // Re-homes the last `num_returns` values of `stack` (tensors and tensor lists).
  void returns_to_device(torch::jit::Stack* stack, size_t num_returns);

 private:
  struct Alias {
    at::Tensor host;
    at::Tensor device;
  };
  struct SharedStorage {
    c10::Storage device;
    c10::Storage host;  // the CPU StorageImpl over the same memory
  };
  struct Adopted {
    const c10::StorageImpl* host;
    c10::Storage device;
  };
  c10::DeviceIndex target_index() const;
  // The host StorageImpl shared by every alias of `device` in this call.
  c10::Storage host_storage_for(const c10::Storage& device);
  // True when `host` is the host StorageImpl over `device`.
  bool owns_storage(const c10::Storage& device, const c10::StorageImpl* host) const;

  c10::SmallVector<Alias, 4> aliases_;
  c10::SmallVector<SharedStorage, 4> storages_;
  c10::SmallVector<Adopted, 1> adopted_;
  c10::optional<c10::Device> device_;        // first simulated device seen
  c10::optional<c10::Device> other_device_;  // a second, different simulated device
  bool strict_cpu_ = false;                  // a non-scalar CPU tensor where not allowed
};

// The boxed fallback: runs the CPU kernel on host aliases.
void simulated_fallback(const c10::OperatorHandle& op, torch::jit::Stack* stack);

// --- host kernels (accelerator_host_kernels.cpp) -------------------------------

// Routes every aten op that has a CPU kernel and a composite one, and no
// simulated-device kernel yet, to the fallback, through `library` (an IMPL
// library for aten on PrivateUse1). Returns how many it routed.
// REQUIRES: called once (ensure_simulated_accelerator), after this module's
// own kernel registrations.
int64_t register_host_kernels(torch::Library& library);

// --- native kernels (accelerator_kernels.cpp) ----------------------------------

at::Tensor empty_memory_format(c10::SymIntArrayRef size, c10::optional<at::ScalarType> dtype,
                               c10::optional<at::Layout> layout, c10::optional<at::Device> device,
                               c10::optional<bool> pin_memory,
                               c10::optional<at::MemoryFormat> memory_format);
at::Tensor empty_strided(c10::SymIntArrayRef size, c10::SymIntArrayRef stride,
                         c10::optional<at::ScalarType> dtype, c10::optional<at::Layout> layout,
                         c10::optional<at::Device> device, c10::optional<bool> pin_memory);
at::Tensor copy_from(const at::Tensor& self, const at::Tensor& dst, bool non_blocking);
at::Tensor copy_from_and_resize(const at::Tensor& self, const at::Tensor& dst);
const at::Tensor& resize_(const at::Tensor& self, c10::SymIntArrayRef size,
                          c10::optional<at::MemoryFormat> memory_format);
at::Tensor as_strided(const at::Tensor& self, c10::SymIntArrayRef size, c10::SymIntArrayRef stride,
                      c10::optional<c10::SymInt> storage_offset);
at::Tensor view(const at::Tensor& self, c10::SymIntArrayRef size);
at::Tensor reshape_alias(const at::Tensor& self, c10::SymIntArrayRef size,
                         c10::SymIntArrayRef stride);
at::Tensor unfold(const at::Tensor& self, int64_t dimension, int64_t size, int64_t step);
at::Tensor view_as_real(const at::Tensor& self);
at::Tensor view_as_complex(const at::Tensor& self);
at::Tensor& set_storage(at::Tensor& self, c10::Storage source);
at::Tensor& set_storage_offset(at::Tensor& self, c10::Storage source, c10::SymInt storage_offset,
                               c10::SymIntArrayRef size, c10::SymIntArrayRef stride);
at::Tensor& set_tensor(at::Tensor& self, const at::Tensor& source);
at::Tensor& set_empty(at::Tensor& self);
at::Tensor index_tensor(const at::Tensor& self,
                        const c10::List<c10::optional<at::Tensor>>& indices);

// --- convolution (accelerator_convolution.cpp) ---------------------------------

at::Tensor convolution_overrideable(const at::Tensor& input, const at::Tensor& weight,
                                    const c10::optional<at::Tensor>& bias, at::IntArrayRef stride,
                                    at::IntArrayRef padding, at::IntArrayRef dilation,
                                    bool transposed, at::IntArrayRef output_padding,
                                    int64_t groups);
std::tuple<at::Tensor, at::Tensor, at::Tensor> convolution_backward_overrideable(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& weight,
    at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, bool transposed,
    at::IntArrayRef output_padding, int64_t groups, std::array<bool, 3> output_mask);

}  // namespace shardsim::sim::detail
