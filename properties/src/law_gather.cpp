// Law 3: gather_state_dict of a distributed random tree gives the tree, on
// every rank, with ranks_only and cpu_offload as reference-semantics §2 says.
#include <algorithm>

#include <ATen/ATen.h>

#include "laws.h"
#include "shardsim/core/state_dict_utils.h"

namespace shardsim::properties::detail {

namespace {

// Checks where each tensor result lives, walking the description, the
// source and the result together: DTensors gather on the mesh's device,
// ShardedTensors on their local shard's device (CPU without one), plain
// tensors come back as they are; cpu_offload moves every result to CPU.
void check_places(LawContext& law, const CaseNode& n, const Value& source, const Value& got,
                  const std::string& path) {
  auto& ctx = law.ctx;
  const bool offload = law.c.operation.cpu_offload;
  const c10::Device cpu(c10::kCPU);
  switch (n.kind) {
    case CaseNode::Kind::kDTensor:
      ctx.check_device(got.tensor(), offload ? cpu : ctx.device(), law.at(path));
      break;
    case CaseNode::Kind::kSharded: {
      const auto& shards = source.sharded_tensor().local_shards();
      const c10::Device home = shards.empty() ? cpu : shards[0].tensor.device();
      ctx.check_device(got.tensor(), offload ? cpu : home, law.at(path));
      break;
    }
    case CaseNode::Kind::kTensor: {
      const at::Tensor& src = source.tensor();
      if (!offload || src.device().is_cpu()) {
        ctx.check(got.tensor().is_same(src),
                  law.at(path) + ": a plain tensor must come back as it is (the same tensor)");
      } else {
        ctx.check_device(got.tensor(), cpu, law.at(path));
      }
      break;
    }
    default:
      for (size_t i = 0; i < n.items.size(); ++i) {
        const Value* s = child_value(source, n, i);
        const Value* g = child_value(got, n, i);
        const std::string key = n.kind == CaseNode::Kind::kDict ? n.keys[i] : std::to_string(i);
        if (s != nullptr && g != nullptr)
          check_places(law, n.items[i], *s, *g, join_path(path, key));
      }
  }
}

}  // namespace

void law_gather_state_dict(LawContext& law) {
  const CaseFile& c = law.c;
  auto& ctx = law.ctx;
  const RankBuild b = law.build();
  const Value sd = build_rank_value(c.state_dict, b);
  GatherOptions options;
  options.cpu_offload = c.operation.cpu_offload;
  options.ranks_only = c.operation.ranks_only;
  const Value got = gather_state_dict(sd, ctx.comm(), c10::nullopt, options);

  const auto& only = c.operation.ranks_only;
  const bool listed = only.empty() || std::find(only.begin(), only.end(), ctx.rank()) != only.end();
  if (!listed) {
    ctx.check(got.is_mapping() && got.mapping().empty(),
              law.at("") + ": a rank outside ranks_only must get {}");
    ctx.record("gathered", got);
    return;
  }
  ctx.check_equal(got, build_full_value(c.state_dict, b), law.at(""));
  check_places(law, c.state_dict, sd, got, "");
  ctx.record("gathered", got);
}

}  // namespace shardsim::properties::detail
