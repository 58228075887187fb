// Private to core: a block, the memory behind one storage made by HostMemory
// (see host_memory.h for the vocabulary).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>
#include <c10/util/ArrayRef.h>

#include "shardsim/core/host_memory.h"

namespace shardsim {
namespace detail {

struct HostBlock {
  std::shared_ptr<PinRegistry> registry;  // kept alive by every block
  void* base = nullptr;                   // the mapping; null for a zero-byte block
  size_t mapped_bytes = 0;                // whole pages
  int fd = -1;                            // the shared segment, open until release
  std::string shm_name;                   // kPosixShm: linked until release
  std::string label;                      // kMemfd: the memfd's label
  pid_t owner = 0;                        // the process that made it (only it unlinks)
  int64_t pin_id = 0;                     // the registration; 0 when not page-locked
};

// The storage deleter: releases the lock (exactly once), unmaps, closes and
// unlinks the segment, then frees the block. Never throws.
void release_host_block(void* block) noexcept;

// The block behind `t`'s storage, or null when it was not made here.
const HostBlock* host_block_of(const at::Tensor& t);

// What make_mapped_tensor should make.
struct BlockRequest {
  bool shared = false;
  bool pinned = false;
  bool poison = true;
  SharedBacking backing = SharedBacking::kMemfd;
};

// A contiguous CPU tensor over a fresh block of its own mapping (or, for zero
// bytes, no mapping), made as `request` says; zeros when it has no elements.
at::Tensor make_mapped_tensor(const std::shared_ptr<PinRegistry>& registry, c10::IntArrayRef shape,
                              c10::ScalarType dtype, const BlockRequest& request);

}  // namespace detail
}  // namespace shardsim
