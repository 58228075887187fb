#include "shardsim/runner/run.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <sstream>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "shardsim/core/digest.h"
#include "shardsim/core/text.h"
#include "shardsim/runner/real_backends.h"
#include "shardsim/core/host_memory.h"

namespace shardsim::runner {

namespace {
struct OutcomeName {
  Outcome outcome;
  const char* name;
};
const OutcomeName kOutcomes[] = {
    {Outcome::kPassed, "passed"},     {Outcome::kFailed, "failed"}, {Outcome::kDeadlock, "deadlock"},
    {Outcome::kMismatch, "mismatch"}, {Outcome::kCrash, "crash"},   {Outcome::kTimeout, "timeout"},
    {Outcome::kError, "error"},
};
}  // namespace

const char* outcome_name(Outcome o) {
  for (const OutcomeName& n : kOutcomes) {
    if (n.outcome == o) return n.name;
  }
  return "?";
}

Outcome parse_outcome(const std::string& word) {
  std::string names;
  for (const OutcomeName& n : kOutcomes) {
    if (word == n.name) return n.outcome;
    names += std::string(names.empty() ? "" : ", ") + n.name;
  }
  throw InvalidArgument("unknown outcome '" + word + "' (expected one of " + names + ")");
}

RankRun run_rank(const Scenario& scenario, Comm& comm, HostMemory& host, const ScenarioConfig& config,
                 RunCache* cache) {
  RankRun out;
  ScenarioContext ctx(comm, host, config, cache);
  const std::string who = "rank " + std::to_string(comm.rank()) + ": ";
  bool assertion = false;
  std::string message;
  try {
    scenario.body(ctx);
  } catch (const InjectedFault& e) {
    message = who + e.what();
    // An injected exit is the rank returning early, not a failure.
    out.exited = e.kind() == FaultKind::kExit;
    out.crashed = e.kind() == FaultKind::kCrash;
  } catch (const AssertionFailure& e) {
    assertion = true;
    message = e.what();
  } catch (const c10::Error& e) {
    // ATen's own errors: the message without the C++ backtrace.
    message = who + e.what_without_backtrace();
  } catch (const std::exception& e) {
    message = who + e.what();
  }
  if (!message.empty()) {
    out.ok = out.exited;
    out.assertion = assertion;
    out.message = message;
  }
  out.values = ctx.values().value();
  return out;
}

ScenarioLookup lookup_in(const ScenarioRegistry& registry) {
  return [&registry](const RunSpec& spec) -> const Scenario& {
    const Scenario* s = registry.find(spec.scenario);
    SHARDSIM_CHECK_ARG(s != nullptr, "no scenario named '", spec.scenario,
                       "' (see `shardsim list`)");
    return *s;
  };
}

std::string combine_values(const std::vector<uint64_t>& per_rank) {
  Digest d;
  d.update_u64(per_rank.size());
  for (uint64_t v : per_rank) d.update_u64(v);
  return d.hex();
}

int64_t collective_timeout_ms(const RunSpec& spec) {
  const double s = spec.timeout_s > 0 ? spec.timeout_s : kDefaultCollectiveTimeoutS;
  return std::max<int64_t>(1, static_cast<int64_t>(std::llround(s * 1000)));
}

FaultSpec parse_fault_at(const std::string& text, const std::string& origin) {
  try {
    return parse_fault(text);
  } catch (const InvalidArgument& e) {
    throw InvalidArgument((origin.empty() ? "" : origin + ": ") + e.what());
  }
}

void check_fault_ranks(const RunSpec& spec, int64_t world) {
  for (const FaultSpec& f : spec.faults) {
    SHARDSIM_CHECK_ARG(f.rank < world, spec.origin.empty() ? "" : spec.origin + ": ", "fault '",
                       f.str(), "' names rank ", f.rank, ", but scenario ", spec.scenario,
                       " runs world ", world, " (ranks 0..", world - 1, ")");
  }
}

std::vector<Outcome> explained_outcomes(const std::vector<FaultSpec>& fired, int64_t world) {
  std::vector<Outcome> out;
  auto add = [&](Outcome o) {
    if (std::find(out.begin(), out.end(), o) == out.end()) out.push_back(o);
  };
  if (fired.empty()) add(Outcome::kPassed);
  for (const FaultSpec& f : fired) {
    switch (f.kind) {
      case FaultKind::kCrash:
        add(Outcome::kCrash);
        break;
      case FaultKind::kExit:
        add(Outcome::kDeadlock);
        if (world == 1) add(Outcome::kPassed);  // nobody waits for a world of one
        break;
      case FaultKind::kMismatch:
        add(Outcome::kMismatch);
        add(Outcome::kError);  // an altered collective that returned (a group of one)
        break;
      case FaultKind::kSkip:
        // Later calls pair up wrongly: whatever that leads to, or nothing.
        for (Outcome o : {Outcome::kPassed, Outcome::kFailed, Outcome::kDeadlock,
                          Outcome::kMismatch, Outcome::kTimeout, Outcome::kError}) {
          add(o);
        }
        break;
      case FaultKind::kDelay:
      case FaultKind::kJitter:
        add(Outcome::kPassed);
        add(Outcome::kTimeout);
        break;
      case FaultKind::kAlloc:
        add(Outcome::kError);
        break;
      case FaultKind::kDiverge:
        // Caught by an assertion or by verification; unseen where the rank's slice is empty.
        add(Outcome::kPassed);
        add(Outcome::kFailed);
        add(Outcome::kError);
        break;
    }
  }
  return out;
}

namespace {
std::string outcome_list(const std::vector<Outcome>& outcomes) {
  std::string out;
  for (Outcome o : outcomes) out += std::string(out.empty() ? "" : ", ") + outcome_name(o);
  return out;
}
}  // namespace

RunResult resolved_result(const Scenario& scenario, const RunSpec& spec) {
  RunResult r;
  r.spec = spec;
  r.world = spec.world > 0 ? spec.world : scenario.default_world;
  r.mesh = spec.mesh.empty() ? scenario.mesh_for(r.world) : spec.mesh;
  r.spec.world = r.world;
  r.spec.mesh = r.mesh;
  return r;
}

bool BackendCapabilities::injects(FaultKind kind) const {
  return std::find(fault_kinds.begin(), fault_kinds.end(), kind) != fault_kinds.end();
}

const std::vector<BackendDescription>& known_backends() {
  static const std::vector<BackendDescription> all = [] {
    const std::vector<FaultKind> every_kind = {
        FaultKind::kCrash, FaultKind::kExit,  FaultKind::kSkip,  FaultKind::kMismatch,
        FaultKind::kDelay, FaultKind::kJitter, FaultKind::kAlloc, FaultKind::kDiverge};
    BackendDescription fiber{"fiber", {}};
    fiber.capabilities.scheduler = true;
    fiber.capabilities.virtual_time = true;
    fiber.capabilities.buggify = true;
    fiber.capabilities.fault_kinds = every_kind;
    BackendDescription gloo{"gloo", {}};
    gloo.capabilities.rank_per_process = true;
    gloo.capabilities.fault_kinds = every_kind;
    BackendDescription nccl = gloo;
    nccl.name = "nccl";
    return std::vector<BackendDescription>{fiber, gloo, nccl};
  }();
  return all;
}

const BackendDescription& backend_named(const std::string& name) {
  std::string names;
  for (const BackendDescription& b : known_backends()) {
    if (b.name == name) return b;
    names += (names.empty() ? "" : ", ") + b.name;
  }
  throw InvalidArgument("unknown backend '" + one_line(name) + "' (" + names + ")");
}

bool is_real_backend(const std::string& backend) {
  for (const BackendDescription& b : known_backends()) {
    if (b.name == backend) return b.capabilities.rank_per_process;
  }
  return false;
}

std::string backends_with(bool BackendCapabilities::*capability) {
  std::string names;
  for (const BackendDescription& b : known_backends()) {
    if (b.capabilities.*capability) names += (names.empty() ? "" : ", ") + b.name;
  }
  return names;
}

std::string skip_reason(const Scenario& scenario, const RunResult& resolved,
                        const BackendCapabilities& can) {
  std::string why = scenario.rejects(resolved.world, resolved.mesh);
  if (why.empty() && scenario.needs_scheduler && !can.scheduler) {
    const std::string with = backends_with(&BackendCapabilities::scheduler);
    why = scenario.name + " needs the " + with + " scheduler; it runs on backend " + with + " only";
  }
  if (why.empty() && resolved.spec.buggify && !can.buggify) {
    why = "--buggify runs on backend " + backends_with(&BackendCapabilities::buggify) + " only";
  }
  return why;
}

RunResult skipped_result(const RunResult& resolved, const std::string& why,
                         const BackendCapabilities& can) {
  RunResult r = resolved;
  r.verdict = RunResult::Verdict::kSkip;
  r.reason = why;
  r.has_schedule = can.scheduler;
  return r;
}

RunResult run_resolved(const Scenario& scenario, const RunResult& resolved, Backend& backend) {
  const RunSpec& spec = resolved.spec;
  RunSpec to_run = spec;
  if (spec.buggify) {
    for (const FaultSpec& f : buggify_plan(spec.seed, resolved.world, collective_timeout_ms(spec))) {
      to_run.faults.push_back(f);
    }
  }
  const auto start = std::chrono::steady_clock::now();
  RunResult got = backend.run(scenario, to_run);
  const auto end = std::chrono::steady_clock::now();
  got.spec = spec;
  got.world = resolved.world;
  got.mesh = resolved.mesh;
  got.has_schedule = backend.capabilities().scheduler;
  got.seconds = std::chrono::duration<double>(end - start).count();
  return got;
}

RunResult run_spec(const Scenario& scenario, const RunSpec& spec, Backend& backend) {
  const RunResult resolved = resolved_result(scenario, spec);
  const std::string why = skip_reason(scenario, resolved, backend.capabilities());
  if (!why.empty()) return skipped_result(resolved, why, backend.capabilities());
  return judge(resolved, run_resolved(scenario, resolved, backend));
}

RunResult judge(const RunResult& resolved, RunResult got) {
  const RunSpec& spec = resolved.spec;
  got.spec = spec;
  got.world = resolved.world;
  got.mesh = resolved.mesh;
  if (spec.buggify && !spec.expect) {
    const std::vector<Outcome> explained = explained_outcomes(got.fired, resolved.world);
    if (std::find(explained.begin(), explained.end(), got.outcome) != explained.end()) {
      got.verdict = RunResult::Verdict::kPass;
    } else {
      got.verdict = RunResult::Verdict::kFail;
      got.reason = std::string("outcome ") + outcome_name(got.outcome) +
                   " is not one the fired faults explain (" + outcome_list(explained) + ")" +
                   (got.reason.empty() ? "" : ":\n" + got.reason);
    }
    return got;
  }
  const Outcome wanted = spec.expect ? *spec.expect : Outcome::kPassed;
  if (got.outcome == wanted) {
    got.verdict = RunResult::Verdict::kPass;
  } else {
    got.verdict = RunResult::Verdict::kFail;
    if (spec.expect) {
      got.reason = std::string("expected outcome ") + outcome_name(wanted) + " but got " +
                   outcome_name(got.outcome) + (got.reason.empty() ? "" : ":\n" + got.reason);
    }
  }
  return got;
}

namespace {

const char* verdict_word(RunResult::Verdict v) {
  switch (v) {
    case RunResult::Verdict::kPass: return "PASS";
    case RunResult::Verdict::kFail: return "FAIL";
    case RunResult::Verdict::kSkip: return "SKIP";
  }
  return "?";
}

std::string indent(const std::string& text) {
  std::ostringstream os;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) os << "    " << line << "\n";
  return os.str();
}

}  // namespace

