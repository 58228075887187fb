#include "shardsim/scenarios/builtin.h"

namespace shardsim::scenarios {

const runner::ScenarioRegistry& builtin_scenarios() {
  static const runner::ScenarioRegistry registry = [] {
    runner::ScenarioRegistry r;
    register_seed_scenarios(r);
    register_real_use_scenarios(r);
    register_fault_scenarios(r);
    return r;
  }();
  return registry;
}

}  // namespace shardsim::scenarios
