// main() of the multi-process test binary: a worker when the launcher says
// so, else GoogleTest. (This main takes the place of gtest_main's.)
#include <execinfo.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <typeinfo>

#include <gtest/gtest.h>

#include "worker.h"
#include "world_launcher.h"

namespace shardsim::c10d::testing {

int run_worker(const std::string& name) {
  if (name == "battery") return run_battery();
  if (name == "fault") return run_fault();
  std::cerr << "unknown worker program '" << name << "'\n";
  return kWorkerError;
}

}  // namespace shardsim::c10d::testing

namespace {

// A worker that terminates says where, so a crash in a test is diagnosable.
[[noreturn]] void print_and_abort() {
  if (std::exception_ptr e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      std::cerr << "worker: terminate with " << typeid(x).name() << ": " << x.what() << "\n";
    } catch (...) {
      std::cerr << "worker: terminate with a non-standard exception\n";
    }
  }
  void* frames[64];
  const int n = ::backtrace(frames, 64);
  ::backtrace_symbols_fd(frames, n, STDERR_FILENO);
  std::abort();
}

}  // namespace

int main(int argc, char** argv) {
  if (const char* program = std::getenv(shardsim::c10d::testing::kWorkerVariable)) {
    std::set_terminate(print_and_abort);
    int status = shardsim::c10d::testing::kWorkerError;
    try {
      status = shardsim::c10d::testing::run_worker(program);
    } catch (const std::exception& e) {
      std::cerr << "worker: unexpected exception: " << e.what() << "\n";
    }
    // Skip destructors: a process group whose peer died may wait out its
    // timeout in its destructor.
    std::fflush(nullptr);
    std::_Exit(status);
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
