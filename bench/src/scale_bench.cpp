// Scale: a full-checkpoint save (FSDP state dict gathered to rank 0) in one
// process as the world grows, with its memory; and the cost curve of one
// collective against the world size.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <ostream>

#include <ATen/ATen.h>

#include "shardsim/bench/bench.h"
#include "shardsim/core/sharding.h"
#include "shardsim/core/state_dict_utils.h"
#include "shardsim/sim/fiber_world.h"

namespace shardsim::bench {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

constexpr int64_t kCols = 256;  // float32 columns: 1 KiB per row

}  // namespace

namespace {

// Runs one world in a child process and copies its figure lines to `out`.
int run_scale_child(const ScaleBenchOptions& o, int64_t world, std::ostream& out) {
  std::ostringstream cmd;
  cmd << "'" << self_exe() << "' bench scale --in-process --worlds " << world << " --bytes " << o.bytes
      << " --tensors " << o.tensors << (o.simulated_devices ? "" : " --cpu") << " 2>&1";
  FILE* pipe = ::popen(cmd.str().c_str(), "r");
  if (pipe == nullptr) {
    out << "world=" << world << " failed: cannot start " << cmd.str() << "\n";
    return 1;
  }
  char line[8192];
  while (std::fgets(line, sizeof line, pipe) != nullptr) {
    if (std::strncmp(line, "scale ", 6) == 0) continue;  // the parent printed the header
    out << line << std::flush;
  }
  const int rc = ::pclose(pipe);
  return rc == 0 ? 0 : 1;
}

}  // namespace

namespace {

// One FSDP gather of `tensors` tensors of rows x kCols float32 to rank 0 on
// `world` fibers; rank 0 checks what it received.
sim::WorldResult gather_world(const ScaleBenchOptions& o, int64_t world, int64_t rows,
                              double* gather_seconds, bool* correct_out) {
  double& gather_s = *gather_seconds;
  bool& correct = *correct_out;
  sim::WorldOptions wo;
  wo.world_size = world;
  wo.device_kind = o.simulated_devices ? sim::DeviceKind::kSimulated : sim::DeviceKind::kCpu;
  wo.stack_bytes = 64 * 1024;
  return sim::run_world(wo, [&](sim::RankEnv& env) {
    const DeviceMesh mesh(env.device().type(), Shape{world});
    Mapping sd;
    for (int64_t k = 0; k < o.tensors; ++k) {
      const LocalLayout layout = compute_local_shape_and_global_offset({rows, kCols}, {world}, {env.rank()},
                                                                       {Placement::shard(0)});
      at::Tensor local = at::full(layout.shape, static_cast<float>(env.rank() % 251 + 1),
                                  at::TensorOptions().dtype(at::kFloat).device(env.device()));
      sd.set("layers." + std::to_string(k) + ".weight",
             from_local(local, mesh, {Placement::shard(0)}, Shape{rows, kCols}, Shape{kCols, 1}));
    }
    env.comm().barrier();
    const auto g0 = Clock::now();
    GatherOptions save;
    save.cpu_offload = true;
    save.ranks_only = {0};
    Value full = gather_state_dict(sd, env.comm(), c10::nullopt, save);
    if (env.rank() == 0) {
      // Rows that came from rank r hold r % 251 + 1: check one tensor fully.
      const at::Tensor t = full.mapping().value(0).tensor();
      int64_t offset = 0;
      for (int64_t r = 0; r < world; ++r) {
        const int64_t n = chunk_range(rows, world, r).size;
        if (n > 0 && !t.narrow(0, offset, n).eq(static_cast<double>(r % 251 + 1)).all().item<bool>()) {
          correct = false;
        }
        offset += n;
      }
      correct = correct && full.mapping().size() == static_cast<size_t>(o.tensors) && t.device().is_cpu();
    } else {
      correct = correct && full.is_mapping() && full.mapping().empty();
    }
    full = Value();
    env.comm().barrier();
    if (env.rank() == 0) gather_s = seconds_since(g0);
  });
}

}  // namespace

