// Case files: every node kind survives JSON unchanged; every kind of
// malformed file is an InvalidArgument naming the file and the field; the
// saved cases under properties/cases all read.
#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <regex>

#include <gtest/gtest.h>

#include "shardsim/core/error.h"
#include "shardsim/properties/case_json.h"

namespace shardsim::properties {
namespace {

CaseNode leaf(CaseNode::Kind kind) {
  CaseNode n;
  n.kind = kind;
  return n;
}

CaseNode tensor(CaseNode::Kind kind, c10::ScalarType dtype, Shape shape, uint64_t stream) {
  CaseNode n = leaf(kind);
  n.dtype = dtype;
  n.shape = std::move(shape);
  n.stream = stream;
  return n;
}

// A gather case on a 2x3 mesh holding one node of every kind.
CaseFile every_kind() {
  CaseFile c;
  c.law = "gather_state_dict";
  c.world = 6;
  c.mesh = {2, 3};
  c.data_seed = 12345678901234ULL;
  c.schedule_seed = 9;
  c.operation.name = "gather_state_dict";
  c.operation.cpu_offload = true;
  c.operation.ranks_only = {0, 4};
  c.faults = {"crash:rank=1,collective=2"};
  c.note = "every kind";
  CaseNode& sd = c.state_dict;
  sd.kind = CaseNode::Kind::kDict;
  const auto add = [&sd](const std::string& key, CaseNode n) {
    sd.keys.push_back(key);
    sd.items.push_back(std::move(n));
  };
  add("none", leaf(CaseNode::Kind::kNone));
  CaseNode b = leaf(CaseNode::Kind::kBool);
  b.flag = true;
  add("flag", b);
  CaseNode i = leaf(CaseNode::Kind::kInt);
  i.integer = -7;
  add("step", i);
  CaseNode f = leaf(CaseNode::Kind::kFloat);
  f.real = 0.125;
  add("lr", f);
  CaseNode s = leaf(CaseNode::Kind::kStr);
  s.text = "adam \"w\"";
  add("name", s);
  CaseNode by = leaf(CaseNode::Kind::kBytes);
  by.text = std::string("\0\xff\x10", 3);
  add("blob", by);
  CaseNode st = leaf(CaseNode::Kind::kStream);
  st.text = "abc";
  st.position = 2;
  add("io", st);
  CaseNode t = tensor(CaseNode::Kind::kTensor, at::kBFloat16, {}, 1);
  t.per_rank = true;
  add("scalar_tensor", t);
  CaseNode d = tensor(CaseNode::Kind::kDTensor, at::kComplexFloat, {5, 0, 3}, 2);
  d.placements = {Placement::shard(0), Placement::partial()};
  add("dtensor", d);
  CaseNode sh = tensor(CaseNode::Kind::kSharded, at::kBool, {4, 3}, 3);
  sh.shards = {{{0, 0}, {4, 1}, 5}, {{0, 1}, {4, 2}, 0}, {{2, 2}, {0, 1}, 3}};
  add("sharded", sh);
  CaseNode list = leaf(CaseNode::Kind::kList);
  list.items = {leaf(CaseNode::Kind::kNone), tensor(CaseNode::Kind::kTensor, at::kByte, {2}, 4)};
  CaseNode tuple = leaf(CaseNode::Kind::kTuple);
  tuple.items = {list, leaf(CaseNode::Kind::kList)};
  CaseNode nested = leaf(CaseNode::Kind::kDict);
  nested.keys = {"t", "empty"};
  nested.items = {tuple, leaf(CaseNode::Kind::kDict)};
  add("nested", nested);
  return c;
}

// A valid case as JSON text, for the malformed variants below.
const char* const kValid = R"({
  "format": 1, "law": "distribute_full_tensor", "world": 4, "mesh": [2, 2],
  "data_seed": 3, "schedule_seed": 4,
  "operation": {"name": "distribute_tensor"},
  "state_dict": {"kind": "dict", "items": {
    "w": {"kind": "dtensor", "dtype": "float32", "shape": [5, 2], "placements": ["S0", "S1"], "stream": 1}
  }},
  "faults": [], "expect": "passed"
})";

