// Case files as JSON: a strict reader that names the file and field of every
// problem, and a writer that keeps short values on one line.
#include "shardsim/properties/case_json.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "shardsim/core/digest.h"
#include "shardsim/core/dtype.h"
#include "shardsim/core/error.h"
#include "shardsim/core/text.h"

#ifndef SHARDSIM_DEFAULT_CASE_DIR
#define SHARDSIM_DEFAULT_CASE_DIR "cases/failures"
#endif

namespace shardsim::properties {

namespace {

using Json = nlohmann::ordered_json;

// The options each operation takes.
std::vector<std::string> options_of(const std::string& op) {
  if (op == "gather_state_dict") return {"cpu_offload", "ranks_only"};
  if (op == "create_cpu_state_dict") return {"pin_memory", "share_memory", "non_blocking"};
  if (op == "distribute_tensors") return {"meta_local"};
  if (op == "broadcast_state_dict") return {"strict", "cpu_offload"};
  return {};
}

// --- reading ------------------------------------------------------------------

// One JSON object being read: hands out its fields by name, with their
// dotted path for messages, and rejects the fields nobody asked for.
class Reader {
 public:
  Reader(const Json& j, std::string field, const std::string& source)
      : j_(j), field_(std::move(field)), source_(source) {
    if (!j_.is_object()) fail(field_, "expected an object, got " + type_of(j_));
  }

  [[noreturn]] void fail(const std::string& field, const std::string& message) const {
    throw InvalidArgument(source_ + ": " + (field.empty() ? "<top>" : field) + ": " + message);
  }

  std::string sub(const std::string& key) const {
    return field_.empty() ? key : field_ + "." + key;
  }
  bool has(const std::string& key) const { return j_.contains(key); }

  const Json& get(const std::string& key) {
    used_.insert(key);
    auto it = j_.find(key);
    if (it == j_.end()) fail(sub(key), "missing field");
    return *it;
  }

  int64_t integer(const std::string& key, int64_t lo, int64_t hi) {
    return to_integer(get(key), sub(key), lo, hi);
  }
  int64_t integer_or(const std::string& key, int64_t lo, int64_t hi, int64_t fallback) {
    return has(key) ? integer(key, lo, hi) : (used_.insert(key), fallback);
  }
  uint64_t seed(const std::string& key) { return to_seed(get(key), sub(key)); }
  bool flag_or(const std::string& key, bool fallback) {
    if (!has(key)) return fallback;
    const Json& v = get(key);
    if (!v.is_boolean()) fail(sub(key), "expected true or false, got " + type_of(v));
    return v.get<bool>();
  }
  std::string text(const std::string& key) {
    const Json& v = get(key);
    if (!v.is_string()) fail(sub(key), "expected a string, got " + type_of(v));
    return v.get<std::string>();
  }
  std::string text_or(const std::string& key, const std::string& fallback) {
    return has(key) ? text(key) : fallback;
  }
  Shape ints(const std::string& key, int64_t lo, int64_t hi) {
    const Json& v = get(key);
    if (!v.is_array()) fail(sub(key), "expected a list of integers, got " + type_of(v));
    if (v.size() > 4096) fail(sub(key), "more than 4096 entries");
    Shape out;
    for (size_t i = 0; i < v.size(); ++i) {
      out.push_back(to_integer(v[i], sub(key) + "." + std::to_string(i), lo, hi));
    }
    return out;
  }
  const Json& array(const std::string& key) {
    const Json& v = get(key);
    if (!v.is_array()) fail(sub(key), "expected a list, got " + type_of(v));
    return v;
  }

  // Throws for every field that was not read.
  void finish() const {
    for (auto it = j_.begin(); it != j_.end(); ++it) {
      if (!used_.count(it.key())) fail(sub(it.key()), "unknown field");
    }
  }

