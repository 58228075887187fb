#include "shardsim/runner/scenario.h"

#include <cmath>
#include <sstream>

#include <ATen/ATen.h>

#include "shardsim/core/host_memory.h"

namespace shardsim::runner {

Value RunCache::get(const std::string& key, const std::function<Value()>& compute) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = values_.find(key);
  if (it == values_.end()) it = values_.emplace(key, compute()).first;
  return it->second;
}

ScenarioContext::ScenarioContext(Comm& comm, HostMemory& host, const ScenarioConfig& config,
                                 RunCache* cache)
    : comm_(comm),
      host_(host),
      config_(config),
      cache_(cache),
      data_(rank_stream(config.data_seed, comm.rank())),
      shared_(shared_stream(config.data_seed)) {}

Value ScenarioContext::memo(const std::string& key, const std::function<Value()>& compute) {
  if (cache_ == nullptr) return compute();
  return cache_->get(key, compute);
}

std::string ScenarioContext::who() const { return "rank " + std::to_string(rank()); }

DeviceMesh ScenarioContext::mesh_1d() const {
  return DeviceMesh(device().type(), Shape{world_size()});
}

DeviceMesh ScenarioContext::mesh(const Shape& shape) const {
  SHARDSIM_CHECK_ARG(numel_of(shape) == world_size(), "mesh ", mesh_shape_str(shape), " holds ",
                     numel_of(shape), " ranks but the world has ", world_size());
  return DeviceMesh(device().type(), shape);
}

DeviceMesh ScenarioContext::run_mesh() const {
  if (config_.mesh_shape.empty()) return mesh_1d();
  return mesh(config_.mesh_shape);
}

void ScenarioContext::check(bool condition, const std::string& what) {
  if (!condition) throw AssertionFailure(who() + ": " + what);
}

void ScenarioContext::check_equal(const Value& actual, const Value& expected, const std::string& what) {
  if (auto d = first_difference(actual, expected, what)) {
    throw AssertionFailure(who() + ": " + *d + " (actual vs expected)");
  }
}

void ScenarioContext::check_not_equal(const Value& actual, const Value& other, const std::string& what) {
  if (!first_difference(actual, other, what)) {
    std::ostringstream os;
    os << who() << ": " << what << ": expected a difference, but both are " << actual;
    throw AssertionFailure(os.str());
  }
}

void ScenarioContext::check_close(const at::Tensor& actual, const at::Tensor& expected,
                                  const std::string& what, double rtol, double atol) {
  std::ostringstream os;
  os << who() << ": " << what << ": ";
  if (actual.scalar_type() != expected.scalar_type() || actual.sizes() != expected.sizes()) {
    os << "dtype/shape " << c10::toString(actual.scalar_type()) << shape_str(actual.sizes().vec())
       << " vs " << c10::toString(expected.scalar_type()) << shape_str(expected.sizes().vec());
    throw AssertionFailure(os.str());
  }
  const at::Tensor a = actual.to(c10::kCPU).to(at::kDouble);
  const at::Tensor e = expected.to(c10::kCPU).to(at::kDouble);
  const at::Tensor bad = ((a - e).abs() > (e.abs() * rtol + atol)) | (a.isnan() != e.isnan());
  if (bad.any().item<bool>()) {
    const int64_t i = bad.reshape({-1}).nonzero()[0][0].item<int64_t>();
    os << "element " << i << " (flat) " << a.reshape({-1})[i].item<double>() << " vs "
       << e.reshape({-1})[i].item<double>() << " (rtol " << rtol << ", atol " << atol << ")";
    throw AssertionFailure(os.str());
  }
}

void ScenarioContext::check_device(const at::Tensor& t, c10::Device expected, const std::string& what) {
  if (t.device() != expected) {
    std::ostringstream os;
    os << who() << ": " << what << ": on " << t.device() << ", expected " << expected;
    throw AssertionFailure(os.str());
  }
}

bool ScenarioContext::same_storage(const at::Tensor& a, const at::Tensor& b) {
  return a.storage().unsafeGetStorageImpl() == b.storage().unsafeGetStorageImpl();
}

