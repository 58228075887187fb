#include "shardsim/properties/case_file.h"

#include <algorithm>
#include <map>
#include <set>

#include "shardsim/core/checked.h"
#include "shardsim/core/dtype.h"
#include "shardsim/core/error.h"
#include "shardsim/core/sharded_tensor.h"
#include "shardsim/core/value.h"

namespace shardsim::properties {

bool operator==(const CaseNode& a, const CaseNode& b) {
  return a.kind == b.kind && a.flag == b.flag && a.integer == b.integer &&
         (a.real == b.real || (a.real != a.real && b.real != b.real)) && a.text == b.text &&
         a.position == b.position && a.dtype == b.dtype && a.shape == b.shape &&
         a.stream == b.stream && a.per_rank == b.per_rank && a.strided == b.strided &&
         a.placements == b.placements && a.shards == b.shards && a.items == b.items &&
         a.keys == b.keys;
}

bool operator==(const CaseOperation& a, const CaseOperation& b) {
  return a.name == b.name && a.cpu_offload == b.cpu_offload && a.ranks_only == b.ranks_only &&
         a.strict == b.strict && a.pin_memory == b.pin_memory && a.share_memory == b.share_memory &&
         a.non_blocking == b.non_blocking && a.meta_local == b.meta_local;
}

bool operator==(const LifetimeStep& a, const LifetimeStep& b) {
  return a.op == b.op && a.dict == b.dict && a.path == b.path && a.view == b.view &&
         a.pin == b.pin && a.share == b.share;
}

bool operator==(const CaseFile& a, const CaseFile& b) {
  return a.format == b.format && a.law == b.law && a.world == b.world && a.mesh == b.mesh &&
         a.data_seed == b.data_seed && a.schedule_seed == b.schedule_seed &&
         a.schedule_seeds == b.schedule_seeds && a.operation == b.operation &&
         a.state_dict == b.state_dict && a.steps == b.steps && a.faults == b.faults &&
         a.expect == b.expect && a.note == b.note;
}

const char* node_kind_name(CaseNode::Kind kind) {
  switch (kind) {
    case CaseNode::Kind::kNone:
      return "none";
    case CaseNode::Kind::kBool:
      return "bool";
    case CaseNode::Kind::kInt:
      return "int";
    case CaseNode::Kind::kFloat:
      return "float";
    case CaseNode::Kind::kStr:
      return "str";
    case CaseNode::Kind::kBytes:
      return "bytes";
    case CaseNode::Kind::kStream:
      return "stream";
    case CaseNode::Kind::kTensor:
      return "tensor";
    case CaseNode::Kind::kDTensor:
      return "dtensor";
    case CaseNode::Kind::kSharded:
      return "sharded";
    case CaseNode::Kind::kList:
      return "list";
    case CaseNode::Kind::kTuple:
      return "tuple";
    case CaseNode::Kind::kDict:
      return "dict";
  }
  return "?";
}

const char* lifetime_op_name(LifetimeStep::Op op) {
  switch (op) {
    case LifetimeStep::Op::kCreate:
      return "create";
    case LifetimeStep::Op::kView:
      return "view";
    case LifetimeStep::Op::kCopy:
      return "copy";
    case LifetimeStep::Op::kDelete:
      return "delete";
    case LifetimeStep::Op::kDrop:
      return "drop";
    case LifetimeStep::Op::kDropView:
      return "drop_view";
  }
  return "?";
}

const std::vector<std::string>& law_names() {
  static const std::vector<std::string> names = {
      "layout_tiles",       "distribute_full_tensor", "gather_state_dict",     "cpu_state_dict",
      "slices_and_flatten", "pinned_lifetime",        "schedule_independence",
  };
  return names;
}

const std::vector<std::string>& operation_names() {
  static const std::vector<std::string> names = {
      "layout",
      "distribute_tensor",
      "gather_state_dict",
      "create_cpu_state_dict",
      "distribute_tensors",
      "broadcast_state_dict",
      "distribute_state_dict",
      "flatten",
      "lifetime",
  };
  return names;
}

std::vector<std::string> operations_of_law(const std::string& law) {
  if (law == "layout_tiles") return {"layout"};
  if (law == "distribute_full_tensor") return {"distribute_tensor"};
  if (law == "gather_state_dict") return {"gather_state_dict"};
  if (law == "cpu_state_dict") return {"create_cpu_state_dict"};
  if (law == "slices_and_flatten") {
    return {"distribute_tensors", "broadcast_state_dict", "distribute_state_dict", "flatten"};
  }
  if (law == "pinned_lifetime") return {"lifetime"};
  if (law == "schedule_independence") {
    return {"distribute_tensor", "gather_state_dict", "distribute_tensors", "broadcast_state_dict",
            "distribute_state_dict"};
  }
  return {};
}

void for_each_node(const CaseNode& root,
                   const std::function<void(const std::string&, const CaseNode&)>& visit) {
  std::function<void(const std::string&, const CaseNode&)> walk = [&](const std::string& path,
                                                                      const CaseNode& n) {
    visit(path, n);
    for (size_t i = 0; i < n.items.size(); ++i) {
      const std::string key =
          n.kind == CaseNode::Kind::kDict && i < n.keys.size() ? n.keys[i] : std::to_string(i);
      walk(join_path(path, key), n.items[i]);
    }
  };
  walk("", root);
}

int64_t total_numel(const CaseNode& root) {
  int64_t total = 0;
  for_each_node(root, [&](const std::string&, const CaseNode& n) {
    if (n.is_tensor_node()) total = checked_add(total, numel_of(n.shape), "total element count");
  });
  return total;
}

namespace {

// Throws InvalidArgument "<source>: <field>: <message>".
class Validator {
 public:
  Validator(const CaseFile& c, const std::string& source) : c_(c), source_(source) {}

