// PyTorch's sharding arithmetic (compute_local_shape_and_global_offset, as of
// PyTorch 2.7), exactly; see reference-semantics §4.
//
// Vocabulary: for Shard(d) on mesh dimension i of size n, a rank's coordinate
// on i is c, and s is the size of tensor dimension d before this mesh
// dimension is applied (after the earlier ones). torch.chunk's rule then gives
// the rank a *chunk* of ceil(s/n) starting at c*chunk, clipped to s; a start at
// or past s is an *empty shard*, whose offset is reported as the GLOBAL size of d.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <vector>

#include "shardsim/core/placement.h"
#include "shardsim/core/shape.h"

namespace shardsim {

// One rank's piece of a global tensor.
struct LocalLayout {
  Shape shape;   // local shape
  Shape offset;  // global offset of the local piece on every tensor dim
  friend bool operator==(const LocalLayout& a, const LocalLayout& b) {
    return a.shape == b.shape && a.offset == b.offset;
  }
};
std::ostream& operator<<(std::ostream& os, const LocalLayout& layout);

// Start and size of coordinate `c`'s piece of a dimension of size `s` split
// over `n` (torch.chunk's rule). For an empty piece `size` is 0 and `start` is
// where the chunk rule puts it (possibly past `s`); the offset PyTorch reports
// for an empty shard is a separate rule, applied by
// compute_local_shape_and_global_offset.
struct ChunkRange {
  int64_t start;
  int64_t size;
};
ChunkRange chunk_range(int64_t s, int64_t n, int64_t c);

// Throws InvalidArgument unless `placements` fits the mesh (one per mesh dim)
// and every Shard dim is a valid dim of `global_shape` (no negative sizes).
void validate_placements(const Shape& global_shape, const Shape& mesh_shape,
                         const Placements& placements);

// Local shape and global offset of the rank at `coordinate` (one entry per
// mesh dimension) for `global_shape` split over `mesh_shape` by `placements`.
// Validates its input as validate_placements does.
LocalLayout compute_local_shape_and_global_offset(const Shape& global_shape,
                                                  const Shape& mesh_shape,
                                                  const Shape& coordinate,
                                                  const Placements& placements);

}  // namespace shardsim
