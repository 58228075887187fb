#include "shardsim/properties/case_run.h"

#include <memory>
#include <sstream>

#include "laws.h"
#include "shardsim/properties/case_json.h"

namespace shardsim::properties {

namespace {

using LawBody = void (*)(detail::LawContext&);

// The body that checks operation `op` (schedule_independence runs the body
// of its operation's own law).
LawBody body_of(const std::string& law, const std::string& op) {
  if (law == "layout_tiles") return detail::law_layout_tiles;
  if (law == "pinned_lifetime") return detail::law_pinned_lifetime;
  if (op == "distribute_tensor") return detail::law_distribute_full_tensor;
  if (op == "gather_state_dict") return detail::law_gather_state_dict;
  if (op == "create_cpu_state_dict") return detail::law_cpu_state_dict;
  if (op == "distribute_tensors") return detail::law_distribute_tensors;
  if (op == "broadcast_state_dict") return detail::law_broadcast_state_dict;
  if (op == "distribute_state_dict") return detail::law_distribute_state_dict;
  if (op == "flatten") return detail::law_flatten;
  throw InvalidArgument("no law body for law " + law + " operation " + op);
}

}  // namespace

runner::Scenario scenario_from_case(const CaseFile& c, const std::string& name) {
  validate_case(c, name.empty() ? c.law : name);
  const LawBody body = body_of(c.law, c.operation.name);
  // The case and its full values, shared by the ranks of this process.
  auto shared = std::make_shared<const CaseFile>(c);
  auto values = std::make_shared<FullValueCache>(c.data_seed);
  runner::Scenario s;
  s.name = name.empty() ? c.law : name;
  s.summary = "law " + c.law + ": " + c.operation.name;
  s.min_world = c.world;
  s.max_world = c.world;
  s.default_world = c.world;
  const Shape mesh = c.mesh;
  s.default_mesh = [mesh](int64_t) { return mesh; };
  s.body = [shared, values, body](runner::ScenarioContext& ctx) {
    detail::LawContext law{*shared, ctx, *values};
    body(law);
  };
  return s;
}

runner::RunSpec run_spec_from_case(const CaseFile& c, const std::string& backend,
                                      const std::string& name) {
  runner::RunSpec spec;
  spec.scenario = name.empty() ? c.law : name;
  spec.backend = backend;
  spec.world = c.world;
  spec.mesh = c.mesh;
  spec.seed = c.data_seed;
  spec.schedule_seed = c.schedule_seed;
  for (size_t i = 0; i < c.faults.size(); ++i) {
    spec.faults.push_back(runner::parse_fault_at(c.faults[i], "faults." + std::to_string(i)));
  }
  if (c.expect != runner::Outcome::kPassed) spec.expect = c.expect;
  spec.origin = name.empty() ? "case" : name;
  return spec;
}

namespace {

runner::RunResult failed(runner::RunResult r, const std::string& why) {
  r.verdict = runner::RunResult::Verdict::kFail;
  r.outcome = runner::Outcome::kFailed;
  r.reason = why;
  return r;
}

// Law schedule_independence: every schedule seed twice; the values of every
// run agree and each seed's trace is the same both times.
runner::RunResult run_schedules(const CaseFile& c, const runner::Scenario& scenario,
                                   runner::Backend& backend, const std::string& name) {
  runner::RunSpec spec = run_spec_from_case(c, backend.name(), name);
  if (!backend.capabilities().scheduler) {
    runner::RunResult r;
    r.spec = spec;
    r.world = c.world;
    r.mesh = c.mesh;
    r.has_schedule = false;
    const std::string with = runner::backends_with(&runner::BackendCapabilities::scheduler);
    r.reason = "schedule_independence needs the " + with + " scheduler; it runs on backend " + with + " only";
    return r;
  }
  runner::RunResult first;
  double seconds = 0;
  for (size_t i = 0; i < c.schedule_seeds.size(); ++i) {
    spec.schedule_seed = c.schedule_seeds[i];
    runner::RunResult a = runner::run_spec(scenario, spec, backend);
    seconds += a.seconds;
    if (a.verdict != runner::RunResult::Verdict::kPass) return a;
    runner::RunResult b = runner::run_spec(scenario, spec, backend);
    seconds += b.seconds;
    if (b.verdict != runner::RunResult::Verdict::kPass) return b;
    std::ostringstream why;
    if (a.trace != b.trace) {
      why << "schedule seed " << spec.effective_schedule_seed() << " gave trace " << a.trace
          << " and then " << b.trace;
      return failed(a, why.str());
    }
    if (i == 0) first = a;
    if (a.values != first.values) {
      why << "schedule seed " << spec.effective_schedule_seed() << " gave values " << a.values
          << " but schedule seed " << first.spec.effective_schedule_seed() << " gave "
          << first.values;
      return failed(a, why.str());
    }
  }
  first.seconds = seconds;
  return first;
}

}  // namespace

runner::RunResult run_case(const CaseFile& c, runner::Backend& backend,
                              const std::string& name) {
  const runner::Scenario scenario = scenario_from_case(c, name);
  if (c.law == "schedule_independence") return run_schedules(c, scenario, backend, name);
  return runner::run_spec(scenario, run_spec_from_case(c, backend.name(), name), backend);
}

std::string format_case_result(const runner::RunResult& r, const std::string& path) {
  std::istringstream in(runner::format_result(r));
  std::ostringstream out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("    rerun: ", 0) == 0)
      line = "    rerun: " + replay_command_line(path, r.spec.backend);
    out << line << "\n";
  }
  return out.str();
}

}  // namespace shardsim::properties
