// A Comm for a world of one rank: every collective is local. Useful for
// single-process use of the utilities and for unit tests that need no peers.
#pragma once

#include <memory>

#include "shardsim/core/comm.h"

namespace shardsim {

// A world of one rank whose tensors live on `device` (CPU by default).
std::shared_ptr<Comm> make_local_comm(c10::Device device = c10::Device(c10::kCPU));

}  // namespace shardsim
