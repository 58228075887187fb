// Worker programs: what a copy of the test binary runs as one rank of a world
// (world_launcher.h). Each connects from torchrun's variables, prints what it
// checks to stderr and reports through its exit status.
#pragma once

#include <string>

namespace shardsim::c10d::testing {

// Exit statuses of a worker.
constexpr int kWorkerOk = 0;
constexpr int kWorkerCheckFailed = 1;  // a check failed; the output says which
constexpr int kWorkerError = 2;        // an unexpected exception

// Runs the worker program `name`; returns its exit status.
int run_worker(const std::string& name);

// Every collective, dtype and sub-group shape (worker_battery.cpp).
int run_battery();

// One rank dies or stalls and the others must fail in time (worker_faults.cpp).
int run_fault();

}  // namespace shardsim::c10d::testing
