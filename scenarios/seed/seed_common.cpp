#include "seed_common.h"

#include <ATen/ATen.h>

namespace shardsim::scenarios {

at::Tensor oracle_gather_dim0(ScenarioContext& ctx, const Shape& shape, int64_t draws_before) {
  const std::string key = "oracle_gather_dim0/" + shape_str(shape) + "/" + std::to_string(draws_before);
  return ctx
      .memo(key,
            [&] {
              std::vector<at::Tensor> locals;
              for (int64_t r = 0; r < ctx.world_size(); ++r) {
                Random rng = ctx.data_of(r);
                at::Tensor t;
                for (int64_t i = 0; i <= draws_before; ++i) t = random_tensor(rng, shape, at::kFloat);
                locals.push_back(t);
              }
              return Value(at::cat(locals, 0));
            })
      .tensor();
}

void register_seed_scenarios(ScenarioRegistry& registry) {
  register_seed_gather_scenarios(registry);
  register_seed_cpu_state_dict_scenarios(registry);
  register_seed_distribute_scenarios(registry);
}

}  // namespace shardsim::scenarios
