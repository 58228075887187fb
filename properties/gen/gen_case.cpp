// Generators of whole cases, one per law.
#include <algorithm>

#include <rapidcheck.h>

#include "shardsim/core/error.h"
#include "shardsim/properties/generators.h"

namespace shardsim::properties {

namespace {

rc::Gen<int64_t> between(int64_t lo, int64_t hi) { return rc::gen::inRange<int64_t>(lo, hi + 1); }

int64_t product(const Shape& s) {
  int64_t p = 1;
  for (int64_t x : s) p *= x;
  return p;
}

// A case with the mesh, seeds and the operation of `law` filled in; the tree is the caller's.
CaseFile base_case(const std::string& law, const std::string& op, const Shape& mesh) {
  CaseFile c;
  c.law = law;
  c.operation.name = op;
  c.mesh = mesh;
  c.world = product(mesh);
  c.data_seed = static_cast<uint64_t>(*between(0, 1000000));
  c.schedule_seed = static_cast<uint64_t>(*between(1, 1000));
  c.note = "generated for law " + law;
  return c;
}

// A flat dict of DTensors only (laws 1 and 2).
TreeSpec dtensors_only(const Shape& mesh) {
  TreeSpec spec;
  spec.mesh = mesh;
  spec.containers = false;
  spec.sharded = false;
  spec.scalars = false;
  spec.plain_tensors = false;
  return spec;
}

CaseFile gen_operation_case(const std::string& law, const std::string& op,
                            const GenLimits& limits) {
  const Shape mesh = *gen_mesh_shape(limits);
  CaseFile c = base_case(law, op, mesh);
  if (op == "distribute_tensor") {
    c.state_dict = *gen_state_dict(dtensors_only(mesh), limits);
  } else if (op == "gather_state_dict") {
    TreeSpec spec;
    spec.mesh = mesh;
    c.state_dict = *gen_state_dict(spec, limits);
    c.operation.cpu_offload = *between(0, 1) == 1;
    if (*between(0, 1) == 1) {
      for (int64_t r = 0; r < c.world; ++r) {
        if (*between(0, 1) == 1) c.operation.ranks_only.push_back(r);
      }
    }
  } else if (op == "create_cpu_state_dict") {
    TreeSpec spec;
    spec.mesh = mesh;
    c.state_dict = *gen_state_dict(spec, limits);
    c.operation.pin_memory = *between(0, 1) == 1;
    c.operation.share_memory = *between(0, 1) == 1;
    c.operation.non_blocking = *between(0, 1) == 1;
  } else if (op == "flatten") {
    TreeSpec spec;
    spec.mesh = mesh;
    c.state_dict = *gen_state_dict(spec, limits);
  } else {  // distribute_tensors, broadcast_state_dict, distribute_state_dict
    TreeSpec spec;
    spec.mesh = mesh;
    spec.containers = false;
    spec.sharded = false;
    spec.absent_keys = true;
    c.state_dict = *gen_state_dict(spec, limits);
    if (op == "distribute_tensors") c.operation.meta_local = *between(0, 1) == 1;
    if (op == "broadcast_state_dict") {
      c.operation.strict = *between(0, 1) == 1;
      c.operation.cpu_offload = *between(0, 1) == 1;
    }
  }
  return c;
}

}  // namespace

rc::Gen<CaseFile> gen_case(const std::string& law, const GenLimits& limits) {
  const auto ops = operations_of_law(law);
  SHARDSIM_CHECK_ARG(!ops.empty(), "no generator for law '", law, "'");
  return rc::gen::exec([law, ops, limits] {
    if (law == "layout_tiles") {
      // Arithmetic only: larger worlds and tensors cost little here.
      GenLimits wide = limits;
      wide.max_numel = std::max<int64_t>(limits.max_numel, 4096);
      const Shape mesh = *gen_mesh_shape(wide);
      CaseFile c = base_case(law, "layout", mesh);
      c.state_dict = *gen_state_dict(dtensors_only(mesh), wide);
      return c;
    }
    if (law == "pinned_lifetime") {
      // Each rank runs the steps on its own memory: a small world is enough.
      GenLimits small = limits;
      small.max_world = std::min<int64_t>(limits.max_world, 2);
      small.max_mesh_dims = 1;
      const Shape mesh = *gen_mesh_shape(small);
      CaseFile c = base_case(law, "lifetime", mesh);
      TreeSpec spec;
      spec.mesh = mesh;
      c.state_dict = *gen_state_dict(spec, limits);
      c.steps = *gen_lifetime_steps(c.state_dict, limits);
      return c;
    }
    if (law == "cpu_state_dict") {
      // Every rank page-locks its own copy: keep the world small.
      GenLimits small = limits;
      small.max_world = std::min<int64_t>(limits.max_world, 8);
      return gen_operation_case(law, "create_cpu_state_dict", small);
    }
    if (law == "schedule_independence") {
      GenLimits wide = limits;
      CaseFile c = gen_operation_case(law, *rc::gen::elementOf(ops), wide);
      const int64_t n = *between(2, 4);
      for (int64_t i = 0; i < n; ++i) {
        c.schedule_seeds.push_back(static_cast<uint64_t>(1 + i * 7919 + *between(0, 7918)));
      }
      c.schedule_seed = c.schedule_seeds.front();
      return c;
    }
    return gen_operation_case(law, *rc::gen::elementOf(ops), limits);
  });
}

}  // namespace shardsim::properties