  int64_t to_integer(const Json& v, const std::string& field, int64_t lo, int64_t hi) const {
    int64_t x = 0;
    if (v.is_number_unsigned()) {
      const uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        fail(field, "integer " + std::to_string(u) + " is too large");
      }
      x = static_cast<int64_t>(u);
    } else if (v.is_number_integer()) {
      x = v.get<int64_t>();
    } else {
      fail(field, "expected an integer, got " + type_of(v));
    }
    if (x < lo || x > hi) {
      fail(field,
           std::to_string(x) + " is outside " + std::to_string(lo) + ".." + std::to_string(hi));
    }
    return x;
  }

  uint64_t to_seed(const Json& v, const std::string& field) const {
    if (v.is_number_unsigned()) return v.get<uint64_t>();
    if (v.is_number_integer()) {
      if (v.get<int64_t>() < 0) fail(field, "a seed is not negative");
      return static_cast<uint64_t>(v.get<int64_t>());
    }
    fail(field, "expected a non-negative integer seed, got " + type_of(v));
  }

  static std::string type_of(const Json& v) {
    if (v.is_number_float()) return "a real number";
    if (v.is_number()) return "an integer";
    return std::string("a ") + v.type_name();
  }

  const std::string& field() const { return field_; }
  const std::string& source() const { return source_; }

 private:
  const Json& j_;
  std::string field_;
  const std::string& source_;
  std::set<std::string> used_;
};

std::string from_hex(Reader& r, const std::string& key) {
  const std::string hex = r.text(key);
  auto nibble = [&](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    r.fail(r.sub(key), std::string("'") + c + "' is not a hex digit");
  };
  if (hex.size() % 2 != 0) r.fail(r.sub(key), "odd number of hex digits");
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    out += static_cast<char>(nibble(hex[i]) * 16 + nibble(hex[i + 1]));
  }
  return out;
}

CaseNode::Kind parse_kind(Reader& r) {
  const std::string word = r.text("kind");
  for (int k = 0; k <= static_cast<int>(CaseNode::Kind::kDict); ++k) {
    const auto kind = static_cast<CaseNode::Kind>(k);
    if (word == node_kind_name(kind)) return kind;
  }
  r.fail(r.sub("kind"), "unknown kind '" + word +
                            "' (expected none, bool, int, float, str, bytes, stream, tensor, "
                            "dtensor, sharded, list, tuple or dict)");
}

