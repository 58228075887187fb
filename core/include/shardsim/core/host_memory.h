// The host memory seam: every host allocation of create_cpu_state_dict passes
// through a HostMemory, so that sharing, page-locking and their release can be
// observed by tests and replaced by a fault-injecting wrapper.
//
// Vocabulary:
// - A *block* is one allocation made here: the memory behind one tensor's
//   storage. Plain blocks come from ATen's CPU allocator; every other block is
//   its own page-aligned mapping (page locks are not counted per caller, so
//   two locks must never share a page).
// - A *shared segment* is a memfd (or POSIX shm object) mapped MAP_SHARED.
//   Its descriptor stays open until the block dies, so it can be handed to
//   another process at any time; it is then closed (and a POSIX shm name
//   unlinked). Live segments are counted, so a leak shows.
// - A *registration* is one page lock (mlock on CPU builds, CUDA host
//   registration on CUDA builds). It is taken when the block is made and
//   released exactly once by the storage's deleter, which ATen runs when the
//   last tensor or view of the storage dies (the storage's weak reference
//   expires at that moment). A PinRegistry counts live, taken and released
//   registrations and any double release.
// - *Poison*: fresh memory is filled with a recognisable pattern (unless
//   switched off), so "differs before the copy" is deterministic:
//     floating types: a quiet NaN with payload A5 (f32 0x7FE5A5A5,
//       f64 0x7FFCA5A5A5A5A5A5, f16 0x7EA5, bf16 0x7FE5; complex: both parts),
//       never equal, nor close, to any value, and visible in any sum;
//     bool: true (the only valid non-zero value);
//     every other type (integers, quantized): every byte 0xA5
//       (int8 -91, uint8 165, int16 -23131, int32 -1515870811).
//
// Zero-element tensors follow the reference: a zero tensor of the requested
// shape; for the shared kinds it is a zero-byte shared segment (is_shared is
// true, nothing is mapped), and it is never page-locked (there is nothing to
// lock). 0-dim tensors hold one element and are allocated like any other.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>
#include <c10/util/ArrayRef.h>

#include "shardsim/core/error.h"

namespace shardsim {

enum class HostAllocKind {
  kPlain,         // an ordinary CPU tensor
  kShared,        // shared memory another process can map
  kPinned,        // page-locked
  kSharedPinned,  // shared memory, then page-locked
};
// "plain", "shared", "pinned", "shared+pinned".
const char* host_alloc_kind_name(HostAllocKind kind);
std::ostream& operator<<(std::ostream& os, HostAllocKind kind);
// The kind create_cpu_state_dict's `pin_memory` and `share_memory` flags ask for.
HostAllocKind host_alloc_kind(bool pin_memory, bool share_memory);

// Page-locking failed. The message says which mechanism, the bytes requested
// and, for mlock, RLIMIT_MEMLOCK with its current value and VmLck.
class PageLockError : public Error {
 public:
  using Error::Error;
};

// Counters of one registry. Bytes of locks are whole pages (what VmLck counts).
struct HostMemoryStats {
  int64_t live_registrations = 0;     // page locks taken and not yet released
  int64_t locked_bytes = 0;           // bytes those live locks cover
  int64_t total_registered = 0;       // page locks ever taken
  int64_t total_released = 0;         // page locks ever released (each once)
  int64_t double_releases = 0;        // releases of a registration not live: must stay 0
  int64_t failed_releases = 0;        // releases the OS refused (still counted released)
  int64_t live_shared_segments = 0;   // shared segments whose block is alive
  int64_t total_shared_segments = 0;  // shared segments ever made

  friend bool operator==(const HostMemoryStats& a, const HostMemoryStats& b);
  friend bool operator!=(const HostMemoryStats& a, const HostMemoryStats& b) { return !(a == b); }
};
std::ostream& operator<<(std::ostream& os, const HostMemoryStats& stats);

// One released registration, as handed to an observer.
struct PinRelease {
  int64_t id = 0;  // the registration's number in its registry, from 1
  const void* address = nullptr;
  int64_t bytes = 0;     // whole pages
  bool unlocked = true;  // false when the OS refused the unlock
};

// The bookkeeping of page-lock registrations and shared segments. Thread-safe:
// a storage may die on any thread. It counts; it does not lock memory itself.
class PinRegistry {
 public:
  // `on_release` (may be empty) runs after each release, outside the
  // registry's lock, on the thread that released; it must not throw.
  explicit PinRegistry(std::function<void(const PinRelease&)> on_release = {});

