// The real HostMemory: plain tensors from ATen, everything else from blocks.
#include <ATen/ATen.h>

#include "host_memory_block.h"
#include "host_memory_poison.h"
#include "shardsim/core/host_memory.h"

namespace shardsim {
namespace {

class SystemHostMemory : public HostMemory {
 public:
  explicit SystemHostMemory(HostMemoryOptions options)
      : options_(std::move(options)),
        registry_(std::make_shared<PinRegistry>(options_.on_release)) {}

  at::Tensor allocate(c10::IntArrayRef shape, c10::ScalarType dtype, HostAllocKind kind) override {
    for (int64_t size : shape) {
      SHARDSIM_CHECK_ARG(size >= 0, "host memory: negative size in shape ", shape, " (", kind, ")");
    }
    const auto options = at::TensorOptions().dtype(dtype).device(c10::kCPU);
    const bool empty = c10::multiply_integers(shape) == 0;
    switch (kind) {
      case HostAllocKind::kPlain:
      case HostAllocKind::kPinned: {
        // Nothing to lock in an empty tensor (the reference returns zeros).
        if (empty) return at::zeros(shape, options);
        if (kind == HostAllocKind::kPinned) return mapped(shape, dtype, false, true);
        at::Tensor t = at::empty(shape, options);
        if (options_.poison) detail::fill_poison_bytes(t.data_ptr(), t.nbytes(), dtype);
        return t;
      }
      case HostAllocKind::kShared:
        return mapped(shape, dtype, true, false);
      case HostAllocKind::kSharedPinned:
        return mapped(shape, dtype, true, !empty);
    }
    SHARDSIM_CHECK(false, "host memory: unknown kind ", static_cast<int>(kind));
    return {};
  }

  HostMemoryStats stats() const override { return registry_->stats(); }

 private:
  at::Tensor mapped(c10::IntArrayRef shape, c10::ScalarType dtype, bool shared, bool pinned) {
    detail::BlockRequest request;
    request.shared = shared;
    request.pinned = pinned;
    request.poison = options_.poison;
    request.backing = options_.shared_backing;
    return detail::make_mapped_tensor(registry_, shape, dtype, request);
  }

  HostMemoryOptions options_;
  std::shared_ptr<PinRegistry> registry_;
};

}  // namespace

std::shared_ptr<HostMemory> make_host_memory(HostMemoryOptions options) {
  return std::make_shared<SystemHostMemory>(std::move(options));
}

HostMemory& default_host_memory() {
  static const std::shared_ptr<HostMemory> instance = make_host_memory();
  return *instance;
}

bool is_shared(const at::Tensor& t) {
  const detail::HostBlock* block = detail::host_block_of(t);
  return block != nullptr && block->fd >= 0;
}

bool is_page_locked(const at::Tensor& t) {
  const detail::HostBlock* block = detail::host_block_of(t);
  return block != nullptr && block->pin_id != 0;
}

std::optional<SharedSegment> shared_segment(const at::Tensor& t) {
  const detail::HostBlock* block = detail::host_block_of(t);
  if (block == nullptr || block->fd < 0) return std::nullopt;
  SharedSegment segment;
  segment.fd = block->fd;
  segment.mapped_bytes = static_cast<int64_t>(block->mapped_bytes);
  if (!block->shm_name.empty()) {
    segment.name = block->shm_name;
    segment.path = "/dev/shm" + block->shm_name;
  } else {
    segment.name = block->label;
    segment.path = "/proc/" + std::to_string(block->owner) + "/fd/" + std::to_string(block->fd);
  }
  return segment;
}

}  // namespace shardsim
