// Edge cases from real use: dims that divide unevenly (3, 5, 7 ranks),
// empty shards, 0-dim and zero-size tensors, and ShardedTensors of any
// valid tiling (placed by their metadata offsets).
#include <ATen/ATen.h>

#include "real_common.h"
#include "shardsim/core/state_dict_utils.h"

namespace shardsim::scenarios {

namespace {

// Dims of 1..13 over any world, sharded on dim 0 or 1: trailing ranks get
// short or empty shards (a 1x2 tensor over 4 ranks gives three 0x2 shards).
void uneven_shards(ScenarioContext& ctx) {
  const DeviceMesh mesh = ctx.mesh_1d();
  const Shape coord = mesh.coordinate(ctx.rank());
  Mapping full;
  const std::vector<Shape> shapes{{1, 2}, {2, 3}, {5, 4}, {7, 1}, {11, 3}, {13, 13}, {3, 7}};
  for (const Shape& s : shapes) {
    for (int64_t d : {0, 1}) {
      full.set("s" + std::to_string(d) + shape_str(s), random_tensor(ctx.shared(), s, at::kFloat));
    }
  }
  Mapping sharded;
  for (size_t i = 0; i < full.size(); ++i) {
    const int64_t d = full.key(i)[1] - '0';
    const at::Tensor& t = full.value(i).tensor();
    const Placements ps{Placement::shard(d)};
    const DTensor dt = distribute_tensor(ctx.comm(), t, mesh, ps);
    ctx.check_equal(dt.local(), chunk_oracle(t, mesh.shape(), coord, ps), full.key(i) + " local");
    sharded.set(full.key(i), dt);
  }
  const Value gathered = gather_state_dict(sharded, ctx.comm());
  ctx.check_equal(gathered, full, "");
  ctx.record("gathered", gathered);
}

// 0-dim tensors of several dtypes, zero-size tensors and DTensors with no
// elements go through gather, create_cpu_state_dict + copy and offload.
void zero_dim_and_empty(ScenarioContext& ctx) {
  const DeviceMesh mesh = ctx.mesh_1d();
  const auto dev = at::TensorOptions().device(ctx.device());
  Mapping full{
      {"step", at::tensor(int64_t{7}).reshape({})},
      {"loss", random_tensor(ctx.shared(), {}, at::kFloat)},
      {"flag", at::full({}, true, at::kBool)},
      {"empty", at::empty({0}, at::kFloat)},
      {"empty_rows", at::empty({0, 3}, at::kDouble)},
      {"empty_cols", at::empty({4, 0}, at::kInt)},
      {"tiny", random_tensor(ctx.shared(), {1}, at::kFloat)},
  };
  Mapping sharded;
  for (size_t i = 0; i < full.size(); ++i) {
    const at::Tensor& t = full.value(i).tensor();
    if (t.dim() == 0) {
      sharded.set(full.key(i), t.to(ctx.device()));
    } else {
      sharded.set(full.key(i), distribute_tensor(ctx.comm(), t, mesh, {Placement::shard(0)}));
    }
  }
  const Value gathered = gather_state_dict(sharded, ctx.comm());
  ctx.check_equal(gathered, full, "");

  Value cpu = create_cpu_state_dict(sharded, ctx.host_memory(), CreateCpuOptions{true, true});
  ctx.check(check_state_dict_similarity(sharded, cpu),
            "not similar: " + state_dict_similarity_difference(sharded, cpu).value_or(""));
  const Value copied = copy_state_dict(sharded, cpu);
  const Value offloaded = offload_state_dict_to_cpu(sharded);
  ctx.check_equal(copied, offloaded, "");
  ctx.check_equal(offloaded.mapping().at("step"), at::tensor(int64_t{7}).reshape({}), "step");
  (void)dev;
  ctx.record("gathered", gathered);
  ctx.record("copied", copied);
}

// Splits box [lo, lo+size) into `parts` boxes by cutting the longest dim at a
// point drawn from `rng` (any valid tiling, some boxes possibly empty).
void split_boxes(Random& rng, Shape lo, Shape size, int64_t parts, std::vector<std::pair<Shape, Shape>>& out) {
  if (parts == 1) {
    out.emplace_back(lo, size);
    return;
  }
  size_t d = 0;
  for (size_t i = 1; i < size.size(); ++i) {
    if (size[i] > size[d]) d = i;
  }
  const int64_t left_parts = parts / 2;
  const int64_t cut = size[d] == 0 ? 0 : rng.range(0, size[d]);
  Shape left_size = size, right_lo = lo, right_size = size;
  left_size[d] = cut;
  right_lo[d] = lo[d] + cut;
  right_size[d] = size[d] - cut;
  split_boxes(rng, lo, left_size, left_parts, out);
  split_boxes(rng, right_lo, right_size, parts - left_parts, out);
}

ShardedTensor make_sharded(ScenarioContext& ctx, const at::Tensor& full,
                           const std::vector<std::pair<Shape, Shape>>& boxes, const std::vector<int64_t>& owner) {
  std::vector<ShardMetadata> all;
  std::vector<LocalShard> mine;
  for (size_t i = 0; i < boxes.size(); ++i) {
    ShardMetadata m{boxes[i].first, boxes[i].second, shard_placement(owner[i], ctx.device())};
    all.push_back(m);
    if (owner[i] != ctx.rank()) continue;
    at::Tensor piece = full;
    for (size_t d = 0; d < m.sizes.size(); ++d) piece = piece.narrow(static_cast<int64_t>(d), m.offsets[d], m.sizes[d]);
    mine.push_back(LocalShard{piece.to(ctx.device()).clone(at::MemoryFormat::Contiguous), m});
  }
  return ShardedTensor(Shape(full.sizes().begin(), full.sizes().end()), mine, all, full.scalar_type());
}

// ShardedTensors tiled row-wise (uneven), column-wise, and by random
// bisection into 2 * world boxes owned round-robin (some ranks own none or
// several, some boxes are empty): each gathers to the full tensor.
void sharded_tensor_tilings(ScenarioContext& ctx) {
  const int64_t w = ctx.world_size();
  Mapping full;
  Mapping sharded;
  {
    const at::Tensor t = random_tensor(ctx.shared(), {2 * w + 1, 3}, at::kFloat);
    std::vector<std::pair<Shape, Shape>> boxes;
    std::vector<int64_t> owner;
    int64_t row = 0;
    for (int64_t r = 0; r < w; ++r) {
      const int64_t rows = r == 0 ? 3 : 2;
      boxes.push_back({{row, 0}, {rows, 3}});
      owner.push_back(r);
      row += rows;
    }
    full.set("row_wise", t);
    sharded.set("row_wise", make_sharded(ctx, t, boxes, owner));
  }
  {
    const at::Tensor t = random_tensor(ctx.shared(), {4, 2 * w}, at::kDouble);
    std::vector<std::pair<Shape, Shape>> boxes;
    std::vector<int64_t> owner;
    for (int64_t r = 0; r < w; ++r) {
      boxes.push_back({{0, 2 * (w - 1 - r)}, {4, 2}});  // reversed: rank order is not column order
      owner.push_back(r);
    }
    full.set("column_wise", t);
    sharded.set("column_wise", make_sharded(ctx, t, boxes, owner));
  }
  {
    const at::Tensor t = random_tensor(ctx.shared(), {6, 5, 4}, at::kBFloat16);
    std::vector<std::pair<Shape, Shape>> boxes;
    split_boxes(ctx.shared(), {0, 0, 0}, {6, 5, 4}, 2 * w, boxes);
    std::vector<int64_t> owner;
    for (size_t i = 0; i < boxes.size(); ++i) owner.push_back(static_cast<int64_t>((i * 7 + 3) % static_cast<size_t>(w)));
    full.set("random_tiling", t);
    sharded.set("random_tiling", make_sharded(ctx, t, boxes, owner));
  }
  const Value gathered = gather_state_dict(sharded, ctx.comm());
  ctx.check_equal(gathered, full, "");
  ctx.record("gathered", gathered);
}

}  // namespace

void register_edge_scenarios(ScenarioRegistry& r) {
  r.add(define_scenario("uneven_shards", uneven_shards)
            .summary("dims of 1..13 sharded on dim 0 or 1 over any world: short and empty shards match at::chunk and gather back")
            .default_world(5));
  r.add(define_scenario("zero_dim_and_empty", zero_dim_and_empty)
            .summary("0-dim and zero-size tensors (plain and DTensor) through gather, create_cpu_state_dict + copy and offload")
            .default_world(3));
  r.add(define_scenario("sharded_tensor_tilings", sharded_tensor_tilings)
            .summary("ShardedTensors tiled row-wise, column-wise (reversed) and by random bisection gather by metadata offsets")
            .default_world(3));
}

}  // namespace shardsim::scenarios