  // Records a lock of `bytes` at `address`; returns its id (1, 2, ...).
  int64_t add(const void* address, int64_t bytes);
  // Records the release of registration `id`. Returns false, and counts a
  // double release, when `id` is not live (never taken or already released).
  bool release(int64_t id, bool unlocked = true);
  // True while registration `id` is taken and not released.
  bool is_live(int64_t id) const;

  // Counts a shared segment made; returns its number (1, 2, ...).
  int64_t add_segment();
  // Counts a shared segment closed.
  void release_segment();

  HostMemoryStats stats() const;

 private:
  struct Entry {
    const void* address;
    int64_t bytes;
  };
  mutable std::mutex mu_;
  std::map<int64_t, Entry> live_;
  HostMemoryStats stats_;
  std::function<void(const PinRelease&)> on_release_;
};

// How shared blocks are made.
enum class SharedBacking {
  kMemfd,     // memfd_create: anonymous; other processes open /proc/<pid>/fd/<fd>
  kPosixShm,  // shm_open: named while the block lives, unlinked when it dies
};

struct HostMemoryOptions {
  bool poison = true;  // fill fresh memory with the poison pattern
  SharedBacking shared_backing = SharedBacking::kMemfd;  // how shared blocks are made
  std::function<void(const PinRelease&)> on_release;     // see PinRegistry; may be empty
};

// The seam. Virtual so that a fault-injecting wrapper can stand in for it
// (for example failing the N-th allocation of a kind).
class HostMemory {
 public:
  virtual ~HostMemory() = default;
  // A fresh, contiguous CPU tensor of `shape` and `dtype` made as `kind` asks
  // (contents: the poison pattern, or unspecified with poison off; zeros when
  // it has no elements). Its storage is not resizable: resize_ beyond it throws
  // instead of replacing the memory. Throws PageLockError when page-locking
  // fails (nothing is leaked then), InvalidArgument for a negative size.
  virtual at::Tensor allocate(c10::IntArrayRef shape, c10::ScalarType dtype,
                              HostAllocKind kind) = 0;
  // The counters of this seam's registry.
  virtual HostMemoryStats stats() const = 0;
};

// The real host memory, with its own PinRegistry. Tensors it made may outlive
// it: each block keeps the registry alive until it dies.
std::shared_ptr<HostMemory> make_host_memory(HostMemoryOptions options = {});

// A process-wide instance for command-line tools only. The simulator and
// scenarios create and pass their own, so two worlds never share counters.
HostMemory& default_host_memory();

// True when `t`'s storage is a shared block made here (false for anything else).
bool is_shared(const at::Tensor& t);
// True when `t`'s storage is a page-locked block made here whose lock is held.
bool is_page_locked(const at::Tensor& t);

// How another process reaches a shared block.
struct SharedSegment {
  int fd = -1;       // open (close-on-exec) while any view of the storage lives
  std::string name;  // kPosixShm: the shm_open name; kMemfd: the memfd's label
  std::string path;  // a path another process can open: /proc/<pid>/fd/<fd> or /dev/shm/<name>
  int64_t mapped_bytes = 0;  // the segment's size (whole pages; 0 for a zero-byte block)
};
// The segment behind `t`'s storage when it is a shared block made here.
std::optional<SharedSegment> shared_segment(const at::Tensor& t);

// This process's locked memory (VmLck of /proc/self/status) in bytes; -1 when unreadable.
int64_t process_locked_bytes();
// The page-lock mechanism of this build: "mlock" or "cudaHostRegister".
const char* page_lock_mechanism();

// Writes the poison pattern of t's dtype into every element of CPU tensor `t`.
void fill_poison(const at::Tensor& t);
// True when every element of CPU tensor `t` is bit-equal to its dtype's poison.
bool is_poisoned(const at::Tensor& t);

}  // namespace shardsim