void ScenarioContext::record(const std::string& name, const Value& value) {
  values_.update(name);
  values_.update_value(value);
}

// --- Scenario ------------------------------------------------------------------------------

std::string Scenario::rejects(int64_t world, const Shape& mesh) const {
  std::ostringstream os;
  if (world < min_world) {
    os << name << " needs a world of at least " << min_world << " (got " << world << ")";
  } else if (max_world > 0 && world > max_world) {
    os << name << " accepts worlds up to " << max_world << " (got " << world << ")";
  } else if (world_multiple > 1 && world % world_multiple != 0) {
    os << name << " needs a world that is a multiple of " << world_multiple << " (got " << world << ")";
  } else if (!mesh.empty() && numel_of(mesh) != world) {
    os << "mesh " << mesh_shape_str(mesh) << " holds " << numel_of(mesh) << " ranks, not the world's "
       << world;
  } else if (!mesh.empty() && mesh_ndim > 0 && static_cast<int64_t>(mesh.size()) != mesh_ndim) {
    os << name << " needs a " << mesh_ndim << "-dim mesh (got " << mesh_shape_str(mesh) << ")";
  }
  return os.str();
}

Shape Scenario::mesh_for(int64_t world) const {
  if (default_mesh) return default_mesh(world);
  return Shape{world};
}

std::string Scenario::worlds_str() const {
  std::ostringstream os;
  if (max_world > 0) {
    os << min_world << ".." << max_world;
  } else {
    os << min_world << "+";
  }
  if (world_multiple > 1) os << " (multiple of " << world_multiple << ")";
  return os.str();
}

// --- Registry ------------------------------------------------------------------------------

void ScenarioRegistry::add(Scenario scenario) {
  SHARDSIM_CHECK(find(scenario.name) == nullptr, "scenario '", scenario.name, "' registered twice");
  scenarios_.push_back(std::move(scenario));
}

const Scenario* ScenarioRegistry::find(const std::string& name) const {
  for (const Scenario& s : scenarios_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::vector<const Scenario*> ScenarioRegistry::match(const std::string& glob) const {
  std::vector<const Scenario*> out;
  for (const Scenario& s : scenarios_) {
    if (glob_match(glob, s.name)) out.push_back(&s);
  }
  return out;
}

ScenarioBuilder::ScenarioBuilder(std::string name, std::function<void(ScenarioContext&)> body) {
  scenario_.name = std::move(name);
  scenario_.body = std::move(body);
}
ScenarioBuilder& ScenarioBuilder::summary(std::string line) {
  scenario_.summary = std::move(line);
  return *this;
}
ScenarioBuilder& ScenarioBuilder::min_world(int64_t world) {
  scenario_.min_world = world;
  return *this;
}
ScenarioBuilder& ScenarioBuilder::max_world(int64_t world) {
  scenario_.max_world = world;
  return *this;
}
ScenarioBuilder& ScenarioBuilder::world_multiple(int64_t multiple) {
  scenario_.world_multiple = multiple;
  return *this;
}
ScenarioBuilder& ScenarioBuilder::default_world(int64_t world) {
  scenario_.default_world = world;
  return *this;
}
ScenarioBuilder& ScenarioBuilder::needs_scheduler() {
  scenario_.needs_scheduler = true;
  return *this;
}
ScenarioBuilder& ScenarioBuilder::default_mesh(std::function<Shape(int64_t world)> mesh, int64_t ndim) {
  scenario_.default_mesh = std::move(mesh);
  scenario_.mesh_ndim = ndim;
  return *this;
}
ScenarioBuilder& ScenarioBuilder::mesh_ndim(int64_t ndim) {
  scenario_.mesh_ndim = ndim;
  return *this;
}

ScenarioBuilder define_scenario(std::string name, std::function<void(ScenarioContext&)> body) {
  return ScenarioBuilder(std::move(name), std::move(body));
}

bool glob_match(const std::string& pattern, const std::string& text) {
  // Iterative matcher with backtracking to the last '*'.
  size_t p = 0, t = 0, star = std::string::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace shardsim::runner
