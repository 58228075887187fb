// Device memory of the simulated accelerator: plain host memory whose DataPtrs
// carry the simulated device, counted so tests can check for leaks.
#include <c10/core/CPUAllocator.h>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <map>
#include <mutex>
#include <vector>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <utility>

#include "accelerator_internal.h"
#include "shardsim/sim/accelerator.h"

namespace shardsim::sim::detail {
namespace {

// The one piece of process-wide state besides ATen's registrations: a byte
// count, for leak checks (it reaches no result or schedule).
std::atomic<int64_t> g_bytes_in_use{0};

// Blocks are 64-byte aligned like ATen's CPU allocator; the header in front of
// the data remembers the size for the byte count, and how the block was made.
constexpr size_t kAlignment = 64;
struct BlockHeader {
  int64_t nbytes;   // what the caller asked for (the byte count)
  size_t mapped;    // the mapping's size for large blocks; 0 for heap blocks
};
static_assert(sizeof(BlockHeader) <= kAlignment, "header must fit in the alignment gap");

// Large blocks (tensors of a state dict, all-gather buffers) bypass the C
// heap: they are their own mappings, so a freed one goes back to the system
// (or to the cache below) instead of staying in a heap arena, where it
// fragments and inflates the resident size of big simulations. A small cache
// of recently freed mappings, by size, avoids faulting fresh pages in on every
// allocation of a repeated pattern (a gather repeated per step).
constexpr size_t kLargeBlock = size_t{1} << 20;

// At most an eighth of the machine's memory (and 4 GiB) stays cached.
size_t cache_limit() {
  static const size_t limit = [] {
    const long pages = ::sysconf(_SC_PHYS_PAGES);
    const long page = ::sysconf(_SC_PAGESIZE);
    const size_t ram = pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page)
                                             : size_t{8} << 30;
    return std::min(ram / 8, size_t{4} << 30);
  }();
  return limit;
}

class MappingCache {
 public:
  void* take(size_t mapped) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = free_.find(mapped);
    if (it == free_.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    cached_ -= mapped;
    return p;
  }
  // Keeps `p` for reuse, or returns false when the cache is full.
  bool give(void* p, size_t mapped) {
    std::lock_guard<std::mutex> lock(mu_);
    if (cached_ + mapped > cache_limit()) return false;
    free_[mapped].push_back(p);
    cached_ += mapped;
    return true;
  }

 private:
  std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;
  size_t cached_ = 0;
};

MappingCache& mapping_cache() {
  static MappingCache* cache = new MappingCache();  // never destroyed: storages may outlive statics
  return *cache;
}

void free_block(void* base) {
  auto* header = static_cast<BlockHeader*>(base);
  g_bytes_in_use.fetch_sub(header->nbytes, std::memory_order_relaxed);
  if (header->mapped == 0) {
    std::free(base);
    return;
  }
  const size_t mapped = header->mapped;
  if (!mapping_cache().give(base, mapped)) ::munmap(base, mapped);
}

// Host memory a kernel allocated, now owned by a device storage.
struct AdoptedBlock {
  c10::DataPtr host;
  int64_t nbytes;
};

void free_adopted(void* ctx) {
  auto* block = static_cast<AdoptedBlock*>(ctx);
  g_bytes_in_use.fetch_sub(block->nbytes, std::memory_order_relaxed);
  delete block;
}

// Counted 64-byte aligned blocks stamped with `device`.
c10::DataPtr allocate_block(size_t nbytes, c10::Device device, c10::DeviceIndex index) {
  if (nbytes == 0) return c10::DataPtr(nullptr, device);
  const size_t total = (nbytes + kAlignment + kAlignment - 1) / kAlignment * kAlignment;
  void* base = nullptr;
  size_t mapped = 0;
  if (total >= kLargeBlock) {
    static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    mapped = (total + page - 1) / page * page;
    base = mapping_cache().take(mapped);
    if (base == nullptr) {
      base = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (base == MAP_FAILED) base = nullptr;
    }
  } else {
    base = std::aligned_alloc(kAlignment, total);
  }
  TORCH_CHECK(base != nullptr, "simulated device privateuseone:", static_cast<int>(index),
              ": out of memory allocating ", nbytes, " bytes");
  static_cast<BlockHeader*>(base)->nbytes = static_cast<int64_t>(nbytes);
  static_cast<BlockHeader*>(base)->mapped = mapped;
  g_bytes_in_use.fetch_add(static_cast<int64_t>(nbytes), std::memory_order_relaxed);
  return c10::DataPtr(static_cast<char*>(base) + kAlignment, base, &free_block, device);
}

// Device memory of simulated device `index`. With `host_side`, the same memory
// tagged as CPU: what a CPU kernel gets when it grows a host alias's storage
// (resize_ of an out= argument), moved to the device afterwards.
class SimulatedAllocator final : public c10::Allocator {
 public:
  SimulatedAllocator(c10::DeviceIndex index, bool host_side)
      : index_(index), host_side_(host_side) {}

