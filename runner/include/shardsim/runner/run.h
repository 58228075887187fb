// Running scenarios: what to run (RunSpec), what happened (RunResult), the
// backends that run them, and the one result-line grammar every backend
// prints.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include <c10/util/Optional.h>

#include "shardsim/core/faults.h"
#include "shardsim/core/shape.h"
#include "shardsim/runner/scenario.h"

namespace shardsim::runner {

// How a run ended: the root cause, not its echoes. A rank that threw first
// (in event order) decides it: an injected crash is kCrash, an assertion
// kFailed, anything else kError; with no rank failing, what stopped the world
// decides (a rank that left early shows as the deadlock of those waiting).
enum class Outcome {
  kPassed,    // every rank finished and every assertion held
  kFailed,    // an assertion failed
  kDeadlock,  // ranks waited for each other forever (or a rank left early)
  kMismatch,  // ranks called disagreeing collectives
  kCrash,     // a rank died (an injected crash, or a worker process died)
  kTimeout,   // a collective or the run outlived its timeout
  kError,     // a rank threw something other than an assertion
};
const char* outcome_name(Outcome o);  // "passed", "failed", ...
// Throws InvalidArgument naming the word and the accepted names.
Outcome parse_outcome(const std::string& word);

struct RunSpec {
  std::string scenario;
  std::string backend = "fiber";
  int64_t world = 0;                    // 0: the scenario's default world
  Shape mesh;                           // empty: the scenario's default mesh
  uint64_t seed = 1;                    // the data seed
  c10::optional<uint64_t> schedule_seed;  // default: the data seed
  std::vector<FaultSpec> faults;        // parsed when the command line or suite is read
  c10::optional<Outcome> expect;        // the run passes when this is the outcome
  double timeout_s = 0;                 // collective timeout; 0 = backend default
  std::string origin;                   // "file.toml:12" or "command line"
  // Add a fault plan drawn from the seed (buggify_plan); without `expect`,
  // the run then passes when the outcome is one the fired faults explain.
  bool buggify = false;

