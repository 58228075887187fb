// Generator of pinned-memory lifetime steps that are valid at every point.
#include <map>
#include <set>

#include <rapidcheck.h>

#include "shardsim/properties/generators.h"

namespace shardsim::properties {

namespace {
rc::Gen<int64_t> between(int64_t lo, int64_t hi) { return rc::gen::inRange<int64_t>(lo, hi + 1); }

template <typename T>
T pick(const std::vector<T>& xs) {
  return xs[static_cast<size_t>(*between(0, static_cast<int64_t>(xs.size()) - 1))];
}
}  // namespace

rc::Gen<std::vector<LifetimeStep>> gen_lifetime_steps(const CaseNode& tree,
                                                      const GenLimits& limits) {
  std::vector<std::string> tensor_paths;
  for_each_node(tree, [&](const std::string& path, const CaseNode& n) {
    if (n.is_tensor_node()) tensor_paths.push_back(path);
  });
  return rc::gen::exec([tree, tensor_paths, limits] {
    std::vector<LifetimeStep> steps;
    std::map<int64_t, std::set<std::string>> dicts;  // live dict -> its live top-level keys
    std::set<int64_t> views;
    int64_t next_dict = 0, next_view = 0;
    const int64_t count = *between(1, limits.max_steps);
    for (int64_t i = 0; i < count; ++i) {
      // The ops possible now; create first so that shrinking keeps steps valid.
      std::vector<LifetimeStep::Op> ops = {LifetimeStep::Op::kCreate};
      std::vector<int64_t> live, whole, with_views;
      for (const auto& d : dicts) {
        live.push_back(d.first);
        if (d.second.size() == tree.keys.size()) whole.push_back(d.first);
        for (const std::string& p : tensor_paths) {
          if (d.second.count(p.substr(0, p.find('.')))) {
            with_views.push_back(d.first);
            break;
          }
        }
      }
      if (!with_views.empty()) ops.push_back(LifetimeStep::Op::kView);
      if (!whole.empty()) ops.push_back(LifetimeStep::Op::kCopy);
      bool deletable = false;
      for (const auto& d : dicts) deletable = deletable || !d.second.empty();
      if (deletable) ops.push_back(LifetimeStep::Op::kDelete);
      if (!live.empty()) ops.push_back(LifetimeStep::Op::kDrop);
      if (!views.empty()) ops.push_back(LifetimeStep::Op::kDropView);

      LifetimeStep s;
      s.op = pick(ops);
      switch (s.op) {
        case LifetimeStep::Op::kCreate:
          s.dict = next_dict++;
          s.pin = *between(0, 1) == 1;
          s.share = *between(0, 1) == 1;
          dicts[s.dict] = std::set<std::string>(tree.keys.begin(), tree.keys.end());
          break;
        case LifetimeStep::Op::kView: {
          s.dict = pick(with_views);
          std::vector<std::string> paths;
          for (const std::string& p : tensor_paths) {
            if (dicts[s.dict].count(p.substr(0, p.find('.')))) paths.push_back(p);
          }
          s.path = pick(paths);
          views.insert(next_view++);
          break;
        }
        case LifetimeStep::Op::kCopy:
          s.dict = pick(whole);
          break;
        case LifetimeStep::Op::kDelete: {
          std::vector<int64_t> candidates;
          for (const auto& d : dicts) {
            if (!d.second.empty()) candidates.push_back(d.first);
          }
          s.dict = pick(candidates);
          s.path = pick(std::vector<std::string>(dicts[s.dict].begin(), dicts[s.dict].end()));
          dicts[s.dict].erase(s.path);
          break;
        }
        case LifetimeStep::Op::kDrop:
          s.dict = pick(live);
          dicts.erase(s.dict);
          break;
        case LifetimeStep::Op::kDropView:
          s.view = pick(std::vector<int64_t>(views.begin(), views.end()));
          views.erase(s.view);
          break;
      }
      steps.push_back(s);
    }
    return steps;
  });
}

}  // namespace shardsim::properties
