// What the core tests share: the message of the InvalidArgument that bad
// input must raise.
#pragma once

#include <exception>
#include <string>

#include <gtest/gtest.h>

#include "shardsim/core/error.h"

namespace shardsim::test {

// Runs `fn`, expects InvalidArgument, and returns its message (fails the test otherwise).
template <typename Fn>
std::string invalid_argument_message(Fn fn) {
  try {
    fn();
  } catch (const InvalidArgument& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected InvalidArgument, got: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected InvalidArgument, nothing thrown";
  return "";
}

}  // namespace shardsim::test
