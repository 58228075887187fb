// The one recursive walk every state-dict utility is built on
// (reference-semantics §2).
//
// Vocabulary: a *leaf hook* turns a tensor-like leaf (ShardedTensor, DTensor,
// plain tensor) into a result; the *companion* is an optional structure of the
// same shape whose tensors receive the results in place; *listed* ranks are
// those in `ranks_only` (all ranks when it is empty), numbered within the
// Comm the call uses.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <c10/core/Device.h>
#include <c10/util/Optional.h>

#include "shardsim/core/value.h"

namespace shardsim {

class Comm;

struct TraversalOptions {
  Comm* comm = nullptr;                   // the process group; may be null when unused
  c10::optional<c10::Device> device;      // passed to the hooks
  bool cpu_offload = false;               // move tensor results to CPU (no companion)
  const Value* companion = nullptr;       // same-shaped structure receiving results
  std::vector<int64_t> ranks_only;        // listed ranks; empty = every rank
  bool type_check = true;                 // opaque values are an error when on
  bool non_blocking = false;              // for copies into the companion
};

// What a leaf hook sees besides the leaf itself.
struct HookContext {
  Comm* comm;
  c10::optional<c10::Device> device;
  const std::string& path;    // e.g. "optim.state.3.exp_avg"
  const Value* companion;     // the companion leaf, or null
  // Whether this rank is listed. The traversal drops a hook's result on a
  // rank that is not, so a hook may skip materialising it there (it must
  // still take part in every collective).
  bool listed = true;
};

struct TraversalHooks {
  std::function<Value(const ShardedTensor&, const HookContext&)> sharded_tensor;
  std::function<Value(const DTensor&, const HookContext&)> dtensor;
  std::function<Value(const at::Tensor&, const HookContext&)> tensor;
};

// Hooks that return every leaf unchanged.
TraversalHooks identity_hooks();

// Walks `input`: scalars, strings, bytes, streams and None pass through;
// mappings, lists and tuples are rebuilt with the same keys/order; tensor-like
// leaves go through the hooks. With a companion, its shape must match at
// every level (else MismatchError naming the path and both sides) and tensor
// results are copied into the companion's tensors, which are returned. On a
// rank that is not listed, every mapping result becomes {} and every other
// result None, AFTER the hooks ran (collectives run on every rank). With
// cpu_offload and no companion, tensor results of listed ranks move to CPU.
// With type_check, an opaque value throws InvalidArgument naming its path
// and type; without, it is deep-copied.
Value iterate_state_dict(const Value& input, const TraversalHooks& hooks,
                         const TraversalOptions& options);

// Whether this rank is listed (see above).
bool is_listed_rank(const Comm* comm, const std::vector<int64_t>& ranks_only);

}  // namespace shardsim