  uint64_t effective_schedule_seed() const { return schedule_seed ? *schedule_seed : seed; }
};

// The collective timeout when a spec names none: the real backends' default,
// so a delay times out alike on every backend (virtual time on fibers).
constexpr double kDefaultCollectiveTimeoutS = 120;
// The collective timeout of `spec` in milliseconds.
int64_t collective_timeout_ms(const RunSpec& spec);

// Parses one fault given at `origin` ("file.toml:12", "--fault"). Throws
// InvalidArgument naming the origin and the bad fault.
FaultSpec parse_fault_at(const std::string& text, const std::string& origin);
// Checks that every fault of `spec` names a rank of `world`, the world the
// spec runs at (its own, or its scenario's default). Throws InvalidArgument
// naming the spec's origin, the fault, the rank, the world and the scenario.
void check_fault_ranks(const RunSpec& spec, int64_t world);

// The outcomes that the fired faults explain (a run with no fault fired must pass).
std::vector<Outcome> explained_outcomes(const std::vector<FaultSpec>& fired, int64_t world);

struct RunResult {
  enum class Verdict { kPass, kFail, kSkip };
  RunSpec spec;
  Verdict verdict = Verdict::kSkip;
  Outcome outcome = Outcome::kPassed;
  int64_t world = 0;        // resolved
  Shape mesh;               // resolved
  std::string reason;       // for FAIL/SKIP (and the diagnosis when an outcome was expected)
  std::string trace = "-";  // 16 hex, or "-" where the backend has no scheduler
  std::string values = "-"; // 16 hex
  bool has_schedule = true; // whether schedule= is meaningful
  double seconds = 0;
  // One line per fault of the run (FaultPlan::report), printed as "injected: ...".
  std::vector<std::string> injected;
  std::vector<FaultSpec> fired;  // the faults that fired
};

// The part of a run every backend shares: one rank's execution of a scenario.
struct RankRun {
  bool ok = true;
  bool assertion = false;  // failed by an AssertionFailure (else by another error)
  std::string message;     // what failed, naming the rank
  uint64_t values = 0;     // this rank's values digest
  bool crashed = false;    // ended by an injected crash (ok is false)
  bool exited = false;     // left early by an injected exit (ok stays true; message says where)
};
// Runs `scenario` on this rank, catching assertion failures and errors into
// the result (never inside a suspension point). Exceptions that do not derive
// from std::exception (a fiber world unwinding its ranks) pass through.
// `cache` (may be null) is shared by the run's ranks in this process.
RankRun run_rank(const Scenario& scenario, Comm& comm, HostMemory& host,
                 const ScenarioConfig& config, RunCache* cache = nullptr);
// The values= digest of a run from every rank's digest, in rank order.
std::string combine_values(const std::vector<uint64_t>& per_rank);

// The scenario a spec runs. Every process of a run must resolve a spec to
// the same scenario (replay, say, builds its scenarios from the case files
// named on the command line).
using ScenarioLookup = std::function<const Scenario&(const RunSpec&)>;
// Finds a spec's scenario by name in `registry` (which must outlive the
// lookup); an unknown name is InvalidArgument pointing at `shardsim list`.
ScenarioLookup lookup_in(const ScenarioRegistry& registry);

// What a backend can do. The runner, the launcher and the CLI ask these
// questions; no code outside a backend compares a backend's name.
struct BackendCapabilities {
  bool scheduler = false;         // a seeded scheduler: schedule= and trace= mean something
  bool virtual_time = false;      // delays and timeouts pass in virtual time, not waited for
  bool buggify = false;           // runs fault plans drawn from the seed (--buggify)
  bool rank_per_process = false;  // each rank is a process (the launcher's, or a job's)
  std::vector<FaultKind> fault_kinds;  // the fault kinds it injects
  // Whether it injects faults of `kind`.
  bool injects(FaultKind kind) const;
};

// A backend shardsim knows by name, built into this binary or not.
struct BackendDescription {
  std::string name;  // "fiber", "gloo", "nccl": the --backend word
  BackendCapabilities capabilities;
};
// Every backend shardsim knows, in the order help texts list them.
const std::vector<BackendDescription>& known_backends();
// The backend called `name`. Throws InvalidArgument naming it and the known ones.
const BackendDescription& backend_named(const std::string& name);
// The names of the known backends that have `capability`, as "fiber" or "gloo, nccl".
std::string backends_with(bool BackendCapabilities::*capability);

class Backend {
 public:
  virtual ~Backend() = default;
  // The --backend word of this backend.
  virtual std::string name() const = 0;
  // What it can do (backend_named(name()).capabilities).
  const BackendCapabilities& capabilities() const { return backend_named(name()).capabilities; }
  // Runs one spec of an accepted scenario; never throws for expected
  // outcomes (failures, deadlocks, ...).
  virtual RunResult run(const Scenario& scenario, const RunSpec& spec) = 0;
};

// Resolves world and mesh, decides a skip (skip_reason), runs it on
// `backend` (run_resolved) and judges the outcome (judge).
RunResult run_spec(const Scenario& scenario, const RunSpec& spec, Backend& backend);

// The result of `spec` before it runs: world and mesh resolved from the
// scenario's defaults (in the result and its spec), nothing else set.
RunResult resolved_result(const Scenario& scenario, const RunSpec& spec);
// Why `resolved` does not run on a backend that can do `can` (the scenario
// rejects its world or mesh, or needs what the backend lacks); empty when it
// runs. Decided before anything runs.
std::string skip_reason(const Scenario& scenario, const RunResult& resolved,
                        const BackendCapabilities& can);
// `resolved` as a SKIP result for `why`.
RunResult skipped_result(const RunResult& resolved, const std::string& why,
                         const BackendCapabilities& can);
// The backend's own result of `resolved` (its outcome; no verdict yet): the
// spec with buggify's faults added runs on `backend`, timed.
RunResult run_resolved(const Scenario& scenario, const RunResult& resolved, Backend& backend);
// `raw` (a backend's result of `resolved`) judged: the verdict from the
// spec's `expect`, or from the faults that fired under buggify.
RunResult judge(const RunResult& resolved, RunResult raw);

// "PASS <scenario> backend=.. world=.. mesh=.. seed=.. schedule=.. trace=.. values=.. time=.."
// followed, for FAIL and SKIP, by the reason on indented lines.
std::string format_result(const RunResult& r);
// The exact command that reruns just this result.
std::string rerun_command(const RunResult& r);
// "N passed, M failed" (", K skipped" where any).
std::string format_summary(const std::vector<RunResult>& results);
// Writes a JUnit XML report. Throws Error when the file cannot be written.
void write_junit(const std::string& path, const std::vector<RunResult>& results);

}  // namespace shardsim::runner
