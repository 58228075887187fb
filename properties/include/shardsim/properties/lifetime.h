// Law 6, the lifetime of page-locked and shared host memory, as steps
// applied to a HostMemory with a model beside them.
//
// Vocabulary: a *block* is the storage of one tensor of a created CPU state
// dict. Its *holders* are the top-level keys of live dicts that contain it
// and the live views of it. The model says a block lives exactly while it
// has a holder, is page-locked iff pin_memory and it has elements (0-dim
// tensors are plain), and locks whole pages. After every step the run checks
// each block's weak storage reference against the model and the HostMemory
// counters against the baseline plus the model: live registrations, locked
// bytes, shared segments, registrations taken and released (each once).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <c10/core/StorageImpl.h>
#include <c10/util/intrusive_ptr.h>

#include "shardsim/core/host_memory.h"
#include "shardsim/core/value.h"
#include "shardsim/properties/case_file.h"

namespace shardsim::properties {

class LifetimeRun {
 public:
  // `source` is the state dict every create step copies the shape of; `host`
  // the memory seam whose counters are checked (it must outlive the run).
  LifetimeRun(Value source, HostMemory& host);
  ~LifetimeRun();

  // Applies one step and checks every invariant. Returns "" or the first
  // violated one. REQUIRES: the step is valid here (validate_case checks).
  std::string apply(const LifetimeStep& step);
  // Drops every dict and view, then checks that the counters (and the
  // process's locked memory) are back at their baseline.
  std::string finish();

  // What the model holds, for generators that make valid steps.
  const std::set<int64_t>& live_dicts() const { return live_dicts_; }
  std::vector<std::string> live_keys(int64_t dict) const;
  std::set<int64_t> live_views() const;
  int64_t views_made() const { return views_made_; }

 private:
  struct Block {
    explicit Block(c10::weak_intrusive_ptr<c10::StorageImpl> s) : storage(std::move(s)) {}
    c10::weak_intrusive_ptr<c10::StorageImpl> storage;
    std::string name;  // "dict 0, key a (tensor a.1)"
    bool pinned = false;
    bool shared = false;
    int64_t locked_bytes = 0;
    std::set<std::string> holders;
  };
  std::string check() const;
  void release_holder(const std::string& holder);

  Value source_;
  HostMemory& host_;
  HostMemoryStats baseline_;
  int64_t baseline_vmlck_;
  std::map<int64_t, Value> dicts_;
  std::set<int64_t> live_dicts_;
  std::map<int64_t, at::Tensor> views_;
  int64_t views_made_ = 0;
  std::vector<Block> blocks_;
  int64_t registrations_expected_ = 0;
};

// The steps of a case as one line each ("create dict 0 pin share").
std::string step_str(const LifetimeStep& step);

}  // namespace shardsim::properties
