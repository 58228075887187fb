// Ops with both a CPU kernel and a composite kernel run their CPU kernel on
// simulated devices too (through the fallback, on host aliases), not the
// composite ATen would pick for an unknown backend. Device results are then the
// CPU's bit for bit (native_layer_norm's composite rounds differently, for one),
// and structured ops skip a second shape computation and a device allocation.
#include <torch/library.h>

#include <string>

#include "accelerator_internal.h"

namespace shardsim::sim::detail {

int64_t register_host_kernels(torch::Library& library) {
  c10::Dispatcher& dispatcher = c10::Dispatcher::singleton();
  const std::string aten = "aten::";
  int64_t registered = 0;
  for (const c10::OperatorName& name : dispatcher.getAllOpNames()) {
    if (name.name.compare(0, aten.size(), aten) != 0) continue;
    const c10::optional<c10::OperatorHandle> op = dispatcher.findOp(name);
    if (!op || !op->hasSchema()) continue;
    if (!op->hasKernelForDispatchKey(c10::DispatchKey::CPU)) continue;
    if (op->hasKernelForDispatchKey(c10::DispatchKey::PrivateUse1)) continue;
    if (!op->hasKernelForDispatchKey(c10::DispatchKey::CompositeExplicitAutograd) &&
        !op->hasKernelForDispatchKey(c10::DispatchKey::CompositeExplicitAutogradNonFunctional)) {
      continue;
    }
    std::string impl_name = name.name.substr(aten.size());
    if (!name.overload_name.empty()) impl_name += "." + name.overload_name;
    library.impl(impl_name.c_str(),
                 torch::CppFunction::makeFromBoxedFunction<&simulated_fallback>());
    ++registered;
  }
  return registered;
}

}  // namespace shardsim::sim::detail