CaseNode parse_node(const Json& j, const std::string& field, const std::string& source, int depth) {
  Reader r(j, field, source);
  if (depth > kMaxCaseDepth) r.fail(field, "nested deeper than " + std::to_string(kMaxCaseDepth));
  CaseNode n;
  n.kind = parse_kind(r);
  switch (n.kind) {
    case CaseNode::Kind::kNone:
      break;
    case CaseNode::Kind::kBool: {
      const Json& v = r.get("value");
      if (!v.is_boolean()) r.fail(r.sub("value"), "expected true or false");
      n.flag = v.get<bool>();
      break;
    }
    case CaseNode::Kind::kInt:
      n.integer = r.integer("value", std::numeric_limits<int64_t>::min(),
                            std::numeric_limits<int64_t>::max());
      break;
    case CaseNode::Kind::kFloat: {
      const Json& v = r.get("value");
      if (!v.is_number()) r.fail(r.sub("value"), "expected a number, got " + Reader::type_of(v));
      n.real = v.get<double>();
      break;
    }
    case CaseNode::Kind::kStr:
      n.text = r.text("value");
      break;
    case CaseNode::Kind::kBytes:
      n.text = from_hex(r, "hex");
      break;
    case CaseNode::Kind::kStream:
      n.text = from_hex(r, "hex");
      n.position = r.integer("position", 0, std::numeric_limits<int64_t>::max());
      break;
    case CaseNode::Kind::kTensor:
    case CaseNode::Kind::kDTensor:
    case CaseNode::Kind::kSharded: {
      try {
        n.dtype = parse_dtype(r.text("dtype"));
      } catch (const InvalidArgument& e) {
        r.fail(r.sub("dtype"), e.what());
      }
      n.shape = r.ints("shape", 0, kMaxCaseDim);
      n.stream = r.seed("stream");
      if (n.kind == CaseNode::Kind::kTensor) n.per_rank = r.flag_or("per_rank", false);
      n.strided = r.flag_or("strided", false);
      if (n.kind == CaseNode::Kind::kDTensor) {
        const Json& ps = r.array("placements");
        for (size_t i = 0; i < ps.size(); ++i) {
          const std::string f = r.sub("placements") + "." + std::to_string(i);
          if (!ps[i].is_string()) r.fail(f, "expected a placement word (S<d>, R or P)");
          try {
            n.placements.push_back(Placement::parse(ps[i].get<std::string>()));
          } catch (const InvalidArgument& e) {
            r.fail(f, e.what());
          }
        }
      }
      if (n.kind == CaseNode::Kind::kSharded) {
        const Json& shards = r.array("shards");
        for (size_t i = 0; i < shards.size(); ++i) {
          Reader s(shards[i], r.sub("shards") + "." + std::to_string(i), source);
          ShardDesc d;
          d.offsets = s.ints("offsets", 0, kMaxCaseDim);
          d.sizes = s.ints("sizes", 0, kMaxCaseDim);
          d.rank = s.integer("rank", 0, kMaxCaseWorld - 1);
          s.finish();
          n.shards.push_back(d);
        }
      }
      break;
    }
    case CaseNode::Kind::kList:
    case CaseNode::Kind::kTuple: {
      const Json& items = r.array("items");
      for (size_t i = 0; i < items.size(); ++i) {
        n.items.push_back(parse_node(items[i], field + "." + std::to_string(i), source, depth + 1));
      }
      break;
    }
    case CaseNode::Kind::kDict: {
      const Json& items = r.get("items");
      if (!items.is_object()) r.fail(r.sub("items"), "expected an object of key: node");
      for (auto it = items.begin(); it != items.end(); ++it) {
        n.keys.push_back(it.key());
        n.items.push_back(parse_node(it.value(), field + "." + it.key(), source, depth + 1));
      }
      break;
    }
  }
  r.finish();
  return n;
}

CaseOperation parse_operation(const Json& j, const std::string& source) {
  Reader r(j, "operation", source);
  CaseOperation op;
  op.name = r.text("name");
  const auto& names = operation_names();
  if (std::find(names.begin(), names.end(), op.name) == names.end()) {
    r.fail(r.sub("name"), "unknown operation '" + op.name + "'");
  }
  const std::vector<std::string> allowed = options_of(op.name);
  auto takes = [&](const std::string& o) {
    return std::find(allowed.begin(), allowed.end(), o) != allowed.end();
  };
  if (takes("cpu_offload")) op.cpu_offload = r.flag_or("cpu_offload", false);
  if (takes("ranks_only") && r.has("ranks_only")) {
    op.ranks_only = r.ints("ranks_only", 0, kMaxCaseWorld - 1);
  }
  if (takes("strict")) op.strict = r.flag_or("strict", false);
  if (takes("pin_memory")) op.pin_memory = r.flag_or("pin_memory", false);
  if (takes("share_memory")) op.share_memory = r.flag_or("share_memory", false);
  if (takes("non_blocking")) op.non_blocking = r.flag_or("non_blocking", false);
  if (takes("meta_local")) op.meta_local = r.flag_or("meta_local", false);
  r.finish();
  return op;
}