  void run() {
    check(c_.format == kCaseFormat, "format",
          "format " + std::to_string(c_.format) + " is not supported (this build reads format " +
              std::to_string(kCaseFormat) + ")");
    const auto& laws = law_names();
    check(std::find(laws.begin(), laws.end(), c_.law) != laws.end(), "law",
          "unknown law '" + c_.law + "' (expected one of " + joined(laws) + ")");
    const auto ops = operations_of_law(c_.law);
    check(std::find(ops.begin(), ops.end(), c_.operation.name) != ops.end(), "operation.name",
          "operation '" + c_.operation.name + "' does not belong to law " + c_.law +
              " (expected one of " + joined(ops) + ")");
    check(c_.world >= 1 && c_.world <= kMaxCaseWorld, "world",
          "world " + std::to_string(c_.world) + " is outside 1.." + std::to_string(kMaxCaseWorld));
    check(!c_.mesh.empty() && c_.mesh.size() <= 8, "mesh",
          "a mesh has 1 to 8 dimensions, got " + std::to_string(c_.mesh.size()));
    int64_t ranks = 1;
    for (int64_t m : c_.mesh) {
      check(m >= 1 && m <= kMaxCaseWorld, "mesh",
            "mesh sizes must be 1.." + std::to_string(kMaxCaseWorld) + ", got " +
                mesh_shape_str(c_.mesh));
      ranks *= m;
      check(ranks <= kMaxCaseWorld, "mesh", "mesh " + mesh_shape_str(c_.mesh) + " is too large");
    }
    check(ranks == c_.world, "mesh",
          "mesh " + mesh_shape_str(c_.mesh) + " holds " + std::to_string(ranks) +
              " ranks but the world has " + std::to_string(c_.world));
    if (c_.law == "schedule_independence") {
      check(!c_.schedule_seeds.empty() && c_.schedule_seeds.size() <= 64, "schedule_seeds",
            "schedule_independence needs 1 to 64 schedule seeds");
    } else {
      check(c_.schedule_seeds.empty(), "schedule_seeds",
            "only law schedule_independence takes schedule seeds");
    }
    for (size_t i = 0; i < c_.operation.ranks_only.size(); ++i) {
      const int64_t r = c_.operation.ranks_only[i];
      check(r >= 0 && r < c_.world, "operation.ranks_only",
            "rank " + std::to_string(r) + " is outside the world of " + std::to_string(c_.world));
      for (size_t j = 0; j < i; ++j) {
        check(c_.operation.ranks_only[j] != r, "operation.ranks_only",
              "rank " + std::to_string(r) + " is listed twice");
      }
    }
    for (size_t i = 0; i < c_.faults.size(); ++i) {
      check(!c_.faults[i].empty(), "faults." + std::to_string(i), "a fault spec is empty");
    }
    check(c_.state_dict.kind == CaseNode::Kind::kDict, "state_dict",
          std::string("the state dict must be a dict, got ") + node_kind_name(c_.state_dict.kind));
    int64_t total = 0;
    node(c_.state_dict, "state_dict", 0, &total);
    check(total <= 4 * kMaxCaseNumel, "state_dict",
          "the tensors hold " + std::to_string(total) + " elements together (at most " +
              std::to_string(4 * kMaxCaseNumel) + ")");
    top_level();
    steps();
  }

