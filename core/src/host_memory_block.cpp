// Blocks: page-aligned mappings (private or shared), their page lock, and the
// storage deleter that releases all of it once, when the last view dies.
#include "host_memory_block.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <ATen/ATen.h>

#include "host_memory_page_lock.h"
#include "host_memory_poison.h"

namespace shardsim {
namespace detail {
namespace {

size_t page_size() {
  const long size = sysconf(_SC_PAGESIZE);
  return size > 0 ? static_cast<size_t>(size) : 4096;
}

std::string errno_str(int err) { return std::strerror(err); }

// Owns a block while it is being built; releases whatever exists on failure.
struct BlockGuard {
  HostBlock* block;
  ~BlockGuard() {
    if (block != nullptr) release_host_block(block);
  }
  HostBlock* take() {
    HostBlock* b = block;
    block = nullptr;
    return b;
  }
};

// Opens a new shared segment for `block` (fd and name); counts it.
void open_segment(HostBlock& block, SharedBacking backing) {
  if (backing == SharedBacking::kMemfd) {
    block.label = "shardsim-host";
    block.fd = memfd_create(block.label.c_str(), MFD_CLOEXEC);
    SHARDSIM_CHECK(block.fd >= 0, "shared host memory: memfd_create failed: ", errno_str(errno));
  } else {
    // Unique among live names: this process's id and the block's address,
    // with a suffix should a dead process have left the same name behind.
    for (int attempt = 0; attempt < 16 && block.fd < 0; ++attempt) {
      char name[96];
      std::snprintf(name, sizeof(name), "/shardsim-%ld-%p-%d", static_cast<long>(getpid()),
                    static_cast<void*>(&block), attempt);
      block.fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (block.fd >= 0) {
        block.shm_name = name;
      } else {
        SHARDSIM_CHECK(errno == EEXIST, "shared host memory: shm_open(", name,
                       ") failed: ", errno_str(errno));
      }
    }
    SHARDSIM_CHECK(block.fd >= 0, "shared host memory: no free shm name for this block");
  }
  block.registry->add_segment();
}

}  // namespace

void release_host_block(void* ptr) noexcept {
  auto* block = static_cast<HostBlock*>(ptr);
  try {
    // Unlock before unmapping: a CUDA registration must end while mapped.
    if (block->pin_id != 0) {
      const bool unlocked = page_unlock(block->base, block->mapped_bytes);
      block->registry->release(block->pin_id, unlocked);
    }
  } catch (...) {
    // An observer that throws cannot stop the release; the counters are kept.
  }
  if (block->base != nullptr) munmap(block->base, block->mapped_bytes);
  if (block->fd >= 0) {
    close(block->fd);
    if (!block->shm_name.empty() && block->owner == getpid()) shm_unlink(block->shm_name.c_str());
    block->registry->release_segment();
  }
  delete block;
}

const HostBlock* host_block_of(const at::Tensor& t) {
  if (!t.defined() || !t.has_storage()) return nullptr;
  return t.storage().data_ptr().cast_context<HostBlock>(&release_host_block);
}

at::Tensor make_mapped_tensor(const std::shared_ptr<PinRegistry>& registry, c10::IntArrayRef shape,
                              c10::ScalarType dtype, const BlockRequest& request) {
  int64_t numel = 1;
  for (int64_t size : shape) {
    SHARDSIM_CHECK_ARG(size >= 0, "host memory: negative size in shape ", shape);
    SHARDSIM_CHECK_ARG(!__builtin_mul_overflow(numel, size, &numel), "host memory: shape ", shape,
                       " overflows");
  }
  const size_t nbytes = static_cast<size_t>(numel) * c10::elementSize(dtype);
  const size_t page = page_size();

  BlockGuard guard{new HostBlock};
  HostBlock& block = *guard.block;
  block.registry = registry;
  block.owner = getpid();
  block.mapped_bytes = (nbytes + page - 1) / page * page;
  if (request.shared) open_segment(block, request.backing);

  if (block.mapped_bytes > 0) {
    void* base = MAP_FAILED;
    if (request.shared) {
      SHARDSIM_CHECK(ftruncate(block.fd, static_cast<off_t>(block.mapped_bytes)) == 0,
                     "shared host memory: sizing the segment to ", block.mapped_bytes,
                     " bytes failed: ", errno_str(errno));
      base = mmap(nullptr, block.mapped_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, block.fd, 0);
    } else {
      base = mmap(nullptr, block.mapped_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                  -1, 0);
    }
    SHARDSIM_CHECK(base != MAP_FAILED, "host memory: mapping ", block.mapped_bytes,
                   " bytes failed: ", errno_str(errno));
    block.base = base;
    if (request.poison && numel > 0) fill_poison_bytes(base, nbytes, dtype);
    if (request.pinned) {
      page_lock(base, block.mapped_bytes, nbytes);
      block.pin_id = registry->add(base, static_cast<int64_t>(block.mapped_bytes));
    }
  }

  void* data = block.base;
  return at::for_blob(data, shape)
      .context(guard.take(), &release_host_block)
      .options(at::TensorOptions().dtype(dtype).device(c10::kCPU))
      .make_tensor();
}

}  // namespace detail
}  // namespace shardsim
