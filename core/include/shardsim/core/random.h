// shardsim's own seeded generator, so data are the same on every backend and
// libtorch version (never ATen's randn). One seeded source, handed down;
// never a global.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "shardsim/core/shape.h"

namespace shardsim {

// SplitMix64 step: a good 64-bit mix of `x`; used to derive seeds.
uint64_t splitmix64(uint64_t x);

// Derives an independent seed for `stream` from `seed`.
uint64_t derive_seed(uint64_t seed, uint64_t stream);

// xoshiro256** seeded through SplitMix64. Small, fast, identical everywhere.
class Random {
 public:
  explicit Random(uint64_t seed);

  uint64_t next();
  // Uniform in [0, n) by `next() % n` (the same on every standard library).
  // REQUIRES: n > 0.
  uint64_t uniform(uint64_t n);
  // Uniform in [lo, hi]. REQUIRES: lo <= hi.
  int64_t range(int64_t lo, int64_t hi);
  // Uniform in [0, 1) with 53 random bits.
  double unit();
  // True with probability `p`.
  bool chance(double p);
  // A generator for a sub-stream, independent of this one's future draws.
  Random fork(uint64_t stream) const;

 private:
  uint64_t s_[4];
};

// The data streams of one rank of a run (design.md, "Randomness and time"):
// `rank_stream(seed, rank)` is that rank's own; `shared_stream(seed)` is the
// one every rank sees identically (for data that must agree across ranks).
Random rank_stream(uint64_t data_seed, int64_t rank);
Random shared_stream(uint64_t data_seed);

// A tensor of `shape` and `dtype` filled from `rng` on `device`:
// floating types uniform in [-2, 2), complex with both parts so, integers in
// their range (clamped to [-1000, 1000] for 16 bits and wider), bool fair.
// Never produces -0.0 or NaN.
at::Tensor random_tensor(Random& rng, const Shape& shape, c10::ScalarType dtype,
                         c10::Device device = c10::Device(c10::kCPU));

}  // namespace shardsim
