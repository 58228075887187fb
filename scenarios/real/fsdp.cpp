// FSDP: a real libtorch module (a transformer encoder layer) and its Adam
// state after real optimizer steps, sharded Shard(0) on a 1-D mesh and
// gathered back, as a full-checkpoint save does.
#include <ATen/ATen.h>
#include <torch/nn/modules/transformerlayer.h>
#include <torch/optim/adam.h>

#include "real_common.h"
#include "shardsim/core/state_dict_utils.h"

namespace shardsim::scenarios {

namespace {

// The full (unsharded) model and optimizer state dict of a small transformer
// encoder layer after two Adam steps, on CPU, identical on every rank: its
// parameters and gradients come from the shared stream (never ATen's RNG).
// Keys follow PyTorch's distributed state_dict: {"model": {fqn: tensor},
// "optim": {"state": {fqn: {"step", "exp_avg", "exp_avg_sq"}}, "param_groups":
// [{lr, betas, eps, weight_decay, amsgrad, params: [fqn...]}]}}.
Mapping train_state(Random& shared) {
  torch::nn::TransformerEncoderLayer layer(
      torch::nn::TransformerEncoderLayerOptions(16, 2).dim_feedforward(24).dropout(0.0));
  std::vector<std::string> names;
  std::vector<at::Tensor> params;
  {
    torch::NoGradGuard no_grad;  // never held across a suspension point
    for (const auto& p : layer->named_parameters()) {
      names.push_back(p.key());
      params.push_back(p.value());
      at::Tensor v = p.value();
      v.copy_(random_tensor(shared, Shape(v.sizes().begin(), v.sizes().end()), at::kFloat));
    }
  }
  torch::optim::Adam adam(params, torch::optim::AdamOptions(1e-3).betas({0.9, 0.999}).weight_decay(0.01));
  for (int step = 0; step < 2; ++step) {
    for (at::Tensor& p : params) {
      p.mutable_grad() = random_tensor(shared, Shape(p.sizes().begin(), p.sizes().end()), at::kFloat);
    }
    adam.step();
  }

  Mapping model;
  Mapping state;
  List fqns;
  for (size_t i = 0; i < params.size(); ++i) {
    model.set(names[i], params[i].detach().clone());
    const auto& st = static_cast<const torch::optim::AdamParamState&>(
        *adam.state().at(c10::guts::to_string(params[i].unsafeGetTensorImpl())));
    state.set(names[i], Mapping{{"step", st.step()},
                                {"exp_avg", st.exp_avg().detach().clone()},
                                {"exp_avg_sq", st.exp_avg_sq().detach().clone()}});
    fqns.items.push_back(names[i]);
  }
  const auto& options = static_cast<const torch::optim::AdamOptions&>(adam.param_groups()[0].options());
  Mapping group{{"lr", options.lr()},
                {"betas", Tuple{{std::get<0>(options.betas()), std::get<1>(options.betas())}}},
                {"eps", options.eps()},
                {"weight_decay", options.weight_decay()},
                {"amsgrad", options.amsgrad()},
                {"params", fqns}};
  Mapping optim{{"state", state}, {"param_groups", List{{group}}}};
  return Mapping{{"model", model}, {"optim", optim}};
}

// Every tensor of a gathered tree is on `device` (plain tensors only).
void check_all_on(ScenarioContext& ctx, const Value& v, c10::Device device, const std::string& path) {
  if (v.is_tensor()) {
    ctx.check_device(v.tensor(), device, path);
  } else if (v.is_mapping()) {
    for (size_t i = 0; i < v.mapping().size(); ++i) {
      check_all_on(ctx, v.mapping().value(i), device, join_path(path, v.mapping().key(i)));
    }
  } else if (v.is_list() || v.is_tuple()) {
    const auto& items = v.is_list() ? v.list().items : v.tuple().items;
    for (size_t i = 0; i < items.size(); ++i) check_all_on(ctx, items[i], device, join_path(path, std::to_string(i)));
  }
}

void fsdp_transformer_adam(ScenarioContext& ctx) {
  // Every rank builds the same state; on fibers it is built once per run.
  const Value full_value = ctx.memo("fsdp_transformer_adam/train_state", [&] {
    Random rng = ctx.shared_from_start();
    return Value(train_state(rng));
  });
  const Mapping& full = full_value.mapping();
  const DeviceMesh mesh = ctx.mesh_1d();
  const Value sharded = shard_tree(ctx, tree_to(full, ctx.device()), mesh, {Placement::shard(0)});

  // Every rank gathers the full state dict, on the mesh's device.
  const Value gathered = gather_state_dict(sharded, ctx.comm());
  ctx.check_equal(gathered, full, "");
  check_all_on(ctx, gathered.mapping().at("model"), ctx.device(), "model");

  // A full checkpoint save: rank 0 alone receives it, on CPU.
  GatherOptions save;
  save.ranks_only = {0};
  save.cpu_offload = true;
  const Value saved = gather_state_dict(sharded, ctx.comm(), c10::nullopt, save);
  if (ctx.rank() == 0) {
    ctx.check_equal(saved, full, "");
    check_all_on(ctx, saved, c10::Device(c10::kCPU), "");
  } else {
    ctx.check_equal(saved, Mapping{}, "<saved state dict>");
  }

  // Loading it back: distribute the full model into the sharded structure.
  Mapping local_model = sharded.mapping().at("model").mapping();
  distribute_state_dict(full.at("model").mapping(), local_model, ctx.device(), ctx.comm());
  for (size_t i = 0; i < local_model.size(); ++i) {
    const DTensor& d = local_model.value(i).dtensor();
    const at::Tensor want = chunk_oracle(full.at("model").mapping().value(i).tensor(), mesh.shape(),
                                         mesh.coordinate(ctx.rank()), d.placements());
    ctx.check_equal(d.local(), want, "model." + local_model.key(i) + ".local");
  }
  ctx.record("gathered", gathered);
  ctx.record("saved", saved);
}

}  // namespace

void register_fsdp_scenarios(ScenarioRegistry& r) {
  r.add(define_scenario("fsdp_transformer_adam", fsdp_transformer_adam)
            .summary("FSDP Shard(0) of a transformer layer's state dict with Adam state after two steps: gather, "
                     "full-checkpoint save to rank 0 on CPU, and load back with distribute_state_dict")
            .default_world(4));
}

}  // namespace shardsim::scenarios