int run_scale_bench(const ScaleBenchOptions& o, std::ostream& out) {
  int status = 0;
  const int64_t rows = std::max<int64_t>(1, o.bytes / o.tensors / (kCols * 4));
  const int64_t state_bytes = rows * o.tensors * kCols * 4;
  out << "scale state_dict=" << bytes_str(double(state_bytes)) << " tensors=" << o.tensors
      << " placement=Shard(0) gather=ranks_only(0)+cpu_offload device="
      << (o.simulated_devices ? "simulated" : "cpu") << "\n";
  for (int64_t world : o.worlds) {
    if (o.fresh_process) {
      status |= run_scale_child(o, world, out);
      continue;
    }
    // Warm up first (a tiny world with the same code paths), so that the
    // baseline includes libtorch's code pages and lazily built tables.
    double warm_s = 0;
    bool warm_ok = true;
    gather_world(o, 2, 2, &warm_s, &warm_ok);
    const int64_t baseline = rss_bytes();
    const bool reset = reset_peak_rss();
    double gather_s = 0;
    bool correct = true;
    const auto t0 = Clock::now();
    const sim::WorldResult result = gather_world(o, world, rows, &gather_s, &correct);
    const double total_s = seconds_since(t0);
    const int64_t peak = peak_rss_bytes() - baseline;
    if (!result.ok()) {
      out << "world=" << world << " failed: " << result.diagnosis << "\n";
      status = 1;
      continue;
    }
    const int64_t budget = 2 * state_bytes + world * 32 * 1024;
    const double per_rank = double(peak - 2 * state_bytes) / double(world);
    out << "world=" << world << " gather_s=" << gather_s << " total_s=" << total_s
        << " peak_rss_above_baseline=" << bytes_str(double(peak)) << " budget=" << bytes_str(double(budget))
        << " within_budget=" << (peak <= budget ? "yes" : "no")
        << " rss_per_rank_beyond_data=" << bytes_str(std::max(0.0, per_rank))
        << " correct=" << (correct ? "yes" : "NO") << (reset ? "" : " (peak not reset: figures are upper bounds)")
        << std::endl;
    if (!correct) status = 1;
  }
  return status;
}

int run_curve_bench(const CurveBenchOptions& o, std::ostream& out) {
  out << "curve: " << o.collectives << " of each collective per world on simulated devices; a barrier and a "
      << "one-float broadcast move O(world) bytes, an all-gather of one float per rank O(world^2)\n";
  int status = 0;
  for (int64_t world : o.worlds) {
    sim::WorldOptions wo;
    wo.world_size = world;
    wo.stack_bytes = 64 * 1024;
    double barrier_s = 0, broadcast_s = 0, gather_s = 0;
    const sim::WorldResult result = sim::run_world(wo, [&](sim::RankEnv& env) {
      const auto opts = at::TensorOptions().dtype(at::kFloat).device(env.device());
      const at::Tensor mine = at::full({1}, static_cast<float>(env.rank()), opts);
      at::Tensor value = at::zeros({1}, opts);
      const Counts counts = Counts::uniform(world, 1);
      env.comm().barrier();
      auto t0 = Clock::now();
      for (int64_t i = 0; i < o.collectives; ++i) env.comm().barrier();
      if (env.rank() == 0) barrier_s = seconds_since(t0);
      env.comm().barrier();
      t0 = Clock::now();
      for (int64_t i = 0; i < o.collectives; ++i) env.comm().broadcast(value, 0);
      env.comm().barrier();
      if (env.rank() == 0) broadcast_s = seconds_since(t0);
      t0 = Clock::now();
      for (int64_t i = 0; i < o.collectives; ++i) at::Tensor all = env.comm().all_gather_flat(mine, counts);
      env.comm().barrier();
      if (env.rank() == 0) gather_s = seconds_since(t0);
    });
    if (!result.ok()) {
      out << "world=" << world << " failed: " << result.diagnosis << "\n";
      status = 1;
      continue;
    }
    const double n = double(o.collectives);
    const double w = double(world);
    const double received_kib = w * w * 4.0 / 1024.0;
    out << "world=" << world << " barrier_us=" << barrier_s / n * 1e6
        << " barrier_ns_per_rank=" << barrier_s / n * 1e9 / w << " broadcast_us=" << broadcast_s / n * 1e6
        << " broadcast_ns_per_rank=" << broadcast_s / n * 1e9 / w << " all_gather_us=" << gather_s / n * 1e6
        << " all_gather_ns_per_rank=" << gather_s / n * 1e9 / w
        << " all_gather_ns_per_kib_received=" << gather_s / n * 1e9 / received_kib << std::endl;
  }
  return status;
}

}  // namespace shardsim::bench
