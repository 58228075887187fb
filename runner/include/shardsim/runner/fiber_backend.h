// The runner's fiber backend: every rank of a world a fiber of one process
// (the sim module), with a seeded scheduler, virtual time and every fault
// kind. Its own target (shardsim::runner_fiber), so the runner stays
// Boost-free; in a build without fibers the same calls refuse.
#pragma once

#include <memory>

#include "shardsim/runner/run.h"

namespace shardsim::runner {

// The fiber backend. Throws InvalidArgument in a build without fibers.
std::unique_ptr<Backend> make_fiber_backend();
// Whether this build has the fiber backend.
bool have_fiber_backend();

}  // namespace shardsim::runner
