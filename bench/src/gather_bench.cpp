// Data movement: gather_state_dict on fibers vs memcpy, side by side.
#include <chrono>
#include <cstring>
#include <memory>
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

constexpr int64_t kCols = 1024;  // float32 columns: 4 KiB per row

// A Shard(0) state dict of `tensors` float32 tensors totalling about
// `bytes`; rank r's local rows all hold r + 1 (so a gathered tensor is easy
// to check: the rows that came from rank r hold r + 1).
Mapping sharded_state_dict(int64_t rank, int64_t world, int64_t bytes, int64_t tensors,
                           c10::Device device, std::vector<int64_t>* rows_out) {
  const DeviceMesh mesh(device.type(), Shape{world});
  const int64_t rows = std::max<int64_t>(1, bytes / tensors / (kCols * 4));
  Mapping sd;
  for (int64_t k = 0; k < tensors; ++k) {
    const int64_t r = rows + (k % 3);  // mostly uneven across the world
    rows_out->push_back(r);
    const LocalLayout layout = compute_local_shape_and_global_offset({r, kCols}, {world}, {rank},
                                                                     {Placement::shard(0)});
    at::Tensor local = at::full(layout.shape, static_cast<float>(rank + 1),
                                at::TensorOptions().dtype(at::kFloat).device(device));
    sd.set("layer" + std::to_string(k) + ".weight",
           from_local(local, mesh, {Placement::shard(0)}, Shape{r, kCols}, Shape{kCols, 1}));
  }
  return sd;
}

bool check_gathered(const Value& gathered, const std::vector<int64_t>& rows, int64_t world) {
  for (size_t k = 0; k < rows.size(); ++k) {
    const at::Tensor t = gathered.mapping().value(k).tensor();
    int64_t offset = 0;
    for (int64_t r = 0; r < world; ++r) {
      const int64_t n = chunk_range(rows[k], world, r).size;
      if (n == 0) continue;
      if (!t.narrow(0, offset, n).eq(static_cast<double>(r + 1)).all().item<bool>()) return false;
      offset += n;
    }
  }
  return true;
}

}  // namespace

int run_gather_bench(const GatherBenchOptions& o, std::ostream& out) {
  sim::WorldOptions wo;
  wo.world_size = o.world;
  wo.device_kind = o.simulated_devices ? sim::DeviceKind::kSimulated : sim::DeviceKind::kCpu;
  wo.stack_bytes = 256 * 1024;
  double best = 1e300;
  bool correct = true;
  int64_t state_bytes = 0;
  const sim::WorldResult result = sim::run_world(wo, [&](sim::RankEnv& env) {
    std::vector<int64_t> rows;
    Mapping sd = sharded_state_dict(env.rank(), o.world, o.bytes, o.tensors, env.device(), &rows);
    if (env.rank() == 0) {
      for (int64_t r : rows) state_bytes += r * kCols * 4;
    }
    for (int64_t rep = 0; rep <= o.repeat; ++rep) {
      env.comm().barrier();
      const auto t0 = Clock::now();
      {
        Value gathered = gather_state_dict(sd, env.comm());
        if (rep == 0 && !check_gathered(gathered, rows, o.world)) correct = false;
      }
      env.comm().barrier();
      if (env.rank() == 0 && rep > 0) best = std::min(best, seconds_since(t0));
    }
  });
  if (!result.ok()) {
    out << "gather bench failed: " << result.diagnosis << "\n";
    return 1;
  }
  const double received = double(state_bytes) * double(o.world);  // what every rank receives

  // memcpy of the same bytes, same count, in the same process, warm buffers.
  const size_t n = static_cast<size_t>(state_bytes);
  std::unique_ptr<char[]> src(new char[n]);
  std::unique_ptr<char[]> dst(new char[n]);
  std::memset(src.get(), 1, n);
  std::memset(dst.get(), 2, n);
  double best_memcpy = 1e300;
  for (int64_t rep = 0; rep < std::max<int64_t>(o.repeat, 1); ++rep) {
    const auto t0 = Clock::now();
    for (int64_t r = 0; r < o.world; ++r) {
      src[0] = static_cast<char>(r);
      std::memcpy(dst.get(), src.get(), n);
    }
    best_memcpy = std::min(best_memcpy, seconds_since(t0));
  }
  volatile char sink = dst[n / 2];
  (void)sink;

  const double gather_bps = received / best;
  const double memcpy_bps = received / best_memcpy;
  out << "gather world=" << o.world << " state_dict=" << bytes_str(double(state_bytes)) << " tensors=" << o.tensors
      << " device=" << (o.simulated_devices ? "simulated" : "cpu") << " correct=" << (correct ? "yes" : "NO") << "\n";
  out << "gather_bytes_per_s=" << static_cast<int64_t>(gather_bps)
      << " memcpy_bytes_per_s=" << static_cast<int64_t>(memcpy_bps) << " ratio=" << (gather_bps / memcpy_bps)
      << " gather_s=" << best << " memcpy_s=" << best_memcpy << "\n";
  return correct ? 0 : 1;
}

}  // namespace shardsim::bench