LifetimeStep parse_step(const Json& j, const std::string& field, const std::string& source) {
  Reader r(j, field, source);
  LifetimeStep s;
  const std::string op = r.text("op");
  bool known = false;
  for (int k = 0; k <= static_cast<int>(LifetimeStep::Op::kDropView); ++k) {
    if (op == lifetime_op_name(static_cast<LifetimeStep::Op>(k))) {
      s.op = static_cast<LifetimeStep::Op>(k);
      known = true;
    }
  }
  if (!known) {
    r.fail(r.sub("op"),
           "unknown step '" + op + "' (expected create, view, copy, delete, drop or drop_view)");
  }
  if (s.op == LifetimeStep::Op::kDropView) {
    s.view = r.integer("view", 0, 100000);
  } else {
    s.dict = r.integer("dict", 0, 999999);
  }
  if (s.op == LifetimeStep::Op::kCreate) {
    s.pin = r.flag_or("pin", false);
    s.share = r.flag_or("share", false);
  }
  if (s.op == LifetimeStep::Op::kView || s.op == LifetimeStep::Op::kDelete) s.path = r.text("path");
  r.finish();
  return s;
}

CaseFile parse_top(const Json& j, const std::string& source) {
  Reader r(j, "", source);
  CaseFile c;
  c.format = r.integer("format", 0, 1000000);
  if (c.format != kCaseFormat) {
    r.fail("format", "format " + std::to_string(c.format) + " is not supported (this build reads " +
                         std::to_string(kCaseFormat) + ")");
  }
  c.law = r.text("law");
  c.note = r.text_or("note", "");
  c.world = r.integer("world", 1, kMaxCaseWorld);
  c.mesh = r.ints("mesh", 1, kMaxCaseWorld);
  c.data_seed = r.seed("data_seed");
  c.schedule_seed = r.has("schedule_seed") ? r.seed("schedule_seed") : c.data_seed;
  if (r.has("schedule_seeds") && c.law != "schedule_independence") {
    r.fail("schedule_seeds", "only law schedule_independence takes schedule seeds");
  }
  if (r.has("steps") && c.law != "pinned_lifetime") {
    r.fail("steps", "only law pinned_lifetime takes steps");
  }
  if (r.has("schedule_seeds")) {
    const Json& seeds = r.array("schedule_seeds");
    for (size_t i = 0; i < seeds.size(); ++i) {
      c.schedule_seeds.push_back(r.to_seed(seeds[i], "schedule_seeds." + std::to_string(i)));
    }
  }
  c.operation = parse_operation(r.get("operation"), source);
  c.state_dict = parse_node(r.get("state_dict"), "state_dict", source, 0);
  if (r.has("steps")) {
    const Json& steps = r.array("steps");
    for (size_t i = 0; i < steps.size(); ++i) {
      c.steps.push_back(parse_step(steps[i], "steps." + std::to_string(i), source));
    }
  }
  if (r.has("faults")) {
    const Json& faults = r.array("faults");
    for (size_t i = 0; i < faults.size(); ++i) {
      if (!faults[i].is_string()) r.fail("faults." + std::to_string(i), "expected a fault string");
      c.faults.push_back(faults[i].get<std::string>());
    }
  }
  if (r.has("expect")) {
    try {
      c.expect = runner::parse_outcome(r.text("expect"));
    } catch (const InvalidArgument& e) {
      r.fail("expect", e.what());
    }
  }
  r.finish();
  return c;
}

// --- writing ------------------------------------------------------------------

std::string to_hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

