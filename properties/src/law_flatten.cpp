// Law 5, second half: flatten then unflatten is the identity, and flatten
// gives one dotted key per leaf (empty containers are leaves).
#include <set>

#include "laws.h"
#include "shardsim/core/flatten.h"

namespace shardsim::properties::detail {

namespace {

// The dotted key of every leaf of the description, in traversal order.
void leaf_keys(const CaseNode& n, const std::string& path, std::vector<std::string>& out) {
  if (!n.is_container() || n.items.empty()) {
    out.push_back(path);
    return;
  }
  for (size_t i = 0; i < n.items.size(); ++i) {
    const std::string key = n.kind == CaseNode::Kind::kDict ? n.keys[i] : std::to_string(i);
    leaf_keys(n.items[i], join_path(path, key), out);
  }
}

}  // namespace

void law_flatten(LawContext& law) {
  auto& ctx = law.ctx;
  const Value sd = build_rank_value(law.c.state_dict, law.build());
  const FlatStateDict flat = flatten_state_dict(sd.mapping());

  std::vector<std::string> want;
  for (size_t i = 0; i < law.c.state_dict.items.size(); ++i) {
    leaf_keys(law.c.state_dict.items[i], law.c.state_dict.keys[i], want);
  }
  const auto list = [](const std::vector<std::string>& keys) {
    std::string out;
    for (const std::string& k : keys) out += (out.empty() ? "" : ", ") + k;
    return "[" + out + "]";
  };
  ctx.check(flat.keys == want,
            law.at("") + ": flattened keys " + list(flat.keys) + ", expected " + list(want));
  ctx.check(flat.values.keys() == want && flat.paths.size() == want.size(),
            law.at("") + ": the flat values and paths do not follow the keys");
  for (size_t i = 0; i < want.size(); ++i) {
    const Value* leaf = value_at(sd, want[i]);
    ctx.check(leaf != nullptr, law.at(want[i]) + ": no such leaf in the source");
    ctx.check_equal(flat.values.at(want[i]), *leaf, law.at(want[i]) + " (flattened)");
    ctx.check(path_str(flat.paths[i]) == want[i],
              law.at(want[i]) + ": path " + path_str(flat.paths[i]));
  }
  const Mapping back = unflatten_state_dict(flat);
  ctx.check_equal(back, sd, law.at("") + " unflatten(flatten(sd))");
  ctx.record("flat", flat.values);
}

}  // namespace shardsim::properties::detail