std::string format_result(const RunResult& r) {
  std::ostringstream os;
  os << verdict_word(r.verdict) << " " << r.spec.scenario << " backend=" << r.spec.backend
     << " world=" << r.world << " mesh=" << mesh_shape_str(r.mesh) << " seed=" << r.spec.seed
     << " schedule=";
  if (r.has_schedule) {
    os << r.spec.effective_schedule_seed();
  } else {
    os << "-";
  }
  os << " trace=" << r.trace << " values=" << r.values << " time=" << std::fixed
     << std::setprecision(3) << r.seconds << "\n";
  if (r.verdict == RunResult::Verdict::kPass && r.spec.expect && *r.spec.expect != Outcome::kPassed) {
    os << indent(std::string("expected ") + outcome_name(*r.spec.expect) + ": " + r.reason);
  } else if (r.verdict == RunResult::Verdict::kPass && r.outcome != Outcome::kPassed) {
    os << indent(std::string("explained by the injected faults: ") + outcome_name(r.outcome) + ": " +
                 r.reason);
  }
  if (r.verdict != RunResult::Verdict::kPass && !r.reason.empty()) os << indent(r.reason);
  for (const std::string& line : r.injected) os << indent("injected: " + line);
  if (r.verdict == RunResult::Verdict::kFail) os << indent("rerun: " + rerun_command(r));
  return os.str();
}

