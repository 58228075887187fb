// What the worker programs share: connecting from the environment, the known
// inputs of every rank (so each worker can compute any rank's data as an
// independent oracle), bit-exact comparison and a failure log.
#pragma once

#include <cstdint>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "shardsim/c10d/c10d_comm.h"

namespace shardsim::c10d::testing {

// The integer in variable `name`, or `fallback` when unset.
int64_t env_ms(const char* name, int64_t fallback);
// The text of variable `name`, or `fallback` when unset.
std::string env_str(const char* name, const std::string& fallback);

// Connects this process from torchrun's variables with the test timeouts.
std::shared_ptr<C10dComm> connect_from_env();

// The 12 dtypes the battery covers.
const std::vector<at::ScalarType>& all_dtypes();

// The input that world rank `rank` holds for case `salt`: `count` elements of
// `dtype`, a function of its arguments alone, with fractional and negative
// values where the dtype has them.
at::Tensor known_input(int64_t rank, at::ScalarType dtype, int64_t count, int64_t salt);

// True when `a` and `b` have the same dtype, shape and bytes.
bool bit_equal(const at::Tensor& a, const at::Tensor& b);

// Collects failed checks of one worker, each prefixed with the world rank.
class Checks {
 public:
  explicit Checks(int64_t rank) : rank_(rank) {}
  template <typename... Args>
  void expect(bool ok, const Args&... what) {
    ++count_;
    if (ok) return;
    std::ostringstream os;
    os << "rank " << rank_ << ": FAILED: ";
    (os << ... << what);
    std::cerr << os.str() << std::endl;
    ++failed_;
  }
  int64_t failed() const { return failed_; }
  int64_t count() const { return count_; }

 private:
  int64_t rank_;
  int64_t count_ = 0;
  int64_t failed_ = 0;
};

}  // namespace shardsim::c10d::testing