std::string replaced(const std::string& from, const std::string& to) {
  std::string text = kValid;
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

// Parsing `text` throws InvalidArgument whose message starts with the file
// name and contains `field` and `words`.
void expect_rejected(const std::string& text, const std::string& field, const std::string& words) {
  try {
    parse_case(text, "bad.json");
    ADD_FAILURE() << "accepted a case that should fail at " << field << ":\n" << text;
  } catch (const InvalidArgument& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("bad.json: ", 0), 0u) << what;
    EXPECT_NE(what.find(field), std::string::npos) << "expected field " << field << " in: " << what;
    EXPECT_NE(what.find(words), std::string::npos) << "expected '" << words << "' in: " << what;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected InvalidArgument, got: " << e.what();
  }
}

TEST(CaseFile, EveryKindRoundTripsThroughJson) {
  const CaseFile c = every_kind();
  validate_case(c, "every_kind");
  const CaseFile back = parse_case(case_to_json(c), "pretty");
  EXPECT_EQ(back, c) << case_to_json(back);
  EXPECT_EQ(parse_case(case_to_json(c, false), "compact"), c);
  // Pretty output keeps short values on one line.
  EXPECT_NE(case_to_json(c).find("\"mesh\": [2,3]"), std::string::npos) << case_to_json(c);
}

TEST(CaseFile, TheValidExampleParses) {
  const CaseFile c = parse_case(kValid, "good.json");
  EXPECT_EQ(c.world, 4);
  EXPECT_EQ(c.mesh, (Shape{2, 2}));
  EXPECT_EQ(c.state_dict.items[0].placements,
            (Placements{Placement::shard(0), Placement::shard(1)}));
}

TEST(CaseFile, MalformedFilesNameTheFileAndTheField) {
  expect_rejected("{\"format\": 1,", "bad.json", "not valid JSON");
  expect_rejected("[1, 2]", "<top>", "expected an object");
  expect_rejected(replaced("\"expect\": \"passed\"", "\"expect\": \"passed\", \"colour\": 1"),
                  "colour", "unknown field");
  expect_rejected(replaced("\"law\": \"distribute_full_tensor\", ", ""), "law", "missing field");
  expect_rejected(replaced("\"world\": 4", "\"world\": \"4\""), "world", "expected an integer");
  expect_rejected(replaced("\"world\": 4", "\"world\": -4"), "world", "outside");
  expect_rejected(replaced("\"world\": 4", "\"world\": 3"), "mesh", "holds 4 ranks");
  expect_rejected(replaced("\"mesh\": [2, 2]", "\"mesh\": [2, 0]"), "mesh.1", "outside");
  expect_rejected(replaced("\"mesh\": [2, 2]", "\"mesh\": []"), "mesh", "1 to 8 dimensions");
  expect_rejected(replaced("\"data_seed\": 3", "\"data_seed\": -3"), "data_seed", "not negative");
  expect_rejected(replaced("\"data_seed\": 3", "\"data_seed\": 1.5"), "data_seed", "real number");
  expect_rejected(replaced("\"format\": 1", "\"format\": 2"), "format", "not supported");
  expect_rejected(replaced("\"law\": \"distribute_full_tensor\"", "\"law\": \"gravity\""), "law",
                  "unknown law");
  expect_rejected(
      replaced("{\"name\": \"distribute_tensor\"}", "{\"name\": \"gather_state_dict\"}"),
      "operation.name", "does not belong");
  expect_rejected(replaced("{\"name\": \"distribute_tensor\"}",
                           "{\"name\": \"distribute_tensor\", \"pin_memory\": true}"),
                  "operation.pin_memory", "unknown field");
  expect_rejected(replaced("\"shape\": [5, 2]", "\"shape\": [5, 2000000000]"),
                  "state_dict.w.shape.1", "outside");
  expect_rejected(replaced("\"shape\": [5, 2]", "\"shape\": [16777216, 16777216]"),
                  "state_dict.w.shape", "more than");
  expect_rejected(replaced("\"shape\": [5, 2]", "\"shape\": [5, -2]"), "shape.1", "outside");
  expect_rejected(replaced("\"shape\": [5, 2]", "\"shape\": \"5,2\""), "shape", "list of integers");
  expect_rejected(replaced("[\"S0\", \"S1\"]", "[\"S0\"]"), "state_dict.w.placements",
                  "1 placements for the 2-dim mesh");
  expect_rejected(replaced("[\"S0\", \"S1\"]", "[\"S0\", \"S2\"]"), "state_dict.w.placements",
                  "out of range");
  expect_rejected(replaced("[\"S0\", \"S1\"]", "[\"S0\", \"Q\"]"), "placements.1", "Q");
  expect_rejected(replaced("\"float32\"", "\"float33\""), "state_dict.w.dtype", "float33");
  expect_rejected(replaced("\"kind\": \"dtensor\"", "\"kind\": \"dtensorx\""), "state_dict.w.kind",
                  "unknown kind");
  expect_rejected(replaced("\"stream\": 1}", "\"stream\": 1, \"shards\": []}"),
                  "state_dict.w.shards", "unknown field");
  expect_rejected(replaced("\"w\": {", "\"w\": {\"kind\": \"int\", \"value\": 1}, \"w\": {"), "w",
                  "appears twice");
  expect_rejected(replaced("\"faults\": []", "\"faults\": [3]"), "faults.0", "fault string");
  expect_rejected(replaced("\"expect\": \"passed\"", "\"expect\": \"fine\""), "expect",
                  "unknown outcome");
  expect_rejected(replaced("\"schedule_seed\": 4", "\"schedule_seed\": 4, \"schedule_seeds\": [1]"),
                  "schedule_seeds", "only law schedule_independence");
  expect_rejected(replaced("\"faults\": []", "\"faults\": [], \"steps\": []"), "steps",
                  "only law pinned_lifetime");
  expect_rejected(
      replaced("\"state_dict\": {\"kind\": \"dict\"", "\"state_dict\": {\"kind\": \"list\""),
      "state_dict.items", "expected a list");
  std::string scalar_root = kValid;
  scalar_root = scalar_root.substr(0, scalar_root.find("\"state_dict\"")) +
                "\"state_dict\": {\"kind\": \"int\", \"value\": 3}}";
  expect_rejected(scalar_root, "state_dict", "must be a dict");
}

