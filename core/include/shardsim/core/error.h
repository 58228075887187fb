// Errors shardsim throws, and enforce macros that print both operands.
//
// Every error names what it can: the rank, the state-dict path, the operation
// and both sides of a mismatch. Expected outcomes of a run (a rank failed, a
// deadlock) are values in the run's result, not exceptions; these types are
// for programming errors and bad input.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace shardsim {

// Base of every error shardsim throws.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bad input from a user: a malformed argument, file, shape or placement.
// Command-line tools map it to exit status 2.
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

// Two structures that must agree do not (keys, lengths, shapes, dtypes, specs).
// The message names the path and both sides.
class MismatchError : public Error {
 public:
  using Error::Error;
};

// A communication failure: a collective could not complete.
class CommError : public Error {
 public:
  using Error::Error;
};

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace shardsim

// Throws `ErrorType` with the streamed message when `cond` is false.
#define SHARDSIM_CHECK_T(ErrorType, cond, ...)                        \
  do {                                                                \
    if (!(cond)) {                                                    \
      throw ErrorType(::shardsim::detail::concat(__VA_ARGS__));       \
    }                                                                 \
  } while (false)

#define SHARDSIM_CHECK(cond, ...) SHARDSIM_CHECK_T(::shardsim::Error, cond, __VA_ARGS__)
#define SHARDSIM_CHECK_ARG(cond, ...) SHARDSIM_CHECK_T(::shardsim::InvalidArgument, cond, __VA_ARGS__)

// Throws `shardsim::Error` naming both operands when a != b.
#define SHARDSIM_CHECK_EQ(a, b, ...)                                                   \
  do {                                                                                 \
    const auto& shardsim_lhs_ = (a);                                                   \
    const auto& shardsim_rhs_ = (b);                                                   \
    if (!(shardsim_lhs_ == shardsim_rhs_)) {                                           \
      throw ::shardsim::Error(::shardsim::detail::concat(                              \
          #a " == " #b " failed: ", shardsim_lhs_, " vs ", shardsim_rhs_, ". ",        \
          ##__VA_ARGS__));                                                             \
    }                                                                                  \
  } while (false)
