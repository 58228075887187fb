// ShardedTensor (PyTorch's torch.distributed._shard): a global size and the
// local shards this rank owns, each with its metadata.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

#include "shardsim/core/shape.h"

namespace shardsim {

struct ShardMetadata {
  Shape offsets;          // global offset of the shard on every dim
  Shape sizes;            // the shard's size on every dim
  std::string placement;  // "rank:R/<device>", e.g. "rank:0/cpu"

  // The rank parsed from `placement`; -1 when it has none.
  int64_t rank() const;
  friend bool operator==(const ShardMetadata& a, const ShardMetadata& b) {
    return a.offsets == b.offsets && a.sizes == b.sizes && a.placement == b.placement;
  }
  friend bool operator!=(const ShardMetadata& a, const ShardMetadata& b) { return !(a == b); }
};
std::ostream& operator<<(std::ostream& os, const ShardMetadata& m);

struct LocalShard {
  at::Tensor tensor;
  ShardMetadata metadata;
};

class ShardedTensor {
 public:
  // `all_shards` is the metadata of every shard of the tensor on every rank
  // (PyTorch's ShardedTensorMetadata.shards_metadata); `local_shards` are the
  // ones this rank owns. Validates as validate_tiling does, and that every
  // local shard's metadata is one of `all_shards` and matches its tensor's
  // shape. Throws InvalidArgument naming the offending shard.
  // `dtype` is the tensor's element type (PyTorch's tensor properties); by
  // default that of the local shards, or float32 on a rank without any. Local
  // shards must all have it.
  ShardedTensor(Shape global_size, std::vector<LocalShard> local_shards,
                std::vector<ShardMetadata> all_shards,
                c10::optional<c10::ScalarType> dtype = c10::nullopt);

  // Checks that `all` tiles `global_size` exactly: every shard has the global
  // rank, lies in bounds, no two overlap, and together they cover it. Throws
  // InvalidArgument naming the offending shard(s) (index and metadata).
  static void validate_tiling(const Shape& global_size, const std::vector<ShardMetadata>& all);

  const Shape& size() const { return global_size_; }
  const std::vector<LocalShard>& local_shards() const { return shards_; }
  std::vector<LocalShard>& local_shards() { return shards_; }
  const std::vector<ShardMetadata>& shards_metadata() const { return all_shards_; }
  c10::ScalarType dtype() const { return dtype_; }

  // The same ShardedTensor with every local shard moved to `device`.
  ShardedTensor to(c10::Device device, bool non_blocking = false) const;

 private:
  Shape global_size_;
  std::vector<LocalShard> shards_;
  std::vector<ShardMetadata> all_shards_;
  c10::ScalarType dtype_;
};
std::ostream& operator<<(std::ostream& os, const ShardedTensor& t);

// "rank:R/<device>" as PyTorch prints it ("rank:0/cpu", "rank:1/cuda:1").
std::string shard_placement(int64_t rank, c10::Device device);

}  // namespace shardsim
