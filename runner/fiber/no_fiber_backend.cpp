// Stand-in when shardsim is built without the fiber world (SHARDSIM_WITH_FIBERS=OFF).
#include "shardsim/core/error.h"
#include "shardsim/runner/run.h"
#include "shardsim/runner/fiber_backend.h"

namespace shardsim::runner {

std::unique_ptr<Backend> make_fiber_backend() {
  throw InvalidArgument("this build has no fiber backend (configured with SHARDSIM_WITH_FIBERS=OFF)");
}
bool have_fiber_backend() { return false; }

}  // namespace shardsim::runner
