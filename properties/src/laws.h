// The bodies of the laws: what one rank of a case does and checks. Each runs
// inside a scenario (so on any backend) and throws AssertionFailure, naming
// the rank, the operation and the state-dict path, when the law does not hold.
#pragma once

#include <functional>
#include <string>

#include "shardsim/properties/case_file.h"
#include "shardsim/properties/case_values.h"
#include "shardsim/runner/scenario.h"

namespace shardsim::properties::detail {

struct LawContext {
  const CaseFile& c;
  runner::ScenarioContext& ctx;
  FullValueCache& values;

  // How this rank builds values: on its own device, meshes on its device type.
  RankBuild build() const {
    RankBuild b;
    b.c = &c;
    b.rank = ctx.rank();
    b.device = ctx.device();
    b.values = &values;
    b.mesh_device_type = ctx.device().type();
    return b;
  }
  // "<operation>: <path>" for messages.
  std::string at(const std::string& path) const {
    return c.operation.name + ": " + (path.empty() ? "<root>" : path);
  }
};

void law_layout_tiles(LawContext& law);
void law_distribute_full_tensor(LawContext& law);
void law_gather_state_dict(LawContext& law);
void law_cpu_state_dict(LawContext& law);
void law_distribute_tensors(LawContext& law);
void law_broadcast_state_dict(LawContext& law);
void law_distribute_state_dict(LawContext& law);
void law_flatten(LawContext& law);
void law_pinned_lifetime(LawContext& law);

// Every tensor-like leaf of `v` (plain tensors, DTensor locals, ShardedTensor
// shards) with its path ("a.0", "a.0.local", "a.0.shard1").
void for_each_tensor(const Value& v,
                     const std::function<void(const std::string&, const at::Tensor&)>& visit,
                     const std::string& path = "");
// A deep copy of `v` whose tensors are fresh contiguous CPU copies.
Value clone_to_cpu(const Value& v);
// The value `v` holds where description `n` has its item `i` (the key of a
// dict, the index of a list or tuple), or nullptr.
const Value* child_value(const Value& v, const CaseNode& n, size_t i);
// The value at dotted `path` of `v`, or nullptr.
const Value* value_at(const Value& v, const std::string& path);

}  // namespace shardsim::properties::detail
