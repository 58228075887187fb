// Host aliases, device checks and re-homing of results (vocabulary in
// accelerator_internal.h), and the boxed fallback built on them.
//
// Running the CPU kernel on aliases instead of copies is what makes the
// fallback cheap (no copy in or out) and keeps in-place and out= semantics
// exact: the kernel writes the device memory itself. A host alias has its own
// CPU StorageImpl over the device memory (one per device StorageImpl per call),
// so views a kernel makes internally are CPU tensors too; memory the kernel
// gives it (a resize of an out= argument) moves to the device storage after.
#include <ATen/core/ivalue.h>
#include <ATen/core/jit_type.h>

#include <utility>

#include "accelerator_internal.h"

namespace shardsim::sim::detail {
namespace {

bool on_simulated_device(const at::Tensor& t) {
  return t.defined() && t.device().type() == c10::DeviceType::PrivateUse1;
}

// Copies sizes, strides, offset and the conjugate/negative bits of `from` onto `to`.
void copy_view_metadata(const at::Tensor& from, c10::TensorImpl& to) {
  to.set_sizes_and_strides(from.sizes(), from.strides());
  to.set_storage_offset(from.storage_offset());
  if (from.is_conj()) to._set_conj(true);
  if (from.is_neg()) to._set_neg(true);
}

// A device tensor with `host`'s view metadata over `storage` (a device storage).
at::Tensor device_tensor_over(c10::Storage storage, const at::Tensor& host) {
  // Not the VIEW constructor: that one takes the key set as is, and a result
  // without the autograd keys would silently drop out of autograd.
  auto impl = c10::make_intrusive<c10::TensorImpl>(
      std::move(storage), c10::DispatchKeySet(c10::DispatchKey::PrivateUse1), host.dtype());
  copy_view_metadata(host, *impl);
  return at::Tensor(std::move(impl));
}

// A CPU tensor over `host_storage` (CPU-tagged, over `device`'s memory) with
// `device`'s view metadata.
at::Tensor make_host_alias(const at::Tensor& device, c10::Storage host_storage) {
  auto impl = c10::make_intrusive<c10::TensorImpl>(
      std::move(host_storage), c10::DispatchKeySet(c10::DispatchKey::CPU), device.dtype());
  copy_view_metadata(device, *impl);
  return at::Tensor(std::move(impl));
}

// A device tensor with the same values as `host`, in fresh device memory
// (host's strides where they are dense, else contiguous).
at::Tensor copy_to_device(const at::Tensor& host, c10::DeviceIndex index) {
  const c10::DispatchKeySet keys(c10::DispatchKey::PrivateUse1);
  at::Tensor copy =
      host.is_non_overlapping_and_dense()
          ? at::detail::empty_strided_generic(host.sizes(), host.strides(), allocator_for(index),
                                              keys, host.scalar_type())
          : at::detail::empty_generic(host.sizes(), allocator_for(index), keys, host.scalar_type(),
                                      c10::nullopt);
  make_host_alias(copy, make_host_alias_storage(copy.storage())).copy_(host);
  return copy;
}

bool same_view_metadata(const c10::TensorImpl& a, const c10::TensorImpl& b) {
  return a.storage_offset() == b.storage_offset() && a.sizes().equals(b.sizes()) &&
         a.strides().equals(b.strides());
}

}  // namespace

at::Tensor DeviceArgs::to_host(const at::Tensor& t, bool cpu_allowed) {
  if (!t.defined()) return t;
  if (on_simulated_device(t)) {
    note_device(t.device());
    for (const Alias& a : aliases_) {
      if (a.device.unsafeGetTensorImpl() == t.unsafeGetTensorImpl()) return a.host;
    }
    at::Tensor alias = make_host_alias(t, host_storage_for(t.storage()));
    aliases_.push_back(Alias{alias, t});
    return alias;
  }
  if (t.is_cpu() && t.dim() > 0 && !cpu_allowed) strict_cpu_ = true;
  return t;
}

c10::Storage DeviceArgs::host_storage_for(const c10::Storage& device) {
  for (const SharedStorage& s : storages_) {
    if (s.device.unsafeGetStorageImpl() == device.unsafeGetStorageImpl()) return s.host;
  }
  storages_.push_back(SharedStorage{device, make_host_alias_storage(device)});
  return storages_.back().host;
}

void DeviceArgs::note_device(c10::Device d) {
  if (d.type() != c10::DeviceType::PrivateUse1) return;
  if (!d.has_index()) d = c10::Device(d.type(), current_device_index());
  if (!device_) {
    device_ = d;
  } else if (*device_ != d && !other_device_) {
    other_device_ = d;
  }
}

void DeviceArgs::check_devices(const char* op) const {
  if (!device_) return;
  TORCH_CHECK(!other_device_,
              "Expected all tensors to be on the same device, but found at least two devices, ",
              *device_, " and ", *other_device_, "! (when checking arguments for ", op, ")");
  TORCH_CHECK(!strict_cpu_,
              "Expected all tensors to be on the same device, but found at least two devices, ",
              *device_, " and cpu! (when checking arguments for ", op, ")");
}

c10::DeviceIndex DeviceArgs::target_index() const {
  return device_ ? device_->index() : current_device_index();
}

void DeviceArgs::write_back() {
  for (SharedStorage& s : storages_) {
    c10::StorageImpl& host = *s.host.unsafeGetStorageImpl();
    c10::StorageImpl& device = *s.device.unsafeGetStorageImpl();
    if (host.data() != device.data() || host.nbytes() != device.nbytes()) {
      take_reallocated_memory(device, host);
    }
  }
  for (Alias& a : aliases_) {
    c10::TensorImpl& device = *a.device.unsafeGetTensorImpl();
    const c10::TensorImpl& host = *a.host.unsafeGetTensorImpl();
    const c10::StorageImpl* host_storage = host.storage().unsafeGetStorageImpl();
    if (!owns_storage(device.storage(), host_storage)) {
      // The kernel pointed the alias at other memory (set_): give the device its own copy.
      const at::Tensor copy = copy_to_device(a.host, device.device().index());
      device.set_storage_keep_dtype(copy.storage());
      device.set_sizes_and_strides(copy.sizes(), copy.strides());
      device.set_storage_offset(copy.storage_offset());
      continue;
    }
    if (!same_view_metadata(host, device)) {
      device.set_sizes_and_strides(host.sizes(), host.strides());
      device.set_storage_offset(host.storage_offset());
    }
  }
}

bool DeviceArgs::owns_storage(const c10::Storage& device, const c10::StorageImpl* host) const {
  for (const SharedStorage& s : storages_) {
    if (s.host.unsafeGetStorageImpl() == host) {
      return s.device.unsafeGetStorageImpl() == device.unsafeGetStorageImpl();
    }
  }
  return false;
}

at::Tensor DeviceArgs::to_device(const at::Tensor& host, int64_t owner_refs) {
  if (!host.defined()) return host;
  for (const Alias& a : aliases_) {
    if (a.host.unsafeGetTensorImpl() == host.unsafeGetTensorImpl()) return a.device;
  }
  if (!host.has_storage()) return host;
  const c10::Storage& storage = host.storage();
  const c10::StorageImpl* key = storage.unsafeGetStorageImpl();
  for (const SharedStorage& s : storages_) {
    if (s.host.unsafeGetStorageImpl() == key) return device_tensor_over(s.device, host);
  }
  if (storage.device().type() == c10::DeviceType::PrivateUse1) {
    return device_tensor_over(storage, host);
  }
  if (!host.is_cpu()) return host;
  for (const Adopted& a : adopted_) {
    if (a.host == key) return device_tensor_over(a.device, host);
  }
  const c10::DeviceIndex index = target_index();
  if (static_cast<int64_t>(storage.use_count()) <= owner_refs) {
    c10::Storage device = adopt_host_storage(*storage.unsafeGetStorageImpl(), index);
    adopted_.push_back(Adopted{key, device});
    return device_tensor_over(std::move(device), host);
  }
  // Someone else owns the memory (a CPU argument returned as is): copy it.
  return copy_to_device(host, index);
}

void DeviceArgs::returns_to_device(torch::jit::Stack* stack, size_t num_returns) {
  const auto begin = stack->end() - static_cast<std::ptrdiff_t>(num_returns);
  // Distinct results per host StorageImpl: adoption is safe only if they own it all.
  c10::SmallVector<std::pair<const c10::StorageImpl*, const c10::TensorImpl*>, 4> owners;
  auto count = [&](const at::Tensor& t) {
    if (!t.defined() || !t.is_cpu() || !t.has_storage()) return;
    const std::pair<const c10::StorageImpl*, const c10::TensorImpl*> owner{
        t.storage().unsafeGetStorageImpl(), t.unsafeGetTensorImpl()};
    for (const auto& o : owners) {
      if (o == owner) return;
    }
    owners.push_back(owner);
  };
  auto refs = [&](const at::Tensor& t) {
    if (!t.defined() || !t.has_storage()) return int64_t{0};
    int64_t n = 0;
    for (const auto& o : owners) n += o.first == t.storage().unsafeGetStorageImpl() ? 1 : 0;
    return n;
  };
  for (auto it = begin; it != stack->end(); ++it) {
    if (it->isTensor()) {
      count(it->toTensor());
    } else if (it->isTensorList()) {
      for (const at::Tensor& t : it->toTensorList()) count(t);
    }
  }
  for (auto it = begin; it != stack->end(); ++it) {
    if (it->isTensor()) {
      const at::Tensor host = it->toTensor();
      *it = to_device(host, refs(host));
    } else if (it->isTensorList()) {
      c10::List<at::Tensor> hosts = it->toTensorList();
      c10::List<at::Tensor> devices;
      devices.reserve(hosts.size());
      for (const at::Tensor& t : hosts) devices.push_back(to_device(t, refs(t)));
      *it = std::move(devices);
    }
  }
}

void simulated_fallback(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  const c10::FunctionSchema& schema = op.schema();
  const size_t num_args = schema.arguments().size();
  DeviceArgs args;
  for (auto it = stack->end() - static_cast<std::ptrdiff_t>(num_args); it != stack->end(); ++it) {
    if (it->isTensor()) {
      *it = args.to_host(it->toTensor(), /*cpu_allowed=*/false);
    } else if (it->isTensorList()) {
      c10::List<at::Tensor> devices = it->toTensorList();
      c10::List<at::Tensor> hosts;
      hosts.reserve(devices.size());
      for (const at::Tensor& t : devices) hosts.push_back(args.to_host(t, false));
      *it = std::move(hosts);
    } else if (it->isOptionalTensorList()) {
      // Tensor?[] (index lists) accept CPU indices, as on CUDA.
      c10::List<c10::optional<at::Tensor>> hosts;
      hosts.reserve(it->toListRef().size());
      for (const c10::IValue& v : it->toListRef()) {
        hosts.push_back(v.isTensor() ? c10::optional<at::Tensor>(args.to_host(v.toTensor(), true))
                                     : c10::nullopt);
      }
      *it = std::move(hosts);
    } else if (it->isDevice() && it->toDevice().type() == c10::DeviceType::PrivateUse1) {
      args.note_device(it->toDevice());
      *it = c10::Device(c10::kCPU);
    }
  }
  args.check_devices(schema.name().c_str());
  op.redispatchBoxed(c10::DispatchKeySet(c10::DispatchKey::CPU), stack);
  args.write_back();
  args.returns_to_device(stack, schema.returns().size());
}

at::Tensor index_tensor(const at::Tensor& self,
                        const c10::List<c10::optional<at::Tensor>>& indices) {
  DeviceArgs args;
  const at::Tensor host_self = args.to_host(self, /*cpu_allowed=*/false);
  c10::List<c10::optional<at::Tensor>> host_indices;
  host_indices.reserve(indices.size());
  for (size_t i = 0; i < indices.size(); ++i) {
    const c10::optional<at::Tensor> index = indices.get(i);
    host_indices.push_back(index ? c10::optional<at::Tensor>(args.to_host(*index, true))
                                 : c10::nullopt);
  }
  args.check_devices("aten::index.Tensor");
  at::Tensor result = at::index(host_self, host_indices);
  return args.to_device(result, 1);
}

}  // namespace shardsim::sim::detail
