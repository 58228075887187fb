// Thousands of ranks in one process: a 4096-rank world completes an
// all-gather, and (on request) a bigger world runs world and mesh-row
// collectives. Each prints wall time, peak RSS (VmHWM) and cost per rank.
//
// SHARDSIM_SCALE_RANKS=N (a multiple of 256) runs Scale.BigWorld at N ranks;
// SHARDSIM_SCALE_STACKS=fixed|protected picks the stacks (default: auto).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "shardsim/core/mesh.h"
#include "shardsim/sim/fiber_world.h"
#include "world_test_util.h"

namespace shardsim {
namespace sim {
namespace {

using testing::peak_rss_kib;
using testing::reset_peak_rss;
using testing::world_options;

int64_t current_rss_kib() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return -1;
  long pages = 0, resident = 0;
  const int got = std::fscanf(f, "%ld %ld", &pages, &resident);
  std::fclose(f);
  return got == 2 ? resident * 4 : -1;
}

struct Measure {
  double seconds = 0;
  int64_t before_kib = 0;
  int64_t peak_kib = 0;
};

template <typename F>
Measure measure(F&& f) {
  Measure m;
  reset_peak_rss();
  m.before_kib = current_rss_kib();
  const auto start = std::chrono::steady_clock::now();
  f();
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.peak_kib = peak_rss_kib();
  return m;
}

void print(const char* what, int64_t ranks, const Measure& m) {
  const double per_rank_kib = double(m.peak_kib - m.before_kib) / double(ranks);
  std::printf(
      "[scale] %s: %lld ranks, %.3f s (%.2f us per rank), RSS before %lld KiB, peak "
      "%lld KiB (%.1f KiB per rank above the start)\n",
      what, static_cast<long long>(ranks), m.seconds, 1e6 * m.seconds / double(ranks),
      static_cast<long long>(m.before_kib), static_cast<long long>(m.peak_kib), per_rank_kib);
}

void all_gather_at(int64_t n, DeviceKind kind) {
  // One counts vector shared by every rank: per-rank copies would hold
  // n * n counts at once while the ranks wait (128 MiB at 4096 ranks).
  const std::vector<int64_t> counts(n, 1);
  int64_t wrong = 0, finished = 0;
  WorldResult res;
  const Measure m = measure([&] {
    res = run_world(world_options(n, 17, 1, kind), [&](RankEnv& env) {
      const at::Tensor mine =
          at::full({1}, float(env.rank()), at::TensorOptions().device(env.device()));
      // This rank's output, materialised when it resumes, dropped on return.
      std::vector<float> out;
      env.comm().all_gather(mine, counts, [&](int64_t src, const at::Tensor& piece) {
        if (out.empty()) out.resize(n);
        out[src] = piece.data_ptr<float>()[0];
      });
      for (int64_t i = 0; i < n; ++i) wrong += out[i] != float(i);
      ++finished;
    });
  });
  print(
      kind == DeviceKind::kCpu ? "world all_gather (cpu)" : "world all_gather (simulated devices)",
      n, m);
  ASSERT_TRUE(res.ok()) << res.summary() << "\n" << res.diagnosis.substr(0, 2000);
  EXPECT_EQ(finished, n);
  EXPECT_EQ(wrong, 0);
}

TEST(Scale, AllGatherAt4096Ranks) { all_gather_at(4096, DeviceKind::kSimulated); }

TEST(Scale, AllGatherAt4096RanksOnCpu) { all_gather_at(4096, DeviceKind::kCpu); }

TEST(Scale, AllGatherCatAt256Ranks) {
  // The realistic path: every rank builds its own counts and concatenates
  // (all_gather_cat), so each rank pays n ATen copies.
  const int64_t n = 256;
  int64_t wrong = 0;
  WorldResult res;
  const Measure m = measure([&] {
    res = run_world(world_options(n, 3), [&](RankEnv& env) {
      const at::TensorOptions opts = at::TensorOptions().device(env.device());
      const at::Tensor mine = at::full({1, 2}, float(env.rank()), opts);
      const at::Tensor all = all_gather_cat(env.comm(), mine, 0, std::vector<int64_t>(n, 1));
      const at::Tensor expected =
          at::arange(n, at::kFloat).unsqueeze(1).expand({n, 2}).contiguous();
      wrong += !at::equal(all.to(c10::kCPU), expected);
    });
  });
  print("world all_gather_cat", n, m);
  ASSERT_TRUE(res.ok()) << res.summary();
  EXPECT_EQ(wrong, 0);
}

TEST(Scale, BigWorld) {
  const char* env_ranks = std::getenv("SHARDSIM_SCALE_RANKS");
  if (!env_ranks) GTEST_SKIP() << "set SHARDSIM_SCALE_RANKS to run";
  const int64_t n = std::atoll(env_ranks);
  ASSERT_EQ(n % 256, 0) << "a multiple of 256";
  WorldOptions o = world_options(n, 5);
  if (const char* stacks = std::getenv("SHARDSIM_SCALE_STACKS")) {
    o.stacks = std::string(stacks) == "fixed" ? StackKind::kFixed : StackKind::kProtected;
  }
  const DeviceMesh mesh(c10::kCPU, {n / 256, 256});
  const std::vector<int64_t> row_counts(256, 2);
  int64_t wrong = 0;
  WorldResult res;
  const Measure m = measure([&] {
    res = run_world(o, [&](RankEnv& env) {
      const int64_t r = env.rank();
      const at::TensorOptions opts = at::TensorOptions().device(env.device());
      env.comm().barrier();
      at::Tensor one = at::ones({1}, opts.dtype(at::kDouble));
      env.comm().all_reduce_sum(one);
      wrong += one.item<double>() != double(n);
      at::Tensor b = r == 0 ? at::full({4}, 7.0, opts) : at::zeros({4}, opts);
      env.comm().broadcast(b, 0);
      wrong += b.sum().item<float>() != 28.0f;
      std::shared_ptr<Comm> row = env.comm().mesh_group(mesh, 1);
      const at::Tensor mine = at::full({2}, float(r), opts);
      float sum = 0;
      row->all_gather(mine, row_counts,
                      [&](int64_t, const at::Tensor& p) { sum += p.data_ptr<float>()[0]; });
      const int64_t first = (r / 256) * 256;
      wrong += sum != float(256 * first + 255 * 256 / 2);
    });
  });
  print("big world (barrier, all_reduce, broadcast, row all_gather)", n, m);
  ASSERT_TRUE(res.ok()) << res.summary();
  EXPECT_EQ(wrong, 0);
}

}  // namespace
}  // namespace sim
}  // namespace shardsim