namespace {
std::string shell_quote(const std::string& s) {
  bool plain = !s.empty();
  for (char c : s) {
    plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
                      c == '/' || c == ':' || c == '=' || c == ',' || c == '*');
  }
  if (plain && s.find('*') == std::string::npos) return s;
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}
}  // namespace

std::string rerun_command(const RunResult& r) {
  std::ostringstream os;
  os << "shardsim run --scenario " << shell_quote(r.spec.scenario) << " --backend " << r.spec.backend
     << " --world " << r.world << " --mesh " << mesh_shape_str(r.mesh) << " --seed " << r.spec.seed;
  if (r.has_schedule) os << " --schedule-seed " << r.spec.effective_schedule_seed();
  for (const FaultSpec& f : r.spec.faults) os << " --fault " << shell_quote(f.str());
  if (r.spec.expect) os << " --expect " << outcome_name(*r.spec.expect);
  if (r.spec.timeout_s > 0) os << " --timeout " << r.spec.timeout_s;
  if (r.spec.buggify) os << " --buggify";
  return os.str();
}

std::string format_summary(const std::vector<RunResult>& results) {
  int64_t pass = 0, fail = 0, skip = 0;
  for (const RunResult& r : results) {
    switch (r.verdict) {
      case RunResult::Verdict::kPass: ++pass; break;
      case RunResult::Verdict::kFail: ++fail; break;
      case RunResult::Verdict::kSkip: ++skip; break;
    }
  }
  std::ostringstream os;
  os << pass << " passed, " << fail << " failed";
  if (skip > 0) os << ", " << skip << " skipped";
  return os.str();
}

