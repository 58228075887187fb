// The page-lock mechanism behind HostMemory, one implementation per build:
// host_memory_lock_mlock.cpp (CPU builds) and host_memory_lock_cuda.cpp
// (SHARDSIM_WITH_CUDA). Private to core.
#pragma once

#include <cstddef>

namespace shardsim {
namespace detail {

// Page-locks [address, address + bytes), a page-aligned range of its own
// mapping. Throws PageLockError saying why, with `requested_bytes` (the
// tensor's bytes) and, where one applies, the limit and its current value.
void page_lock(void* address, size_t bytes, size_t requested_bytes);

// Releases a lock page_lock took. Never throws (it runs in a storage
// deleter); returns false when the OS or driver refused.
bool page_unlock(void* address, size_t bytes) noexcept;

// "mlock" or "cudaHostRegister".
const char* page_lock_mechanism_name() noexcept;

}  // namespace detail
}  // namespace shardsim