TEST(CaseFile, MalformedTensorsAndOptions) {
  const std::string sharded = R"({"format": 1, "law": "gather_state_dict", "world": 2, "mesh": [2],
    "data_seed": 1, "operation": {"name": "gather_state_dict", "ranks_only": [RANKS]},
    "state_dict": {"kind": "dict", "items": {"s": {"kind": "sharded", "dtype": "int8",
      "shape": [4], "stream": 1, "shards": [SHARDS]},
      "b": {"kind": "bytes", "hex": "HEX"}, "io": {"kind": "stream", "hex": "0a0b", "position": POS}}}})";
  const auto variant = [&](const std::string& ranks, const std::string& shards,
                           const std::string& hex, const std::string& pos) {
    std::string t = sharded;
    t = std::regex_replace(t, std::regex("RANKS"), ranks);
    t = std::regex_replace(t, std::regex("SHARDS"), shards);
    t = std::regex_replace(t, std::regex("HEX"), hex);
    return std::regex_replace(t, std::regex("POS"), pos);
  };
  const std::string good_shards =
      R"({"offsets": [0], "sizes": [3], "rank": 0}, {"offsets": [3], "sizes": [1], "rank": 1})";
  EXPECT_NO_THROW(parse_case(variant("1", good_shards, "00ff", "2"), "bad.json"));
  expect_rejected(variant("2", good_shards, "00", "0"), "operation.ranks_only",
                  "outside the world");
  expect_rejected(variant("1, 1", good_shards, "00", "0"), "operation.ranks_only", "listed twice");
  expect_rejected(
      variant(
          "0",
          R"({"offsets": [0], "sizes": [3], "rank": 0}, {"offsets": [2], "sizes": [2], "rank": 1})",
          "00", "0"),
      "state_dict.s.shards", "overlaps");
  expect_rejected(variant("0", R"({"offsets": [0], "sizes": [3], "rank": 0})", "00", "0"),
                  "state_dict.s.shards", "tile it exactly");
  expect_rejected(variant("0", R"({"offsets": [0], "sizes": [4], "rank": 5})", "00", "0"),
                  "state_dict.s.shards.0.rank", "outside the world");
  expect_rejected(variant("0", R"({"offsets": [0], "sizes": [4]})", "00", "0"),
                  "state_dict.s.shards.0.rank", "missing field");
  expect_rejected(variant("0", good_shards, "0g", "0"), "state_dict.b.hex", "hex digit");
  expect_rejected(variant("0", good_shards, "0", "0"), "state_dict.b.hex", "odd number");
  expect_rejected(variant("0", good_shards, "00", "3"), "state_dict.io.position",
                  "outside the stream");
}

