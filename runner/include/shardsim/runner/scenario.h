// The scenario API: one SPMD function, written once like the body of a
// PyTorch distributed test, registered by name with the world sizes it
// accepts, and run by the runner on any backend (fibers, Gloo, NCCL).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "shardsim/core/comm.h"
#include "shardsim/core/digest.h"
#include "shardsim/core/error.h"
#include "shardsim/core/mesh.h"
#include "shardsim/core/random.h"
#include "shardsim/core/value.h"

namespace shardsim {
class HostMemory;
}

namespace shardsim::runner {

// A scenario's assertion failed. The message names the rank, the state-dict
// path and both values.
class AssertionFailure : public Error {
 public:
  using Error::Error;
};

// Values computed once per run and shared by the ranks of one process (all
// ranks, on fibers), so that an oracle every rank needs costs O(world), not
// O(world^2). Thread-safe.
class RunCache {
 public:
  // The value under `key`, computed by `compute` the first time. `compute`
  // must depend on the run's seeds alone (never on the rank or on streams a
  // rank has advanced) and must not communicate.
  Value get(const std::string& key, const std::function<Value()>& compute);

 private:
  std::mutex mu_;
  std::map<std::string, Value> values_;
};

// What the runner tells a scenario about the run (identical on every rank).
struct ScenarioConfig {
  uint64_t data_seed = 1;
  Shape mesh_shape;     // the run's mesh (the --mesh option or the scenario's default)
  std::string backend;  // "fiber", "gloo", "nccl"
};

// Everything one rank of a scenario sees.
class ScenarioContext {
 public:
  // `cache` (may be null: nothing is shared) is shared by the run's ranks in this process.
  ScenarioContext(Comm& comm, HostMemory& host, const ScenarioConfig& config,
                  RunCache* cache = nullptr);

  int64_t rank() const { return comm_.rank(); }
  int64_t world_size() const { return comm_.size(); }
  Comm& comm() { return comm_; }
  // The rank's device: the simulated accelerator on fibers, cuda:LOCAL_RANK
  // on NCCL, CPU on Gloo.
  c10::Device device() const { return comm_.device(); }
  const std::string& backend() const { return config_.backend; }
  HostMemory& host_memory() { return host_; }
  uint64_t data_seed() const { return config_.data_seed; }

  // This rank's data stream (from the data seed and the rank).
  Random& data() { return data_; }
  // The stream every rank sees identically (for data that must agree).
  Random& shared() { return shared_; }
  // A fresh copy of rank `r`'s data stream from its start, for oracles that
  // rebuild another rank's input.
  Random data_of(int64_t r) const { return rank_stream(config_.data_seed, r); }
  // A fresh copy of the shared stream from its start.
  Random shared_from_start() const { return shared_stream(config_.data_seed); }

  // A 1-D mesh over every rank, on the rank's device type.
  DeviceMesh mesh_1d() const;
  // A mesh of `shape` over every rank (product must be the world size).
  DeviceMesh mesh(const Shape& shape) const;
  // The run's mesh (the --mesh option, or the scenario's default).
  DeviceMesh run_mesh() const;

  // Assertions: throw AssertionFailure naming rank, `what` (a path or label)
  // and both sides.
  void check(bool condition, const std::string& what);
  // Deep equality (Value ==): same structure, dtypes, shapes and bits.
  void check_equal(const Value& actual, const Value& expected, const std::string& what);
  void check_not_equal(const Value& actual, const Value& other, const std::string& what);
  // Same dtype and shape, values within atol + rtol * |expected|.
  void check_close(const at::Tensor& actual, const at::Tensor& expected, const std::string& what,
                   double rtol = 1e-5, double atol = 1e-8);
  void check_device(const at::Tensor& t, c10::Device expected, const std::string& what);
  // Whether two tensors share storage.
  static bool same_storage(const at::Tensor& a, const at::Tensor& b);

  // Adds `value` under `name` to this rank's results: the `values=` digest,
  // identical on every backend for the same data seed.
  void record(const std::string& name, const Value& value);
  const Digest& values() const { return values_; }

