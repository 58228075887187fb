// Turning a case's description into values, and the oracles the laws compare
// against. Oracles never call the code under test: layouts come from ATen's
// chunk (torch.chunk's rule, as PyTorch's DTensor uses it), pieces from plain
// narrowing of the full tensor, full values from the data seed alone.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "shardsim/core/sharding.h"
#include "shardsim/core/value.h"
#include "shardsim/properties/case_file.h"

namespace shardsim::properties {

// The full (global) values of a tensor node on CPU: the node's stream drawn
// from the data seed (and, for a per-rank plain tensor, the rank).
at::Tensor full_values(const CaseNode& n, uint64_t data_seed, int64_t rank = 0);

// Full values computed once per case and shared by the ranks of one process.
class FullValueCache {
 public:
  explicit FullValueCache(uint64_t data_seed) : data_seed_(data_seed) {}
  // full_values(n, data_seed, rank); shared-stream values are cached.
  at::Tensor get(const CaseNode& n, int64_t rank = 0);
  uint64_t data_seed() const { return data_seed_; }

 private:
  uint64_t data_seed_;
  std::mutex mu_;
  std::map<uint64_t, at::Tensor> cache_;  // stream -> full values
};

// The coordinate of `rank` in a row-major mesh of `mesh_shape`.
Shape oracle_coordinate(int64_t rank, const Shape& mesh_shape);

// A rank's local shape and global offset by torch.chunk's rule, computed
// with ATen's chunk over index ranges, dimension by dimension of the mesh; an
// empty piece reports the global size as its offset (reference-semantics §4).
LocalLayout oracle_layout(const Shape& global, const Shape& mesh_shape, const Shape& coord,
                          const Placements& placements);

// Whether the rank at `coord` holds the data of a Partial DTensor (coordinate
// 0 on every Partial mesh dimension); the others hold the additive identity.
bool holds_partial_data(const Placements& placements, const Shape& coord);

// The piece of `full` at `layout` (a view; empty pieces are empty views).
at::Tensor oracle_piece(const at::Tensor& full, const LocalLayout& layout);

// A tensor like `t` whose every element leaves a sum's bits unchanged:
// -0.0 for floating and complex types, zero (false) otherwise.
at::Tensor additive_identity_like(const at::Tensor& t);

// Where and how a rank builds its values.
struct RankBuild {
  const CaseFile* c = nullptr;
  int64_t rank = 0;
  c10::Device device = c10::Device(c10::kCPU);  // where tensors live
  FullValueCache* values = nullptr;
  // kSharded placement strings use this device type ("rank:R/<type>").
  c10::DeviceType mesh_device_type = c10::kCPU;
};

// The DTensor a rank holds for a kDTensor node: its oracle piece (or the
// additive identity where Partial says so) with the node's spec.
DTensor build_dtensor(const CaseNode& n, const RankBuild& b);
// The ShardedTensor a rank holds for a kSharded node: the shards it owns.
ShardedTensor build_sharded(const CaseNode& n, const RankBuild& b);
// The value a rank holds for `n` (tensors on b.device, fresh storage).
Value build_rank_value(const CaseNode& n, const RankBuild& b);
// The value every tensor node stands for as one full tensor (DTensors and
// ShardedTensors as their full values), on CPU: what a gather must give.
Value build_full_value(const CaseNode& n, const RankBuild& b);

// A fresh copy of `t` on `device`: contiguous, or, for a strided node,
// every other element of a buffer twice as large (same values).
at::Tensor place_like_node(const at::Tensor& t, const CaseNode& n, c10::Device device);

// The mesh of the case over ranks 0..world-1 on `type`.
DeviceMesh case_mesh(const CaseFile& c, c10::DeviceType type);

}  // namespace shardsim::properties