TEST(CaseFile, LifetimeStepsMustNameLiveDictsAndViews) {
  const std::string base = R"({"format": 1, "law": "pinned_lifetime", "world": 1, "mesh": [1],
    "data_seed": 1, "operation": {"name": "lifetime"},
    "state_dict": {"kind": "dict", "items": {"a": {"kind": "tensor", "dtype": "float32", "shape": [3], "stream": 1}}},
    "steps": [STEPS]})";
  const auto with = [&](const std::string& steps) {
    return std::regex_replace(base, std::regex("STEPS"), steps);
  };
  EXPECT_NO_THROW(parse_case(with(R"({"op": "create", "dict": 0, "pin": true, "share": true},
      {"op": "view", "dict": 0, "path": "a"}, {"op": "copy", "dict": 0},
      {"op": "delete", "dict": 0, "path": "a"}, {"op": "drop", "dict": 0}, {"op": "drop_view", "view": 0})"),
                             "ok.json"));
  expect_rejected(with(R"({"op": "copy", "dict": 0})"), "steps.0.dict", "does not exist");
  expect_rejected(with(R"({"op": "create", "dict": 0}, {"op": "create", "dict": 0})"),
                  "steps.1.dict", "already exists");
  expect_rejected(with(R"({"op": "create", "dict": 0}, {"op": "view", "dict": 0, "path": "b"})"),
                  "steps.1.path", "not a tensor");
  expect_rejected(with(R"({"op": "create", "dict": 0}, {"op": "delete", "dict": 0, "path": "a"},
      {"op": "view", "dict": 0, "path": "a"})"),
                  "steps.2.path", "was deleted");
  expect_rejected(with(R"({"op": "drop_view", "view": 0})"), "steps.0.view", "does not exist");
  expect_rejected(with(R"({"op": "explode", "dict": 0})"), "steps.0.op", "unknown step");
  expect_rejected(with(R"({"op": "create", "dict": 0, "path": "a"})"), "steps.0.path",
                  "unknown field");
}

TEST(CaseFile, UnreadableFilesAreInvalidArguments) {
  try {
    load_case("/nonexistent/case.json");
    ADD_FAILURE() << "read a file that does not exist";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/case.json"), std::string::npos) << e.what();
  }
}

TEST(CaseFile, WrittenCasesReadBackAndNamesAreStable) {
  char tmpl[] = "/tmp/shardsim-cases-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = std::string(tmpl) + "/deeper/still";
  const CaseFile c = every_kind();
  const std::string a = write_case_to_dir(c, dir);
  const std::string b = write_case_to_dir(c, dir);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.rfind(dir + "/gather_state_dict-", 0), 0u) << a;
  EXPECT_EQ(load_case(a), c);
  EXPECT_EQ(write_case_to_dir(c, dir, "named"), dir + "/named.json");
  EXPECT_EQ(replay_command_line(a), "shardsim replay " + a);
  EXPECT_EQ(replay_command_line(a, "gloo"), "shardsim replay " + a + " --backend gloo");
}

TEST(CaseFile, EverySavedCaseReads) {
  DIR* dir = opendir(SHARDSIM_CASES_DIR);
  ASSERT_NE(dir, nullptr) << SHARDSIM_CASES_DIR;
  int count = 0;
  while (dirent* e = readdir(dir)) {
    const std::string name = e->d_name;
    if (name.size() < 5 || name.substr(name.size() - 5) != ".json") continue;
    ++count;
    EXPECT_NO_THROW(load_case(std::string(SHARDSIM_CASES_DIR) + "/" + name)) << name;
  }
  closedir(dir);
  EXPECT_GT(count, 0);
}

}  // namespace
}  // namespace shardsim::properties
