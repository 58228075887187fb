// Law 6 as a stateful rapidcheck test: random sequences of creating CPU
// state dicts (all four pin/share combinations), taking views, copying into
// them, deleting keys and dropping dicts and views. After every command the
// LifetimeRun compares the HostMemory counters and every storage's weak
// reference with the model (lifetime.h); at the end every registration must
// be released exactly once and the counters back at their baseline. A
// failing sequence is written as a pinned_lifetime case file.
#include <iterator>
#include <memory>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include "shardsim/properties/case_json.h"
#include "shardsim/properties/case_values.h"
#include "shardsim/properties/generators.h"
#include "shardsim/properties/lifetime.h"

namespace shardsim::properties {
namespace {

struct Model {
  std::map<int64_t, std::set<std::string>> dicts;  // live dict -> its live top-level keys
  std::set<int64_t> views;                         // live views, numbered as LifetimeRun does
  int64_t next_dict = 0;
  int64_t next_view = 0;
  std::vector<std::string> keys;
  std::vector<std::string> tensor_paths;
};

struct Sut {
  CaseFile c;  // the tree and the steps so far: the case file of a failure
  std::shared_ptr<HostMemory> host;
  std::unique_ptr<LifetimeRun> run;

  void step(const LifetimeStep& s) {
    c.steps.push_back(s);
    const std::string problem = run->apply(s);
    if (!problem.empty())
      fail("steps." + std::to_string(c.steps.size() - 1) + " (" + step_str(s) + "): " + problem);
  }
  void fail(const std::string& problem) const {
    const std::string path =
        write_case_to_dir(c, default_case_dir(), "pinned_lifetime-LifetimeStateMachine");
    RC_FAIL(problem + "\ncase file: " + path + "\nreplay: " + replay_command_line(path));
  }
};

using Command = rc::state::Command<Model, Sut>;

std::string top_key(const std::string& path) { return path.substr(0, path.find('.')); }

template <typename T>
T nth(const std::set<T>& xs, size_t i) {
  return *std::next(xs.begin(), static_cast<std::ptrdiff_t>(i));
}

struct Create : Command {
  int64_t dict;
  bool pin = *rc::gen::arbitrary<bool>();
  bool share = *rc::gen::arbitrary<bool>();
  explicit Create(const Model& m) : dict(m.next_dict) {}
  void checkPreconditions(const Model& m) const override { RC_PRE(m.dicts.count(dict) == 0); }
  void apply(Model& m) const override {
    m.dicts[dict] = std::set<std::string>(m.keys.begin(), m.keys.end());
    m.next_dict = std::max(m.next_dict, dict + 1);
  }
  void run(const Model&, Sut& sut) const override {
    LifetimeStep s;
    s.op = LifetimeStep::Op::kCreate;
    s.dict = dict;
    s.pin = pin;
    s.share = share;
    sut.step(s);
  }
  void show(std::ostream& os) const override {
    os << "create dict " << dict << " pin=" << pin << " share=" << share;
  }
};

struct View : Command {
  int64_t dict = -1;
  std::string path;
  explicit View(const Model& m) {
    std::vector<std::pair<int64_t, std::string>> options;
    for (const auto& d : m.dicts) {
      for (const std::string& p : m.tensor_paths) {
        if (d.second.count(top_key(p))) options.emplace_back(d.first, p);
      }
    }
    RC_PRE(!options.empty());
    std::tie(dict, path) = *rc::gen::elementOf(options);
  }
  void checkPreconditions(const Model& m) const override {
    RC_PRE(m.dicts.count(dict) != 0 && m.dicts.at(dict).count(top_key(path)) != 0);
  }
  void apply(Model& m) const override { m.views.insert(m.next_view++); }
  void run(const Model&, Sut& sut) const override {
    LifetimeStep s;
    s.op = LifetimeStep::Op::kView;
    s.dict = dict;
    s.path = path;
    sut.step(s);
  }
  void show(std::ostream& os) const override { os << "view dict " << dict << " " << path; }
};

struct Copy : Command {
  int64_t dict = -1;
  explicit Copy(const Model& m) {
    std::vector<int64_t> whole;
    for (const auto& d : m.dicts) {
      if (d.second.size() == m.keys.size()) whole.push_back(d.first);
    }
    RC_PRE(!whole.empty());
    dict = *rc::gen::elementOf(whole);
  }
  void checkPreconditions(const Model& m) const override {
    RC_PRE(m.dicts.count(dict) != 0 && m.dicts.at(dict).size() == m.keys.size());
  }
  void run(const Model&, Sut& sut) const override {
    LifetimeStep s;
    s.op = LifetimeStep::Op::kCopy;
    s.dict = dict;
    sut.step(s);
  }
  void show(std::ostream& os) const override { os << "copy into dict " << dict; }
};

struct Delete : Command {
  int64_t dict = -1;
  std::string key;
  explicit Delete(const Model& m) {
    std::vector<std::pair<int64_t, std::string>> options;
    for (const auto& d : m.dicts) {
      for (const std::string& k : d.second) options.emplace_back(d.first, k);
    }
    RC_PRE(!options.empty());
    std::tie(dict, key) = *rc::gen::elementOf(options);
  }
  void checkPreconditions(const Model& m) const override {
    RC_PRE(m.dicts.count(dict) != 0 && m.dicts.at(dict).count(key) != 0);
  }
  void apply(Model& m) const override { m.dicts[dict].erase(key); }
  void run(const Model&, Sut& sut) const override {
    LifetimeStep s;
    s.op = LifetimeStep::Op::kDelete;
    s.dict = dict;
    s.path = key;
    sut.step(s);
  }
  void show(std::ostream& os) const override { os << "delete " << key << " from dict " << dict; }
};

struct Drop : Command {
  int64_t dict = -1;
  explicit Drop(const Model& m) {
    RC_PRE(!m.dicts.empty());
    std::vector<int64_t> live;
    for (const auto& d : m.dicts) live.push_back(d.first);
    dict = *rc::gen::elementOf(live);
  }
  void checkPreconditions(const Model& m) const override { RC_PRE(m.dicts.count(dict) != 0); }
  void apply(Model& m) const override { m.dicts.erase(dict); }
  void run(const Model&, Sut& sut) const override {
    LifetimeStep s;
    s.op = LifetimeStep::Op::kDrop;
    s.dict = dict;
    sut.step(s);
  }
  void show(std::ostream& os) const override { os << "drop dict " << dict; }
};

// Drops the k-th live view (by position, so that shrinking away earlier
// views keeps the command meaningful).
struct DropView : Command {
  size_t k = 0;
  explicit DropView(const Model& m) {
    RC_PRE(!m.views.empty());
    k = static_cast<size_t>(*rc::gen::inRange<size_t>(0, m.views.size()));
  }
  void checkPreconditions(const Model& m) const override { RC_PRE(k < m.views.size()); }
  void apply(Model& m) const override { m.views.erase(nth(m.views, k)); }
  void run(const Model& m, Sut& sut) const override {
    LifetimeStep s;
    s.op = LifetimeStep::Op::kDropView;
    s.view = nth(m.views, k);
    sut.step(s);
  }
  void show(std::ostream& os) const override { os << "drop live view #" << k; }
};

RC_GTEST_PROP(Laws, PinnedLifetimeStateMachine, ()) {
  TreeSpec spec;
  spec.mesh = {1};
  GenLimits limits;
  limits.max_world = 1;
  Sut sut;
  sut.c.law = "pinned_lifetime";
  sut.c.operation.name = "lifetime";
  sut.c.world = 1;
  sut.c.mesh = {1};
  sut.c.note = "found by the stateful test Laws.PinnedLifetimeStateMachine";
  sut.c.state_dict = *gen_state_dict(spec, limits);
  sut.c.data_seed = *rc::gen::inRange<uint64_t>(0, 1000);
  sut.c.schedule_seed = 1;

  Model m;
  m.keys = sut.c.state_dict.keys;
  for_each_node(sut.c.state_dict, [&](const std::string& path, const CaseNode& n) {
    if (n.is_tensor_node()) m.tensor_paths.push_back(path);
  });

  FullValueCache values(sut.c.data_seed);
  RankBuild build;
  build.c = &sut.c;
  build.values = &values;
  sut.host = make_host_memory();
  sut.run = std::make_unique<LifetimeRun>(build_rank_value(sut.c.state_dict, build), *sut.host);
  rc::state::check(m, sut,
                   rc::state::gen::execOneOfWithArgs<Create, View, Copy, Delete, Drop, DropView>());
  const std::string problem = sut.run->finish();
  if (!problem.empty()) sut.fail(problem);
}

}  // namespace
}  // namespace shardsim::properties
