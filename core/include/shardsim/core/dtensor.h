// DTensor: a rank's local tensor plus the spec that says how it belongs to a
// global tensor (mesh, one placement per mesh dimension, global shape, stride).
#pragma once

#include <iosfwd>
#include <string>

#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

#include "shardsim/core/mesh.h"
#include "shardsim/core/placement.h"
#include "shardsim/core/shape.h"

namespace shardsim {

class Comm;

struct DTensorSpec {
  DeviceMesh mesh;
  Placements placements;  // one per mesh dimension
  Shape shape;            // global shape
  Shape stride;           // global stride

  std::string str() const;
  friend bool operator==(const DTensorSpec& a, const DTensorSpec& b);
  friend bool operator!=(const DTensorSpec& a, const DTensorSpec& b) { return !(a == b); }
};
std::ostream& operator<<(std::ostream& os, const DTensorSpec& spec);

class DTensor {
 public:
  // REQUIRES: spec.placements.size() == spec.mesh.ndim(). The local tensor is
  // taken as it is (no copy, no check of its shape against the spec: a meta
  // local tensor, for instance, is valid).
  DTensor(at::Tensor local, DTensorSpec spec);

  const at::Tensor& local() const { return local_; }
  at::Tensor& local() { return local_; }
  const DTensorSpec& spec() const { return spec_; }
  const DeviceMesh& mesh() const { return spec_.mesh; }
  const Placements& placements() const { return spec_.placements; }
  const Shape& shape() const { return spec_.shape; }
  const Shape& stride() const { return spec_.stride; }
  c10::ScalarType dtype() const { return local_.scalar_type(); }
  c10::Device device() const { return local_.device(); }

  // The same DTensor with its local tensor moved to `device` (no copy when
  // already there).
  DTensor to(c10::Device device, bool non_blocking = false) const;

 private:
  at::Tensor local_;
  DTensorSpec spec_;
};
std::ostream& operator<<(std::ostream& os, const DTensor& t);

// PyTorch's DTensor.from_local. Without `shape`, the global shape is inferred
// as if every shard were full (local size x mesh size on each sharded dim);
// without `stride`, it is the contiguous stride of the global shape.
// No communication.
DTensor from_local(at::Tensor local, const DeviceMesh& mesh, const Placements& placements,
                   c10::optional<Shape> shape = c10::nullopt,
                   c10::optional<Shape> stride = c10::nullopt);

// PyTorch's distribute_tensor: the full tensor of the mesh's first rank
// (coordinate 0 on every mesh dimension) is split by `placements` and each
// rank keeps its slice (on `comm.device()` when `device` is not given).
// Shard scatters along its mesh dimension, Replicate broadcasts, and Partial
// keeps the data on coordinate 0 of that mesh dimension and an additive
// identity elsewhere (-0.0 for floating types, so the sum is exact).
// Every rank of the mesh calls it; `full` is read on the source rank only but
// must have the same shape and dtype on every rank.
DTensor distribute_tensor(Comm& comm, const at::Tensor& full, const DeviceMesh& mesh,
                          const Placements& placements,
                          c10::optional<c10::Device> device = c10::nullopt);

// Redistributes to Replicate on every mesh dimension and returns the full
// tensor (on the local tensor's device): Shard -> all-gather along that mesh
// dimension (uneven and empty shards included), Partial -> all-reduce (sum in
// rank order). Mesh dimensions are undone last to first, so one tensor dim
// sharded on several mesh dims gathers correctly.
// With `device`, the full tensor ends there (for an offloaded gather, the
// last collective then receives straight into CPU memory).
at::Tensor full_tensor(Comm& comm, const DTensor& t,
                       c10::optional<c10::Device> device = c10::nullopt);

// Takes part in every collective full_tensor runs, but discards what the
// last one brings (a rank that will drop the full tensor anyway: the gather
// of a rank that ranks_only does not list). Earlier stages still compute
// what this rank sends on.
void full_tensor_discard(Comm& comm, const DTensor& t);

// The same, returned as a DTensor whose placements are all Replicate.
DTensor redistribute_to_replicate(Comm& comm, const DTensor& t);

}  // namespace shardsim
