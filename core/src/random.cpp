#include "shardsim/core/random.h"

#include <ATen/ATen.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <c10/util/complex.h>

#include "shardsim/core/error.h"

namespace shardsim {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t derive_seed(uint64_t seed, uint64_t stream) {
  return splitmix64(splitmix64(seed) ^ splitmix64(stream ^ 0x5bd1e9955bd1e995ULL));
}

Random::Random(uint64_t seed) {
  uint64_t x = seed;
  for (uint64_t& s : s_) {
    x += 0x9e3779b97f4a7c15ULL;
    s = splitmix64(x);
  }
}

namespace {
inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

uint64_t Random::next() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

uint64_t Random::uniform(uint64_t n) {
  SHARDSIM_CHECK(n > 0, "Random::uniform(0)");
  return next() % n;
}

int64_t Random::range(int64_t lo, int64_t hi) {
  SHARDSIM_CHECK(lo <= hi, "Random::range(", lo, ", ", hi, ")");
  const uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo) + 1;
  if (span == 0) return static_cast<int64_t>(next());  // the full 64-bit range
  return static_cast<int64_t>(static_cast<uint64_t>(lo) + next() % span);
}

double Random::unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

bool Random::chance(double p) { return unit() < p; }

Random Random::fork(uint64_t stream) const {
  return Random(derive_seed(s_[0] ^ rotl(s_[2], 17), stream));
}

namespace {
// Stream numbers: rank r uses r; the shared stream a value no rank can have.
constexpr uint64_t kSharedStream = ~uint64_t{0};
}  // namespace

Random rank_stream(uint64_t data_seed, int64_t rank) {
  // A negative rank would wrap onto the shared stream's number (-1 == ~0).
  SHARDSIM_CHECK_ARG(rank >= 0, "rank_stream: rank must be non-negative, got ", rank);
  return Random(derive_seed(data_seed, static_cast<uint64_t>(rank)));
}

Random shared_stream(uint64_t data_seed) { return Random(derive_seed(data_seed, kSharedStream)); }

namespace {

// Uniform in [-2, 2) on a grid of 2^-20, never -0.0.
double draw_float(Random& rng) {
  const int64_t k = static_cast<int64_t>(rng.next() >> 42) - (int64_t{1} << 21);  // [-2^21, 2^21)
  return k == 0 ? 0.0 : static_cast<double>(k) * 0x1.0p-20;
}

template <typename T>
void fill_int(Random& rng, T* data, int64_t n, int64_t lo, int64_t hi) {
  for (int64_t i = 0; i < n; ++i) data[i] = static_cast<T>(rng.range(lo, hi));
}

}  // namespace

at::Tensor random_tensor(Random& rng, const Shape& shape, c10::ScalarType dtype,
                         c10::Device device) {
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype).device(c10::kCPU));
  const int64_t n = t.numel();
  switch (dtype) {
    case at::kFloat: {
      float* p = t.data_ptr<float>();
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(draw_float(rng));
      break;
    }
    case at::kDouble: {
      double* p = t.data_ptr<double>();
      for (int64_t i = 0; i < n; ++i) p[i] = draw_float(rng) + rng.unit() * 0x1.0p-21;
      break;
    }
    case at::kHalf: {
      auto* p = t.data_ptr<c10::Half>();
      for (int64_t i = 0; i < n; ++i) p[i] = c10::Half(static_cast<float>(draw_float(rng)));
      break;
    }
    case at::kBFloat16: {
      auto* p = t.data_ptr<c10::BFloat16>();
      for (int64_t i = 0; i < n; ++i) p[i] = c10::BFloat16(static_cast<float>(draw_float(rng)));
      break;
    }
    case at::kComplexFloat: {
      auto* p = t.data_ptr<c10::complex<float>>();
      for (int64_t i = 0; i < n; ++i) {
        const float re = static_cast<float>(draw_float(rng));
        const float im = static_cast<float>(draw_float(rng));
        p[i] = c10::complex<float>(re, im);
      }
      break;
    }
    case at::kComplexDouble: {
      auto* p = t.data_ptr<c10::complex<double>>();
      for (int64_t i = 0; i < n; ++i) {
        const double re = draw_float(rng);
        const double im = draw_float(rng);
        p[i] = c10::complex<double>(re, im);
      }
      break;
    }
    case at::kBool: {
      bool* p = t.data_ptr<bool>();
      for (int64_t i = 0; i < n; ++i) p[i] = (rng.next() >> 63) != 0;
      break;
    }
    case at::kByte: fill_int(rng, t.data_ptr<uint8_t>(), n, 0, 255); break;
    case at::kChar: fill_int(rng, t.data_ptr<int8_t>(), n, -128, 127); break;
    case at::kShort: fill_int(rng, t.data_ptr<int16_t>(), n, -1000, 1000); break;
    case at::kInt: fill_int(rng, t.data_ptr<int32_t>(), n, -1000, 1000); break;
    case at::kLong: fill_int(rng, t.data_ptr<int64_t>(), n, -1000, 1000); break;
    default:
      throw InvalidArgument(std::string("random_tensor: unsupported dtype ") +
                            c10::toString(dtype));
  }
  if (device.is_cpu()) return t;
  return t.to(device);
}

}  // namespace shardsim
