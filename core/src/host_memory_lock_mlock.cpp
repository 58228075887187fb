// Page-locking with mlock/munlock, the mechanism of CPU builds.
#ifndef SHARDSIM_WITH_CUDA

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "host_memory_page_lock.h"
#include "shardsim/core/host_memory.h"

namespace shardsim {
namespace detail {
namespace {

std::string rlimit_str(rlim_t value) {
  return value == RLIM_INFINITY ? std::string("unlimited") : std::to_string(value) + " bytes";
}

// mlock and munlock through syscall(2): sanitizers intercept the libc
// functions and turn them into no-ops, which would hide real locks from VmLck.
int sys_mlock(void* address, size_t bytes) {
  return static_cast<int>(syscall(SYS_mlock, address, bytes));
}
int sys_munlock(void* address, size_t bytes) {
  return static_cast<int>(syscall(SYS_munlock, address, bytes));
}

}  // namespace

void page_lock(void* address, size_t bytes, size_t requested_bytes) {
  if (sys_mlock(address, bytes) == 0) return;
  const int err = errno;
  std::string limit = "unknown (getrlimit failed)";
  rlimit rl{};
  if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0) {
    limit = "soft " + rlimit_str(rl.rlim_cur) + ", hard " + rlimit_str(rl.rlim_max);
  }
  throw PageLockError(
      concat("page-locking host memory failed: mlock of ", bytes, " bytes (", requested_bytes,
             " bytes requested) returned ", std::strerror(err),
             "; the limit is RLIMIT_MEMLOCK (ulimit -l): ", limit, "; this process already has ",
             process_locked_bytes(),
             " bytes locked (VmLck). Raise the limit (ulimit -l, docker --ulimit memlock, systemd "
             "LimitMEMLOCK) or run with CAP_IPC_LOCK"));
}

bool page_unlock(void* address, size_t bytes) noexcept { return sys_munlock(address, bytes) == 0; }

const char* page_lock_mechanism_name() noexcept { return "mlock"; }

}  // namespace detail
}  // namespace shardsim

#endif  // SHARDSIM_WITH_CUDA