 private:
  void check(bool ok, const std::string& field, const std::string& message) const {
    if (!ok) throw InvalidArgument(source_ + ": " + field + ": " + message);
  }

  static std::string joined(const std::vector<std::string>& words) {
    std::string out;
    for (const std::string& w : words) out += (out.empty() ? "" : ", ") + w;
    return out;
  }

  void node(const CaseNode& n, const std::string& field, int64_t depth, int64_t* total) const {
    check(depth <= kMaxCaseDepth, field, "nested deeper than " + std::to_string(kMaxCaseDepth));
    if (n.is_tensor_node()) {
      tensor(n, field);
      *total = checked_add(*total, numel_of(n.shape), field + ": total element count");
      return;
    }
    check(!n.per_rank, field + ".per_rank", "only plain tensors take per_rank");
    check(!n.strided, field + ".strided", "only tensors take strided");
    if (n.kind == CaseNode::Kind::kStream) {
      check(n.position >= 0 && n.position <= static_cast<int64_t>(n.text.size()),
            field + ".position",
            "position " + std::to_string(n.position) + " is outside the stream's " +
                std::to_string(n.text.size()) + " bytes");
    }
    if (!n.is_container()) return;
    if (n.kind == CaseNode::Kind::kDict) {
      check(n.keys.size() == n.items.size(), field, "a dict needs one key per item");
      std::set<std::string> seen;
      for (const std::string& k : n.keys) {
        check(!k.empty(), field, "a key is empty");
        check(seen.insert(k).second, field, "key '" + k + "' appears twice");
      }
    } else {
      check(n.keys.empty(), field, "only dicts have keys");
    }
    for (size_t i = 0; i < n.items.size(); ++i) {
      const std::string key = n.kind == CaseNode::Kind::kDict ? n.keys[i] : std::to_string(i);
      node(n.items[i], field + "." + key, depth + 1, total);
    }
  }

  void tensor(const CaseNode& n, const std::string& field) const {
    const auto& dtypes = supported_dtypes();
    check(std::find(dtypes.begin(), dtypes.end(), n.dtype) != dtypes.end(), field + ".dtype",
          "unsupported dtype");
    check(static_cast<int64_t>(n.shape.size()) <= kMaxCaseTensorDims, field + ".shape",
          "more than " + std::to_string(kMaxCaseTensorDims) + " dimensions");
    // The extent counts a size of 0 as 1: it bounds the element count and the
    // strides alike, and stays at most kMaxCaseNumel * kMaxCaseDim (2^48).
    int64_t extent = 1;
    for (int64_t s : n.shape) {
      check(s >= 0 && s <= kMaxCaseDim, field + ".shape",
            "size " + std::to_string(s) + " in " + shape_str(n.shape) + " is outside 0.." +
                std::to_string(kMaxCaseDim));
      extent *= std::max<int64_t>(s, 1);
      check(extent <= kMaxCaseNumel, field + ".shape",
            shape_str(n.shape) + " holds more than " + std::to_string(kMaxCaseNumel) +
                " elements (sizes of 0 counted as 1)");
    }
    if (n.kind != CaseNode::Kind::kTensor) {
      check(!n.per_rank, field + ".per_rank", "only plain tensors take per_rank");
    }
    if (n.kind == CaseNode::Kind::kDTensor) {
      check(n.placements.size() == c_.mesh.size(), field + ".placements",
            std::to_string(n.placements.size()) + " placements for the " +
                std::to_string(c_.mesh.size()) + "-dim mesh " + mesh_shape_str(c_.mesh));
      for (const Placement& p : n.placements) {
        if (!p.is_shard()) continue;
        check(p.dim() >= 0 && p.dim() < static_cast<int64_t>(n.shape.size()), field + ".placements",
              p.str() + " is out of range for the " + std::to_string(n.shape.size()) +
                  "-dim shape " + shape_str(n.shape));
      }
    } else {
      check(n.placements.empty(), field + ".placements", "only DTensors take placements");
    }
    if (n.kind == CaseNode::Kind::kSharded) {
      check(n.shards.size() <= 4096, field + ".shards", "more than 4096 shards");
      std::vector<ShardMetadata> all;
      for (size_t i = 0; i < n.shards.size(); ++i) {
        const ShardDesc& s = n.shards[i];
        check(s.rank >= 0 && s.rank < c_.world, field + ".shards." + std::to_string(i) + ".rank",
              "rank " + std::to_string(s.rank) + " is outside the world of " +
                  std::to_string(c_.world));
        all.push_back(ShardMetadata{s.offsets, s.sizes, "rank:" + std::to_string(s.rank) + "/cpu"});
      }
      try {
        ShardedTensor::validate_tiling(n.shape, all);
      } catch (const InvalidArgument& e) {
        check(false, field + ".shards", e.what());
      }
    } else {
      check(n.shards.empty(), field + ".shards", "only ShardedTensors take shards");
    }
  }

