#include "shardsim/properties/lifetime.h"

#include <unistd.h>

#include <sstream>

#include <ATen/ATen.h>

#include "laws.h"
#include "shardsim/core/state_dict_utils.h"

namespace shardsim::properties {

namespace {

std::string holder_of_key(int64_t dict, const std::string& key) {
  return "dict " + std::to_string(dict) + " key " + key;
}

std::string holder_of_view(int64_t view) { return "view " + std::to_string(view); }

int64_t whole_pages(int64_t bytes) {
  const int64_t page = sysconf(_SC_PAGESIZE);
  return (bytes + page - 1) / page * page;
}

// The tensor a view step takes a view of: the tensor itself, a DTensor's
// local tensor, or a ShardedTensor's first local shard (none without one).
at::Tensor viewable(const Value& v) {
  if (v.is_tensor()) return v.tensor();
  if (v.is_dtensor()) return v.dtensor().local();
  if (v.is_sharded_tensor() && !v.sharded_tensor().local_shards().empty()) {
    return v.sharded_tensor().local_shards()[0].tensor;
  }
  return at::Tensor();
}

}  // namespace

std::string step_str(const LifetimeStep& s) {
  std::ostringstream os;
  os << lifetime_op_name(s.op);
  switch (s.op) {
    case LifetimeStep::Op::kCreate:
      os << " dict " << s.dict << " pin_memory=" << (s.pin ? "true" : "false")
         << " share_memory=" << (s.share ? "true" : "false");
      break;
    case LifetimeStep::Op::kView:
    case LifetimeStep::Op::kDelete:
      os << " dict " << s.dict << " " << s.path;
      break;
    case LifetimeStep::Op::kCopy:
    case LifetimeStep::Op::kDrop:
      os << " dict " << s.dict;
      break;
    case LifetimeStep::Op::kDropView:
      os << " view " << s.view;
      break;
  }
  return os.str();
}

LifetimeRun::LifetimeRun(Value source, HostMemory& host)
    : source_(std::move(source)),
      host_(host),
      baseline_(host.stats()),
      baseline_vmlck_(process_locked_bytes()) {}

LifetimeRun::~LifetimeRun() {
  views_.clear();
  dicts_.clear();
}

std::vector<std::string> LifetimeRun::live_keys(int64_t dict) const {
  auto it = dicts_.find(dict);
  if (it == dicts_.end()) return {};
  return it->second.mapping().keys();
}

std::set<int64_t> LifetimeRun::live_views() const {
  std::set<int64_t> out;
  for (const auto& v : views_) out.insert(v.first);
  return out;
}

void LifetimeRun::release_holder(const std::string& holder) {
  for (Block& b : blocks_) b.holders.erase(holder);
}

std::string LifetimeRun::apply(const LifetimeStep& s) {
  switch (s.op) {
    case LifetimeStep::Op::kCreate: {
      CreateCpuOptions options;
      options.pin_memory = s.pin;
      options.share_memory = s.share;
      Value created = create_cpu_state_dict(source_, host_, options);
      const Mapping& m = created.mapping();
      for (size_t i = 0; i < m.size(); ++i) {
        const std::string holder = holder_of_key(s.dict, m.key(i));
        std::string problem;
        detail::for_each_tensor(
            m.value(i),
            [&](const std::string& path, const at::Tensor& t) {
              Block b(t.storage().getWeakStorageImpl());
              b.name = "dict " + std::to_string(s.dict) + " tensor " + path;
              b.pinned = s.pin && t.dim() > 0 && t.numel() > 0;
              b.shared = s.share && t.dim() > 0;
              b.locked_bytes = b.pinned ? whole_pages(t.numel() * t.element_size()) : 0;
              b.holders.insert(holder);
              if (b.pinned != is_page_locked(t) && problem.empty()) {
                problem = b.name + ": page-locked is " + (b.pinned ? "false" : "true") +
                          ", expected " + (b.pinned ? "true" : "false");
              }
              if (b.shared != is_shared(t) && problem.empty()) {
                problem = b.name + ": shared is " + (b.shared ? "false" : "true") + ", expected " +
                          (b.shared ? "true" : "false");
              }
              registrations_expected_ += b.pinned ? 1 : 0;
              blocks_.push_back(std::move(b));
            },
            m.key(i));
        if (!problem.empty()) return problem;
      }
      dicts_[s.dict] = std::move(created);
      live_dicts_.insert(s.dict);
      break;
    }
    case LifetimeStep::Op::kView: {
      const Value* leaf = detail::value_at(dicts_.at(s.dict), s.path);
      if (leaf == nullptr) return "no tensor at " + s.path + " in dict " + std::to_string(s.dict);
      const at::Tensor t = viewable(*leaf);
      const int64_t id = views_made_++;
      if (!t.defined()) break;  // a ShardedTensor without local shards: nothing to view
      views_[id] = t.as_strided(t.sizes(), t.strides(), t.storage_offset());
      const c10::StorageImpl* impl = t.storage().unsafeGetStorageImpl();
      for (Block& b : blocks_) {
        const auto strong = b.storage.lock();
        if (strong.get() == impl) b.holders.insert(holder_of_view(id));
      }
      break;
    }
    case LifetimeStep::Op::kCopy: {
      const Value copied = copy_state_dict(source_, dicts_.at(s.dict));
      if (auto d = first_difference(copied, source_)) {
        return "dict " + std::to_string(s.dict) + " after the copy: " + *d;
      }
      break;
    }
    case LifetimeStep::Op::kDelete:
      dicts_.at(s.dict).mapping().erase(s.path);
      release_holder(holder_of_key(s.dict, s.path));
      break;
    case LifetimeStep::Op::kDrop: {
      const std::vector<std::string> keys = dicts_.at(s.dict).mapping().keys();
      dicts_.erase(s.dict);
      live_dicts_.erase(s.dict);
      for (const std::string& k : keys) release_holder(holder_of_key(s.dict, k));
      break;
    }
    case LifetimeStep::Op::kDropView:
      views_.erase(s.view);
      release_holder(holder_of_view(s.view));
      break;
  }
  return check();
}

std::string LifetimeRun::check() const {
  int64_t live_pinned = 0, dead_pinned = 0, live_bytes = 0, live_shared = 0;
  for (const Block& b : blocks_) {
    const bool held = !b.holders.empty();
    const bool alive = !b.storage.expired();
    if (held && !alive) {
      return b.name + ": its storage died while " + *b.holders.begin() + " still holds it";
    }
    if (!held && alive) return b.name + ": its storage outlived its last tensor and view";
    if (b.pinned) (held ? live_pinned : dead_pinned) += 1;
    if (held) live_bytes += b.locked_bytes;
    if (held && b.shared) ++live_shared;
  }
  const HostMemoryStats now = host_.stats();
  std::ostringstream os;
  const auto expect = [&](const char* what, int64_t got, int64_t want) {
    if (got != want && os.tellp() == 0) {
      os << what << " " << got << ", expected " << want << " (counters " << now << ")";
    }
  };
  expect("live registrations", now.live_registrations - baseline_.live_registrations, live_pinned);
  expect("locked bytes", now.locked_bytes - baseline_.locked_bytes, live_bytes);
  expect("registrations taken", now.total_registered - baseline_.total_registered,
         registrations_expected_);
  expect("registrations released", now.total_released - baseline_.total_released, dead_pinned);
  expect("double releases", now.double_releases - baseline_.double_releases, 0);
  expect("live shared segments", now.live_shared_segments - baseline_.live_shared_segments,
         live_shared);
  return os.str();
}

std::string LifetimeRun::finish() {
  views_.clear();
  dicts_.clear();
  live_dicts_.clear();
  for (Block& b : blocks_) b.holders.clear();
  std::string problem = check();
  if (!problem.empty()) return "after dropping everything: " + problem;
  const int64_t vmlck = process_locked_bytes();
  if (vmlck >= 0 && baseline_vmlck_ >= 0 && vmlck != baseline_vmlck_) {
    return "after dropping everything the process locks " + std::to_string(vmlck) + " bytes, " +
           std::to_string(baseline_vmlck_) + " before";
  }
  return "";
}

namespace detail {

void law_pinned_lifetime(LawContext& law) {
  auto& ctx = law.ctx;
  LifetimeRun run(build_rank_value(law.c.state_dict, law.build()), ctx.host_memory());
  for (size_t i = 0; i < law.c.steps.size(); ++i) {
    const std::string problem = run.apply(law.c.steps[i]);
    ctx.check(problem.empty(), law.at("") + ": steps." + std::to_string(i) + " (" +
                                   step_str(law.c.steps[i]) + "): " + problem);
  }
  const std::string problem = run.finish();
  ctx.check(problem.empty(), law.at("") + ": " + problem);
  ctx.record("steps", int64_t(law.c.steps.size()));
}

}  // namespace detail

}  // namespace shardsim::properties
