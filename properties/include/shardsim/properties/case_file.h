// A case file: one test case of a law, held as data, so that it reruns
// unchanged on any backend and any build (no rapidcheck seed needed). It holds
// the generator's output, not its input: world, mesh, the state-dict
// description (every leaf's kind, dtype, global shape, placements or tiling,
// and the stream its values come from), the operation and its options, the
// seeds, faults and the expected outcome.
//
// Vocabulary: a *node* describes one value of a state dict; a *tensor node*
// (plain tensor, DTensor, ShardedTensor) names its values by a *stream*: the
// full (global) tensor is random_tensor(Random(derive_seed(data_seed,
// stream)), shape, dtype), identical on every rank and backend, so every
// rank's local piece and every oracle can be rebuilt from the case alone.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include <c10/core/ScalarType.h>

#include "shardsim/core/placement.h"
#include "shardsim/core/shape.h"
#include "shardsim/runner/run.h"

namespace shardsim::properties {

// The current case-file format version.
constexpr int64_t kCaseFormat = 1;

// One shard of a ShardedTensor tiling.
struct ShardDesc {
  Shape offsets;
  Shape sizes;
  int64_t rank = 0;  // the world rank that owns it
  friend bool operator==(const ShardDesc& a, const ShardDesc& b) {
    return a.offsets == b.offsets && a.sizes == b.sizes && a.rank == b.rank;
  }
};

struct CaseNode {
  // Scalars (kNone..kStream), tensor nodes (kTensor..kSharded), containers.
  // clang-format off
  enum class Kind {
    kNone, kBool, kInt, kFloat, kStr, kBytes, kStream,
    kTensor, kDTensor, kSharded,
    kList, kTuple, kDict,
  };
  // clang-format on
  Kind kind = Kind::kNone;

  // Scalars: kBool (flag), kInt (integer), kFloat (real), kStr/kBytes/kStream
  // (text holds the characters or raw bytes; position is kStream's read position).
  bool flag = false;
  int64_t integer = 0;
  double real = 0;
  std::string text;
  int64_t position = 0;

  // Tensor nodes.
  c10::ScalarType dtype = c10::ScalarType::Float;
  Shape shape;                    // the global shape
  uint64_t stream = 0;            // where the values come from (see above)
  bool per_rank = false;          // kTensor: every rank draws its own values
  bool strided = false;           // ranks hold non-contiguous tensors (every other element)
  Placements placements;          // kDTensor: one per mesh dimension of the case mesh
  std::vector<ShardDesc> shards;  // kSharded: a tiling of `shape`

  // Containers: items in order; keys for kDict only (same length as items).
  std::vector<CaseNode> items;
  std::vector<std::string> keys;

  bool is_tensor_node() const {
    return kind == Kind::kTensor || kind == Kind::kDTensor || kind == Kind::kSharded;
  }
  bool is_container() const {
    return kind == Kind::kList || kind == Kind::kTuple || kind == Kind::kDict;
  }

  friend bool operator==(const CaseNode& a, const CaseNode& b);
  friend bool operator!=(const CaseNode& a, const CaseNode& b) { return !(a == b); }
};
// "none", "bool", "int", "float", "str", "bytes", "stream", "tensor",
// "dtensor", "sharded", "list", "tuple", "dict": the words of the JSON format.
const char* node_kind_name(CaseNode::Kind kind);

// The operation a law applies, with every option it takes (the JSON format
// accepts only the options the operation uses).
struct CaseOperation {
  std::string name;                 // see operation_names()
  bool cpu_offload = false;         // gather_state_dict, broadcast_state_dict
  std::vector<int64_t> ranks_only;  // gather_state_dict; empty = every rank
  bool strict = false;              // broadcast_state_dict
  bool pin_memory = false;          // create_cpu_state_dict
  bool share_memory = false;        // create_cpu_state_dict
  bool non_blocking = false;        // create_cpu_state_dict (the copy)
  bool meta_local = false;          // distribute_tensors: DTensors without storage

