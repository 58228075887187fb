// Checked arithmetic for sizes that come from outside: shapes, meshes,
// counts, offsets and byte sizes read from the command line, a suite, a case
// file or an encoded value. Each function returns the exact result or throws
// InvalidArgument (exit status 2 in the command-line tools) naming `what` and
// both operands; it never lets the product or sum overflow int64_t.
#pragma once

#include <cstdint>
#include <string_view>

#include "shardsim/core/error.h"

namespace shardsim {

// a * b, or InvalidArgument "<what>: a * b does not fit in a 64-bit integer".
inline int64_t checked_mul(int64_t a, int64_t b, std::string_view what) {
  int64_t out = 0;
  SHARDSIM_CHECK_ARG(!__builtin_mul_overflow(a, b, &out), what, ": ", a, " * ", b,
                     " does not fit in a 64-bit integer");
  return out;
}

// a + b, or InvalidArgument "<what>: a + b does not fit in a 64-bit integer".
inline int64_t checked_add(int64_t a, int64_t b, std::string_view what) {
  int64_t out = 0;
  SHARDSIM_CHECK_ARG(!__builtin_add_overflow(a, b, &out), what, ": ", a, " + ", b,
                     " does not fit in a 64-bit integer");
  return out;
}

}  // namespace shardsim