  // A value every rank computes identically (an oracle), computed once per
  // run in this process; see RunCache::get for what `compute` may do.
  Value memo(const std::string& key, const std::function<Value()>& compute);

  // "rank 2" prefix used in messages.
  std::string who() const;

 private:
  Comm& comm_;
  HostMemory& host_;
  ScenarioConfig config_;
  RunCache* cache_;
  Random data_;
  Random shared_;
  Digest values_;
};

struct Scenario {
  std::string name;
  std::string summary;           // one line
  int64_t min_world = 1;
  int64_t max_world = 0;         // 0: no upper limit
  int64_t world_multiple = 1;    // the world must be a multiple of this
  int64_t default_world = 2;
  bool needs_scheduler = false;  // uses a fiber-only feature; skipped on real backends
  // The mesh used when the run names none; empty function = 1-D over the world.
  std::function<Shape(int64_t world)> default_mesh;
  // The mesh dimensions the scenario needs (0 = any); checked by rejects().
  int64_t mesh_ndim = 0;
  std::function<void(ScenarioContext&)> body;

  // Empty when the scenario accepts `world` (and `mesh`, when given); else
  // why not (for SKIP lines).
  std::string rejects(int64_t world, const Shape& mesh = {}) const;
  // The mesh a run at `world` uses when it names none.
  Shape mesh_for(int64_t world) const;
  // "1+", "3+", "2..8", "2+ (even)"
  std::string worlds_str() const;
};

// A scenario declared by named settings, so that a registration reads on its
// own and says only what differs from the defaults (worlds 1+, default world
// 2, a 1-D mesh, any backend):
//
//   registry.add(define_scenario("hsdp_replicate_shard", hsdp)
//                    .summary("HSDP: ... gathers to the full one")
//                    .min_world(2)
//                    .world_multiple(2)
//                    .default_world(4)
//                    .default_mesh(two_by_half, 2));
class ScenarioBuilder {
 public:
  ScenarioBuilder(std::string name, std::function<void(ScenarioContext&)> body);
  // The one-line summary `shardsim list` shows.
  ScenarioBuilder& summary(std::string line);
  // The smallest world it accepts.
  ScenarioBuilder& min_world(int64_t world);
  // The largest world it accepts (default: no limit).
  ScenarioBuilder& max_world(int64_t world);
  // The world must be a multiple of `multiple`.
  ScenarioBuilder& world_multiple(int64_t multiple);
  // The world a run that names none uses.
  ScenarioBuilder& default_world(int64_t world);
  // Uses a fiber-only feature (a seeded schedule): skipped where a backend has no scheduler.
  ScenarioBuilder& needs_scheduler();
  // The mesh a run that names none uses at each world, and the dims it must have.
  ScenarioBuilder& default_mesh(std::function<Shape(int64_t world)> mesh, int64_t ndim);
  // The mesh dimensions a run's mesh must have (default: any).
  ScenarioBuilder& mesh_ndim(int64_t ndim);
  // The scenario declared so far.
  const Scenario& scenario() const { return scenario_; }

 private:
  Scenario scenario_;
};
// Starts the declaration of scenario `name` running `body` on every rank.
ScenarioBuilder define_scenario(std::string name, std::function<void(ScenarioContext&)> body);

class ScenarioRegistry {
 public:
  // Throws Error on a duplicate name.
  void add(Scenario scenario);
  // Adds the scenario `builder` declares. Throws Error on a duplicate name.
  void add(const ScenarioBuilder& builder) { add(builder.scenario()); }
  const Scenario* find(const std::string& name) const;
  // Scenarios whose names match the glob (* and ?), in registration order.
  std::vector<const Scenario*> match(const std::string& glob) const;
  const std::vector<Scenario>& all() const { return scenarios_; }

 private:
  std::vector<Scenario> scenarios_;
};

// Shell-style glob match of `text` against `pattern` (* and ?).
bool glob_match(const std::string& pattern, const std::string& text);

}  // namespace shardsim::runner
