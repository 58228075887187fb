#include "worker_support.h"

#include <cstdlib>

namespace shardsim::c10d::testing {

int64_t env_ms(const char* name, int64_t fallback) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::atoll(value) : fallback;
}

std::string env_str(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::string(value) : fallback;
}

std::shared_ptr<C10dComm> connect_from_env() {
  ConnectOptions options;
  options.timeout = std::chrono::milliseconds(env_ms("SHARDSIM_C10D_TIMEOUT_MS", 30000));
  options.census_timeout = std::chrono::milliseconds(env_ms("SHARDSIM_C10D_CENSUS_MS", 1000));
  return connect(rendezvous_from_env(), options);
}

const std::vector<at::ScalarType>& all_dtypes() {
  static const std::vector<at::ScalarType> dtypes = {
      at::kFloat, at::kDouble, at::kHalf, at::kBFloat16, at::kComplexFloat, at::kComplexDouble,
      at::kBool,  at::kByte,   at::kChar, at::kShort,    at::kInt,          at::kLong};
  return dtypes;
}

at::Tensor known_input(int64_t rank, at::ScalarType dtype, int64_t count, int64_t salt) {
  const at::Tensor k = at::arange(count, at::kDouble);
  const double base = static_cast<double>(rank * 31 + salt * 7);
  if (dtype == at::kBool) {
    return at::remainder(k + base, 3).eq(0);
  }
  if (c10::isIntegralType(dtype, /*includeBool=*/false)) {
    const at::Tensor v = at::remainder(k * 13 + base, 100);
    return (dtype == at::kByte ? v + 100 : v - 50).to(dtype);
  }
  const at::Tensor real = (k * 0.37 + base * 1.13 - 20.0).mul(1.0 + 0.001 * salt);
  if (c10::isComplexType(dtype)) {
    return at::complex(real, -real / 3.0 + 0.5).to(dtype);
  }
  return real.to(dtype);
}

bool bit_equal(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  if (a.numel() == 0) return true;
  const at::Tensor x = a.to(at::kCPU).contiguous().reshape({-1}).view(at::kByte);
  const at::Tensor y = b.to(at::kCPU).contiguous().reshape({-1}).view(at::kByte);
  return at::equal(x, y);
}

}  // namespace shardsim::c10d::testing
