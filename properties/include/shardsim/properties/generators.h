// rapidcheck generators of cases. Every generator builds its value from
// earlier picks (gen::exec), so shrinking a pick regenerates what depends on
// it and every shrunk value is valid by construction: a placement never
// shards a dim the shrunk shape lacks, a tiling always tiles, ranks stay in
// the shrunk world, lifetime steps only name dicts and views that exist.
// Ranges grow with rapidcheck's size, so the first cases of a run are small.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <rapidcheck/Gen.h>

#include "shardsim/properties/case_file.h"

namespace shardsim::properties {

// How large generated cases get (at rapidcheck's full size).
struct GenLimits {
  int64_t max_world = 64;     // ranks of the mesh
  int64_t max_mesh_dims = 3;  // 1..3
  int64_t max_tensor_dims = 4;
  int64_t max_numel = 256;  // per tensor
  int64_t max_depth = 2;    // container nesting below the top-level dict
  int64_t max_items = 4;    // per container (and top-level entries)
  int64_t max_steps = 24;   // pinned_lifetime steps
};

// float32, float64, bfloat16, float16, int8, int16, int32, int64, uint8,
// bool, complex64.
const std::vector<c10::ScalarType>& generated_dtypes();
rc::Gen<c10::ScalarType> gen_dtype();

// A mesh of 1..max_mesh_dims dimensions holding at most max_world ranks.
rc::Gen<Shape> gen_mesh_shape(const GenLimits& limits);
// 0..max_tensor_dims dims (0-dim included) with sizes that do and do not
// divide the mesh's sizes, zero sizes included; at most max_numel elements.
rc::Gen<Shape> gen_shape(const Shape& mesh, const GenLimits& limits);
// One placement per mesh dimension: Replicate, Shard of any dim (one dim may
// be sharded on several mesh dims) or, when allowed, Partial.
rc::Gen<Placements> gen_placements(const Shape& shape, const Shape& mesh, bool partial);
// Any valid tiling of `shape` (guillotine cuts, empty shards included),
// each shard owned by a rank of the world (some ranks own none, some several).
rc::Gen<std::vector<ShardDesc>> gen_tiling(const Shape& shape, int64_t world);

// What a tree may hold.
struct TreeSpec {
  Shape mesh;
  bool containers = true;    // lists, tuples and nested dicts
  bool sharded = true;       // ShardedTensors
  bool scalars = true;       // None, bool, int, float, str, bytes, stream
  bool partial = true;       // Partial placements
  bool absent_keys = false;  // top-level keys may end in "_absent" (slices law)
  bool plain_tensors = true;
  bool dtensors = true;
};
// A state dict (a kDict) with streams numbered in traversal order.
rc::Gen<CaseNode> gen_state_dict(const TreeSpec& spec, const GenLimits& limits);

// Lifetime steps over `tree` that are valid at every point.
rc::Gen<std::vector<LifetimeStep>> gen_lifetime_steps(const CaseNode& tree,
                                                      const GenLimits& limits);

// A whole case of `law`, valid for validate_case.
rc::Gen<CaseFile> gen_case(const std::string& law, const GenLimits& limits = GenLimits());

}  // namespace shardsim::properties
