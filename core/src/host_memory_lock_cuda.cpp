// Page-locking by CUDA host registration, the mechanism of CUDA builds (as the
// reference does it: cudaHostRegister with the portable flag, then
// cudaHostUnregister).
#ifdef SHARDSIM_WITH_CUDA

#include <cuda_runtime_api.h>

#include <string>

#include "host_memory_page_lock.h"
#include "shardsim/core/host_memory.h"

namespace shardsim {
namespace detail {

void page_lock(void* address, size_t bytes, size_t requested_bytes) {
  const cudaError_t err = cudaHostRegister(address, bytes, cudaHostRegisterPortable);
  if (err == cudaSuccess) return;
  cudaGetLastError();  // clear it, so later CUDA calls do not report it
  throw PageLockError(concat("page-locking host memory failed: cudaHostRegister of ", bytes,
                             " bytes (", requested_bytes, " bytes requested) returned ",
                             cudaGetErrorName(err), " (", cudaGetErrorString(err),
                             "); the driver limits pinned host memory (see its locked-memory "
                             "limit, RLIMIT_MEMLOCK for unprivileged processes)"));
}

bool page_unlock(void* address, size_t bytes) noexcept {
  if (cudaHostUnregister(address) == cudaSuccess) return true;
  cudaGetLastError();
  return false;
}

const char* page_lock_mechanism_name() noexcept { return "cudaHostRegister"; }

}  // namespace detail
}  // namespace shardsim

#endif  // SHARDSIM_WITH_CUDA