  // The distribute and broadcast operations take a flat dict of tensors,
  // DTensors and scalars: their full state dicts hold plain tensors.
  void top_level() const {
    const std::string& op = c_.operation.name;
    const bool flat =
        op == "distribute_tensors" || op == "broadcast_state_dict" || op == "distribute_state_dict";
    const CaseNode& sd = c_.state_dict;
    for (size_t i = 0; i < sd.items.size(); ++i) {
      const CaseNode& n = sd.items[i];
      const std::string field = "state_dict." + sd.keys[i];
      if (flat) {
        check(!n.is_container() && n.kind != CaseNode::Kind::kSharded, field,
              op + " takes a flat dict of tensors, DTensors and scalars, not a " +
                  node_kind_name(n.kind));
      }
    }
    if (op == "flatten") {
      for_each_node(sd, [&](const std::string& path, const CaseNode& n) {
        for (const std::string& k : n.keys) {
          check(k.find('.') == std::string::npos, "state_dict." + join_path(path, k),
                "flatten joins keys with '.': a key must not contain one");
        }
      });
    }
  }

  // Replays the steps on the structure alone: every step names a dict, path
  // or view that exists at that point.
  void steps() const {
    if (c_.law != "pinned_lifetime") {
      check(c_.steps.empty(), "steps", "only law pinned_lifetime takes steps");
      return;
    }
    check(c_.steps.size() <= 100000, "steps", "more than 100000 steps");
    std::set<std::string> tensor_paths;
    for_each_node(c_.state_dict, [&](const std::string& path, const CaseNode& n) {
      if (n.is_tensor_node()) tensor_paths.insert(path);
    });
    std::map<int64_t, std::set<std::string>> live;  // dict -> its top-level keys
    int64_t views = 0;
    std::set<int64_t> live_views;
    for (size_t i = 0; i < c_.steps.size(); ++i) {
      const LifetimeStep& s = c_.steps[i];
      const std::string field = "steps." + std::to_string(i);
      check(s.dict >= 0 && s.dict < 1000000, field + ".dict", "dict number out of range");
      const bool exists = live.count(s.dict) != 0;
      switch (s.op) {
        case LifetimeStep::Op::kCreate:
          check(!exists, field + ".dict", "dict " + std::to_string(s.dict) + " already exists");
          live[s.dict] =
              std::set<std::string>(c_.state_dict.keys.begin(), c_.state_dict.keys.end());
          break;
        case LifetimeStep::Op::kView: {
          check(exists, field + ".dict", "dict " + std::to_string(s.dict) + " does not exist");
          check(tensor_paths.count(s.path) != 0, field + ".path",
                "'" + s.path + "' is not a tensor of the state dict");
          const std::string top = s.path.substr(0, s.path.find('.'));
          check(live[s.dict].count(top) != 0, field + ".path",
                "'" + top + "' was deleted from dict " + std::to_string(s.dict));
          live_views.insert(views++);
          break;
        }
        case LifetimeStep::Op::kCopy:
        case LifetimeStep::Op::kDrop:
          check(exists, field + ".dict", "dict " + std::to_string(s.dict) + " does not exist");
          check(s.op != LifetimeStep::Op::kCopy || live[s.dict].size() == c_.state_dict.keys.size(),
                field, "copy into dict " + std::to_string(s.dict) + " after a key was deleted");
          if (s.op == LifetimeStep::Op::kDrop) live.erase(s.dict);
          break;
        case LifetimeStep::Op::kDelete:
          check(exists, field + ".dict", "dict " + std::to_string(s.dict) + " does not exist");
          check(live[s.dict].erase(s.path) == 1, field + ".path",
                "'" + s.path + "' is not a key of dict " + std::to_string(s.dict));
          break;
        case LifetimeStep::Op::kDropView:
          check(live_views.erase(s.view) == 1, field + ".view",
                "view " + std::to_string(s.view) + " does not exist");
          break;
      }
    }
  }

  const CaseFile& c_;
  const std::string& source_;
};

}  // namespace

void validate_case(const CaseFile& c, const std::string& source) { Validator(c, source).run(); }

}  // namespace shardsim::properties