  c10::DataPtr allocate(size_t nbytes) const override {
    const c10::Device device =
        host_side_ ? c10::Device(c10::kCPU) : c10::Device(c10::DeviceType::PrivateUse1, index_);
    return allocate_block(nbytes, device, index_);
  }

 private:
  c10::DeviceIndex index_;
  bool host_side_;
};

// Follows the calling thread's current simulated device, like CUDA's allocator.
class CurrentDeviceAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t nbytes) const override {
    return allocator_for(current_device_index())->allocate(nbytes);
  }
};

using Allocators = std::array<std::unique_ptr<SimulatedAllocator>, kMaxSimulatedDeviceIndex + 1>;

// Never destroyed: storages may outlive static destruction.
const Allocators* make_allocators(bool host_side) {
  auto* all = new Allocators();
  for (size_t i = 0; i < all->size(); ++i) {
    (*all)[i] = std::make_unique<SimulatedAllocator>(static_cast<c10::DeviceIndex>(i), host_side);
  }
  return all;
}

// The data of a host alias: device memory seen as CPU memory. It holds a
// reference to the device StorageImpl, so the memory outlives the alias.
void release_device_storage(void* ctx) {
  c10::raw::intrusive_ptr::decref(static_cast<c10::StorageImpl*>(ctx));
}

// `data`, now owned by simulated device `device`: retagged when it is one of
// our blocks (already counted), else wrapped and counted.
c10::DataPtr device_owned(c10::DataPtr data, int64_t nbytes, c10::Device device) {
  if (data.get() == nullptr) return c10::DataPtr(nullptr, device);
  if (data.get_deleter() == &free_block) {
    data.unsafe_set_device(device);
    return data;
  }
  void* raw = data.get();
  auto* block = new AdoptedBlock{std::move(data), nbytes};
  g_bytes_in_use.fetch_add(nbytes, std::memory_order_relaxed);
  return c10::DataPtr(raw, block, &free_adopted, device);
}

}  // namespace

c10::Allocator* allocator_for(c10::DeviceIndex index) {
  static const Allocators* const allocators = make_allocators(/*host_side=*/false);
  check_device_index(index);
  return (*allocators)[static_cast<size_t>(index)].get();
}

c10::Allocator* host_side_allocator_for(c10::DeviceIndex index) {
  static const Allocators* const allocators = make_allocators(/*host_side=*/true);
  check_device_index(index);
  return (*allocators)[static_cast<size_t>(index)].get();
}

c10::Allocator* current_device_allocator() {
  static CurrentDeviceAllocator allocator;
  return &allocator;
}

int64_t bytes_in_use() { return g_bytes_in_use.load(std::memory_order_relaxed); }

c10::Storage adopt_host_storage(c10::StorageImpl& host, c10::DeviceIndex index) {
  const auto nbytes = static_cast<int64_t>(host.nbytes());
  c10::DataPtr taken = host.set_data_ptr(c10::DataPtr(nullptr, host.device()));
  host.set_nbytes(0);
  return c10::Storage(c10::make_intrusive<c10::StorageImpl>(
      c10::StorageImpl::use_byte_size_t(), nbytes,
      device_owned(std::move(taken), nbytes, c10::Device(c10::DeviceType::PrivateUse1, index)),
      allocator_for(index), /*resizable=*/true));
}

c10::Storage make_host_alias_storage(const c10::Storage& device) {
  c10::StorageImpl* impl = device.unsafeGetStorageImpl();
  c10::raw::intrusive_ptr::incref(impl);
  c10::DataPtr data(impl->data(), impl, &release_device_storage, c10::Device(c10::kCPU));
  return c10::Storage(c10::make_intrusive<c10::StorageImpl>(
      c10::StorageImpl::use_byte_size_t(), impl->nbytes(), std::move(data),
      host_side_allocator_for(device.device().index()), impl->resizable()));
}

void take_reallocated_memory(c10::StorageImpl& device, c10::StorageImpl& host) {
  const auto nbytes = static_cast<int64_t>(host.nbytes());
  c10::DataPtr taken = host.set_data_ptr(c10::DataPtr(nullptr, host.device()));
  host.set_nbytes(0);
  device.set_data_ptr_noswap(device_owned(std::move(taken), nbytes, device.device()));
  device.set_nbytes(nbytes);
}

}  // namespace shardsim::sim::detail