Json node_json(const CaseNode& n) {
  Json j;
  j["kind"] = node_kind_name(n.kind);
  switch (n.kind) {
    case CaseNode::Kind::kNone:
      break;
    case CaseNode::Kind::kBool:
      j["value"] = n.flag;
      break;
    case CaseNode::Kind::kInt:
      j["value"] = n.integer;
      break;
    case CaseNode::Kind::kFloat:
      j["value"] = n.real;
      break;
    case CaseNode::Kind::kStr:
      j["value"] = n.text;
      break;
    case CaseNode::Kind::kBytes:
      j["hex"] = to_hex(n.text);
      break;
    case CaseNode::Kind::kStream:
      j["hex"] = to_hex(n.text);
      j["position"] = n.position;
      break;
    case CaseNode::Kind::kTensor:
    case CaseNode::Kind::kDTensor:
    case CaseNode::Kind::kSharded: {
      j["dtype"] = dtype_name(n.dtype);
      j["shape"] = n.shape;
      j["stream"] = n.stream;
      if (n.kind == CaseNode::Kind::kTensor && n.per_rank) j["per_rank"] = true;
      if (n.strided) j["strided"] = true;
      if (n.kind == CaseNode::Kind::kDTensor) {
        Json ps = Json::array();
        for (const Placement& p : n.placements) ps.push_back(p.word());
        j["placements"] = ps;
      }
      if (n.kind == CaseNode::Kind::kSharded) {
        Json shards = Json::array();
        for (const ShardDesc& s : n.shards) {
          Json sj;
          sj["offsets"] = s.offsets;
          sj["sizes"] = s.sizes;
          sj["rank"] = s.rank;
          shards.push_back(sj);
        }
        j["shards"] = shards;
      }
      break;
    }
    case CaseNode::Kind::kList:
    case CaseNode::Kind::kTuple: {
      Json items = Json::array();
      for (const CaseNode& c : n.items) items.push_back(node_json(c));
      j["items"] = items;
      break;
    }
    case CaseNode::Kind::kDict: {
      Json items = Json::object();
      for (size_t i = 0; i < n.items.size(); ++i) items[n.keys[i]] = node_json(n.items[i]);
      j["items"] = items;
      break;
    }
  }
  return j;
}

Json case_json(const CaseFile& c) {
  Json j;
  j["format"] = c.format;
  j["law"] = c.law;
  if (!c.note.empty()) j["note"] = c.note;
  j["world"] = c.world;
  j["mesh"] = c.mesh;
  j["data_seed"] = c.data_seed;
  j["schedule_seed"] = c.schedule_seed;
  if (!c.schedule_seeds.empty()) j["schedule_seeds"] = c.schedule_seeds;
  Json op;
  op["name"] = c.operation.name;
  for (const std::string& o : options_of(c.operation.name)) {
    if (o == "cpu_offload") op[o] = c.operation.cpu_offload;
    if (o == "ranks_only") op[o] = c.operation.ranks_only;
    if (o == "strict") op[o] = c.operation.strict;
    if (o == "pin_memory") op[o] = c.operation.pin_memory;
    if (o == "share_memory") op[o] = c.operation.share_memory;
    if (o == "non_blocking") op[o] = c.operation.non_blocking;
    if (o == "meta_local") op[o] = c.operation.meta_local;
  }
  j["operation"] = op;
  j["state_dict"] = node_json(c.state_dict);
  if (!c.steps.empty()) {
    Json steps = Json::array();
    for (const LifetimeStep& s : c.steps) {
      Json sj;
      sj["op"] = lifetime_op_name(s.op);
      if (s.op == LifetimeStep::Op::kDropView) {
        sj["view"] = s.view;
      } else {
        sj["dict"] = s.dict;
      }
      if (s.op == LifetimeStep::Op::kCreate) {
        sj["pin"] = s.pin;
        sj["share"] = s.share;
      }
      if (s.op == LifetimeStep::Op::kView || s.op == LifetimeStep::Op::kDelete) sj["path"] = s.path;
      steps.push_back(sj);
    }
    j["steps"] = steps;
  }
  j["faults"] = c.faults;
  j["expect"] = runner::outcome_name(c.expect);
  return j;
}

// Indented JSON that keeps any value whose compact form fits on a line inline.
void emit(const Json& j, int indent, std::ostringstream& os) {
  const std::string compact = j.dump();
  if (compact.size() + static_cast<size_t>(indent) <= 96 || !j.is_structured() || j.empty()) {
    os << compact;
    return;
  }
  const std::string pad(static_cast<size_t>(indent + 2), ' ');
  if (j.is_array()) {
    os << "[\n";
    for (size_t i = 0; i < j.size(); ++i) {
      os << pad;
      emit(j[i], indent + 2, os);
      os << (i + 1 < j.size() ? ",\n" : "\n");
    }
    os << std::string(static_cast<size_t>(indent), ' ') << "]";
    return;
  }
  os << "{\n";
  size_t i = 0;
  for (auto it = j.begin(); it != j.end(); ++it, ++i) {
    os << pad << Json(it.key()).dump() << ": ";
    emit(it.value(), indent + 2, os);
    os << (i + 1 < j.size() ? ",\n" : "\n");
  }
  os << std::string(static_cast<size_t>(indent), ' ') << "}";
}