namespace {
std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') {
          out += ' ';
        } else {
          out += c;
        }
    }
  }
  return out;
}
}  // namespace

void write_junit(const std::string& path, const std::vector<RunResult>& results) {
  int64_t failures = 0, skipped = 0;
  double total = 0;
  for (const RunResult& r : results) {
    failures += r.verdict == RunResult::Verdict::kFail;
    skipped += r.verdict == RunResult::Verdict::kSkip;
    total += r.seconds;
  }
  std::ostringstream os;
  os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  os << "<testsuites name=\"shardsim\" tests=\"" << results.size() << "\" failures=\"" << failures
     << "\" skipped=\"" << skipped << "\" time=\"" << total << "\">\n";
  os << "  <testsuite name=\"shardsim run\" tests=\"" << results.size() << "\" failures=\"" << failures
     << "\" skipped=\"" << skipped << "\" time=\"" << total << "\">\n";
  for (const RunResult& r : results) {
    std::ostringstream name;
    name << r.spec.scenario << "[backend=" << r.spec.backend << ",world=" << r.world
         << ",mesh=" << mesh_shape_str(r.mesh) << ",seed=" << r.spec.seed << "]";
    os << "    <testcase classname=\"" << xml_escape(r.spec.scenario) << "\" name=\""
       << xml_escape(name.str()) << "\" time=\"" << r.seconds << "\">\n";
    if (r.verdict == RunResult::Verdict::kFail) {
      os << "      <failure message=\"" << xml_escape(outcome_name(r.outcome)) << "\">"
         << xml_escape(format_result(r)) << "</failure>\n";
    } else if (r.verdict == RunResult::Verdict::kSkip) {
      os << "      <skipped message=\"" << xml_escape(r.reason) << "\"/>\n";
    }
    os << "      <system-out>" << xml_escape(format_result(r)) << "</system-out>\n";
    os << "    </testcase>\n";
  }
  os << "  </testsuite>\n</testsuites>\n";
  std::ofstream f(path);
  SHARDSIM_CHECK(f.good(), "cannot write JUnit report '", path, "'");
  f << os.str();
  f.close();
  SHARDSIM_CHECK(f.good(), "cannot write JUnit report '", path, "'");
}

}  // namespace shardsim::runner
