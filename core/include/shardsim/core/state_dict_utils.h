// PyTorch's distributed state-dict utilities (torch/distributed/_state_dict_utils.py)
// over the Comm seam; reference-semantics §3 is the contract, including where
// shardsim deliberately does better (ShardedTensor gather by metadata offsets,
// copy_state_dict validating before writing, read-only similarity check,
// poisoned fresh CPU memory).
#pragma once

#include <string>
#include <vector>

#include <c10/core/Device.h>
#include <c10/util/Optional.h>

#include "shardsim/core/value.h"

namespace shardsim {

class Comm;
class HostMemory;

struct GatherOptions {
  bool cpu_offload = false;
  std::vector<int64_t> ranks_only;  // group ranks that receive results; empty = all
  bool type_check = true;
};

// Gathers every DTensor (redistributed to Replicate on every mesh dimension
// on its mesh's device type) and every ShardedTensor (each shard placed by its
// metadata offsets, so any valid tiling works) into full tensors; plain
// tensors are returned as they are. Every rank of `comm` calls it.
Value gather_state_dict(const Value& state_dict, Comm& comm,
                        c10::optional<c10::Device> device = c10::nullopt,
                        const GatherOptions& options = {});

// The traversal with identity hooks and cpu_offload: every tensor, DTensor
// local tensor and ShardedTensor shard ends on CPU (already-CPU tensors are
// returned as they are, no copy). `comm` is needed only with ranks_only.
Value offload_state_dict_to_cpu(const Value& state_dict, Comm* comm = nullptr,
                                const std::vector<int64_t>& ranks_only = {},
                                bool type_check = true);

// Copies every tensor of `src` into the matching tensor of `dst` in place and
// returns a structure whose tensor leaves are dst's own tensors and whose
// other leaves come from src. The whole structure (keys, lengths, kinds,
// shapes, dtypes, DTensor local shapes, ShardedTensor shards) is validated
// BEFORE anything is written: on a mismatch `dst` is untouched and the
// MismatchError names the path and both sides.
Value copy_state_dict(const Value& src, const Value& dst, bool non_blocking = false,
                      bool type_check = true);

struct CreateCpuOptions {
  bool pin_memory = false;
  bool share_memory = false;
};

// A structure of the same shape where every tensor (plain, DTensor local,
// ShardedTensor shard) is a fresh CPU allocation of the same size and dtype
// from `host` (poisoned, not copied: fill it with copy_state_dict).
// Non-tensor leaves are deep-copied; type checking is off.
Value create_cpu_state_dict(const Value& state_dict, HostMemory& host,
                            const CreateCpuOptions& options = {});

// True iff the structures match (same keys, same lengths, same kinds) and
// every tensor leaf of `a` has a counterpart in `b` with the same dtype and
// size; DTensor specs and ShardedTensor metadata must match too. Read-only.
bool check_state_dict_similarity(const Value& a, const Value& b);
// The first reason they are not similar ("<path>: ..."), or nullopt.
c10::optional<std::string> state_dict_similarity_difference(const Value& a, const Value& b);

struct DistributeOptions {
  // Check the contract that every rank passes the same full tensors: one
  // all-gather of a digest per key, before anything is written; a
  // disagreement is a MismatchError on every rank naming the key, the ranks
  // and their digests.
  bool verify = false;
};

// For each key whose value is a (DTensor, full tensor) pair (tuple or list),
// takes this rank's slice of the full tensor (by the DTensor's mesh and
// placements) locally, without communication (unless options.verify): into
// the DTensor's local tensor in place, or, when the DTensor has no storage
// (meta), into a new DTensor with the same spec holding a clone. Stores the
// DTensor under the key. Keys that are missing or hold a plain tensor are
// skipped.
void distribute_tensors(Mapping& local_state_dict, const std::vector<std::string>& keys,
                        c10::Device device, Comm& comm, const DistributeOptions& options = {});

struct BroadcastOptions {
  bool strict = false;       // drop local keys the full state dict lacks
  bool cpu_offload = false;  // move results to CPU
};

// Only group rank 0 holds `full_state_dict` (ignored elsewhere). Rank 0
// broadcasts a description, then every tensor one at a time; DTensor local
// values keep only their slice, plain local values become the full tensor,
// non-tensor values and 0-dim tensors replace existing local keys.
void broadcast_state_dict(const Mapping& full_state_dict, Mapping& local_state_dict,
                          c10::Device device, Comm& comm, const BroadcastOptions& options = {});

// Every rank holds `full_state_dict`; each tensor key whose local value is a
// DTensor is distributed into its mesh and placements as distribute_tensor
// does (rank 0's data wins); a plain local tensor gets the full tensor on
// `device`; non-tensors and 0-dim tensors are copied; tensor keys missing
// locally are skipped.
void distribute_state_dict(const Mapping& full_state_dict, Mapping& local_state_dict,
                           c10::Device device, Comm& comm);

}  // namespace shardsim