CaseFile parse_case_text(const std::string& text, const std::string& source) {
  // Duplicate keys would silently overwrite each other: refuse them while parsing.
  std::vector<std::set<std::string>> open;
  std::string duplicate;
  Json::parser_callback_t cb = [&](int, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::object_start) open.emplace_back();
    if (event == Json::parse_event_t::object_end && !open.empty()) open.pop_back();
    if (event == Json::parse_event_t::key && !open.empty() && duplicate.empty()) {
      const std::string key = parsed.get<std::string>();
      if (!open.back().insert(key).second) duplicate = key;
    }
    return true;
  };
  Json j;
  try {
    j = Json::parse(text, cb);
  } catch (const nlohmann::json::exception& e) {
    // parse_error, and also out_of_range for a number too large for a double.
    throw InvalidArgument(source + ": not valid JSON: " + e.what());
  }
  if (!duplicate.empty()) {
    throw InvalidArgument(source + ": " + duplicate + ": key appears twice in one object");
  }
  CaseFile c = parse_top(j, source);
  validate_case(c, source);
  return c;
}

}  // namespace

CaseFile parse_case(const std::string& text, const std::string& source) {
  try {
    return parse_case_text(text, source);
  } catch (const InvalidArgument& e) {
    throw InvalidArgument(one_line(e.what()));
  }
}

CaseFile load_case(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InvalidArgument(path + ": cannot read the case file: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return parse_case(text.str(), path);
}

std::string case_to_json(const CaseFile& c, bool pretty) {
  const Json j = case_json(c);
  if (!pretty) return j.dump();
  std::ostringstream os;
  emit(j, 0, os);
  os << "\n";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const CaseFile& c) {
  return os << case_to_json(c, false);
}

void save_case(const CaseFile& c, const std::string& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  SHARDSIM_CHECK(out.good(), "cannot write case file '", path, "': ", std::strerror(errno));
  out << case_to_json(c);
  out.close();
  SHARDSIM_CHECK(out.good(), "cannot write case file '", path, "'");
}

std::string default_case_dir() {
  const char* env = std::getenv("SHARDSIM_CASE_DIR");
  if (env != nullptr && *env != '\0') return env;
  return SHARDSIM_DEFAULT_CASE_DIR;
}

namespace {
void make_dirs(const std::string& dir) {
  std::string prefix;
  std::istringstream parts(dir);
  std::string part;
  if (!dir.empty() && dir[0] == '/') prefix = "/";
  while (std::getline(parts, part, '/')) {
    if (part.empty()) continue;
    prefix += part + "/";
    if (mkdir(prefix.c_str(), 0777) != 0 && errno != EEXIST) {
      throw Error("cannot create directory '" + prefix + "': " + std::strerror(errno));
    }
  }
}
}  // namespace

std::string write_case_to_dir(const CaseFile& c, const std::string& dir, const std::string& name) {
  make_dirs(dir);
  std::string stem = name;
  if (stem.empty()) {
    Digest d;
    d.update(case_to_json(c, false));
    stem = c.law + "-" + d.hex().substr(0, 12);
  }
  const std::string path = (dir.empty() || dir.back() == '/' ? dir : dir + "/") + stem + ".json";
  save_case(c, path);
  return path;
}

std::string replay_command_line(const std::string& path, const std::string& backend) {
  std::string cmd = "shardsim replay " + path;
  if (backend != runner::RunSpec{}.backend) cmd += " --backend " + backend;
  return cmd;
}

}  // namespace shardsim::properties