  friend bool operator==(const CaseOperation& a, const CaseOperation& b);
  friend bool operator!=(const CaseOperation& a, const CaseOperation& b) { return !(a == b); }
};

// One step of the pinned-memory lifetime law (law pinned_lifetime).
struct LifetimeStep {
  enum class Op {
    kCreate,    // dict `dict` := create_cpu_state_dict(state_dict, pin, share)
    kView,      // keep a view of the tensor at `path` of dict `dict`
    kCopy,      // copy_state_dict(source, dict `dict`)
    kDelete,    // erase top-level `path` from dict `dict`
    kDrop,      // drop dict `dict`
    kDropView,  // drop view number `view` (numbered from 0 in order of creation)
  };
  Op op = Op::kCreate;
  int64_t dict = 0;
  std::string path;
  int64_t view = 0;
  bool pin = false;
  bool share = false;

  friend bool operator==(const LifetimeStep& a, const LifetimeStep& b);
  friend bool operator!=(const LifetimeStep& a, const LifetimeStep& b) { return !(a == b); }
};
// "create", "view", "copy", "delete", "drop", "drop_view".
const char* lifetime_op_name(LifetimeStep::Op op);

struct CaseFile {
  int64_t format = kCaseFormat;
  std::string law;  // see law_names()
  int64_t world = 1;
  Shape mesh;  // every DTensor's mesh, over ranks 0..world-1; product == world
  uint64_t data_seed = 1;
  uint64_t schedule_seed = 1;
  std::vector<uint64_t> schedule_seeds;  // schedule_independence: the seeds compared
  CaseOperation operation;
  CaseNode state_dict;              // a kDict
  std::vector<LifetimeStep> steps;  // pinned_lifetime only
  std::vector<std::string> faults;  // fault specs, passed to the backend as they are
  runner::Outcome expect = runner::Outcome::kPassed;
  std::string note;  // free text: where the case came from

  friend bool operator==(const CaseFile& a, const CaseFile& b);
  friend bool operator!=(const CaseFile& a, const CaseFile& b) { return !(a == b); }
};
// The case as its JSON text on one line (what rapidcheck prints).
std::ostream& operator<<(std::ostream& os, const CaseFile& c);

// The laws, in the order of the issue: layout_tiles, distribute_full_tensor,
// gather_state_dict, cpu_state_dict, slices_and_flatten, pinned_lifetime,
// schedule_independence.
const std::vector<std::string>& law_names();
// The operations: layout, distribute_tensor, gather_state_dict,
// create_cpu_state_dict, distribute_tensors, broadcast_state_dict,
// distribute_state_dict, flatten, lifetime.
const std::vector<std::string>& operation_names();
// The operations a law accepts.
std::vector<std::string> operations_of_law(const std::string& law);

// Limits a case must respect (absurd sizes are bad input, not a crash).
constexpr int64_t kMaxCaseWorld = int64_t{1} << 16;
constexpr int64_t kMaxCaseNumel = int64_t{1} << 24;  // per tensor
constexpr int64_t kMaxCaseDim = int64_t{1} << 24;    // per tensor dimension
constexpr int64_t kMaxCaseTensorDims = 8;
constexpr int64_t kMaxCaseDepth = 32;

// Throws InvalidArgument naming `source` and the field (e.g.
// "case.json: state_dict.a.1.placements: 3 placements for a 2-dim mesh")
// when the case is not valid: unknown law or operation, a mesh that does not
// fit the world, a placement or tiling that does not fit its tensor, ranks
// outside the world, absurd sizes, steps that name dicts or views that do
// not exist, ...
void validate_case(const CaseFile& c, const std::string& source);

// Visits every node of `root` with its dotted path ("a.0.b"; "" for the root).
void for_each_node(const CaseNode& root,
                   const std::function<void(const std::string&, const CaseNode&)>& visit);
// The number of elements of every tensor node together.
int64_t total_numel(const CaseNode& root);

}  // namespace shardsim::properties
