// The Hugging Face sharded form: index + shards, written and read through a
// MemoryEnv. The index is checked as JSON text and the shards by reading them
// one by one, independently of the index reader.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <nlohmann/json.hpp>

#include "shardsim/checkpoint/memory_env.h"
#include "shardsim/checkpoint/safetensors.h"
#include "shardsim/checkpoint/safetensors_index.h"
#include "shardsim/core/error.h"

namespace shardsim::checkpoint {
namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// Tensors of 40, 40, 100, 8 and 16 bytes.
Mapping five_tensors() {
  return Mapping{{"layer.0.weight", at::arange(10, at::kFloat)},
                 {"layer.0.bias", at::arange(10, at::kInt)},
                 {"embed", at::arange(25, at::kFloat).reshape({5, 5})},
                 {"step", at::scalar_tensor(3, at::kLong)},
                 {"norm", at::ones({8}, at::kBFloat16)}};
}

std::string read_error(Env& env, const std::string& index) {
  try {
    read_safetensors_index(env, index);
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  ADD_FAILURE() << "no InvalidArgument";
  return "";
}

TEST(SafetensorsIndexTest, NamesFilesAsHuggingFaceDoes) {
  EXPECT_EQ(safetensors_index_name(), "model.safetensors.index.json");
  EXPECT_EQ(safetensors_shard_name("model", 2, 13), "model-00002-of-00013.safetensors");
}

TEST(SafetensorsIndexTest, SplitsByMaxShardSizeAndWritesTheIndexLast) {
  MemoryEnv env;
  const Mapping tensors = five_tensors();
  std::vector<std::string> written =
      write_safetensors_sharded(env, "ckpt/hf", tensors, ShardedWriteOptions{90, "model"});
  // 40 + 40 fit in 90; the 100-byte tensor goes alone; 8 + 16 share the last.
  EXPECT_EQ(written, (std::vector<std::string>{"model-00001-of-00003.safetensors",
                                               "model-00002-of-00003.safetensors",
                                               "model-00003-of-00003.safetensors",
                                               "model.safetensors.index.json"}));
  EXPECT_EQ(env.list_dir("ckpt/hf").size(), 4u);

  const nlohmann::json index =
      nlohmann::json::parse(env.read_file("ckpt/hf/model.safetensors.index.json"));
  EXPECT_EQ(index["metadata"]["total_size"], 204);
  EXPECT_EQ(index["weight_map"]["layer.0.weight"], "model-00001-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["layer.0.bias"], "model-00001-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["embed"], "model-00002-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["step"], "model-00003-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["norm"], "model-00003-of-00003.safetensors");
  // Written as transformers writes it: indent 2, sorted keys, final newline.
  const std::string text = env.read_file("ckpt/hf/model.safetensors.index.json");
  const std::string head = "{\n  \"metadata\": {\n    \"total_size\": 204\n  },\n  \"weight_map\": {\n";
  EXPECT_EQ(text.substr(0, head.size()), head);
  EXPECT_EQ(text.back(), '\n');

  SafetensorsContents first = read_safetensors(env, "ckpt/hf/model-00001-of-00003.safetensors");
  EXPECT_EQ(first.tensors.size(), 2u);
  EXPECT_EQ(first.metadata, (SafetensorsMetadata{{"format", "pt"}}));

  SafetensorsContents all = read_safetensors_index(env, "ckpt/hf/model.safetensors.index.json");
  ASSERT_EQ(all.tensors.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const at::Tensor& expected = tensors.value(i).tensor();
    const at::Tensor& actual = all.tensors.at(tensors.key(i)).tensor();
    EXPECT_EQ(actual.scalar_type(), expected.scalar_type()) << tensors.key(i);
    EXPECT_EQ(actual.sizes(), expected.sizes()) << tensors.key(i);
    EXPECT_TRUE(at::equal(actual, expected)) << tensors.key(i);
  }
  EXPECT_EQ(all.metadata, (SafetensorsMetadata{{"total_size", "204"}}));
}

TEST(SafetensorsIndexTest, OneShardWhenEverythingFits) {
  MemoryEnv env;
  std::vector<std::string> written = write_safetensors_sharded(env, "d", five_tensors());
  EXPECT_EQ(written, (std::vector<std::string>{"model-00001-of-00001.safetensors",
                                               "model.safetensors.index.json"}));
}

TEST(SafetensorsIndexTest, RefusesBadValuesBeforeWritingAnything) {
  MemoryEnv env;
  Mapping m = five_tensors();
  m.set("lr", Value(0.1));
  EXPECT_THROW(write_safetensors_sharded(env, "d", m, ShardedWriteOptions{50, "model"}),
               InvalidArgument);
  EXPECT_EQ(env.file_count(), 0u);
  EXPECT_THROW(write_safetensors_sharded(env, "d", five_tensors(), ShardedWriteOptions{0, "model"}),
               InvalidArgument);
}

class SafetensorsIndexErrorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_.create_dirs("d");
    write_safetensors(env_, "d/a.safetensors", Mapping{{"x", at::ones({2})}, {"y", at::ones({1})}});
    write_safetensors(env_, "d/b.safetensors", Mapping{{"z", at::ones({3})}});
  }
  void write_index(const std::string& json) { env_.write_file_atomic("d/i.json", json); }
  MemoryEnv env_;
};

TEST_F(SafetensorsIndexErrorTest, ReadsAGoodIndex) {
  write_index(R"({"metadata":{"total_size":24},"weight_map":{"x":"a.safetensors","y":"a.safetensors","z":"b.safetensors"}})");
  SafetensorsContents c = read_safetensors_index(env_, "d/i.json");
  EXPECT_EQ(c.tensors.keys(), (std::vector<std::string>{"x", "y", "z"}));
}

TEST_F(SafetensorsIndexErrorTest, ShardTensorMissingFromTheWeightMap) {
  write_index(R"({"weight_map":{"x":"a.safetensors","z":"b.safetensors"}})");
  const std::string e = read_error(env_, "d/i.json");
  EXPECT_TRUE(contains(e, "d/a.safetensors: tensor 'y' is not in the weight_map of d/i.json")) << e;
}

TEST_F(SafetensorsIndexErrorTest, WeightMapTensorMissingFromItsShard) {
  write_index(R"({"weight_map":{"x":"a.safetensors","y":"a.safetensors","z":"b.safetensors","w":"b.safetensors"}})");
  const std::string e = read_error(env_, "d/i.json");
  EXPECT_TRUE(contains(e, "d/i.json: weight_map puts tensor 'w' in b.safetensors, which does not "
                          "hold it")) << e;
}

TEST_F(SafetensorsIndexErrorTest, TensorInAnotherShardThanTheWeightMapSays) {
  write_index(R"({"weight_map":{"x":"a.safetensors","y":"b.safetensors","z":"b.safetensors"}})");
  const std::string e = read_error(env_, "d/i.json");
  EXPECT_TRUE(contains(e, "d/a.safetensors: tensor 'y' is in this shard but the weight_map of "
                          "d/i.json puts it in b.safetensors")) << e;
}

TEST_F(SafetensorsIndexErrorTest, MissingShardFileNamesIt) {
  write_index(R"({"weight_map":{"x":"a.safetensors","y":"a.safetensors","z":"c.safetensors"}})");
  try {
    read_safetensors_index(env_, "d/i.json");
    ADD_FAILURE() << "no error";
  } catch (const IoError& e) {
    EXPECT_TRUE(contains(e.what(), "d/c.safetensors")) << e.what();
  }
}

TEST_F(SafetensorsIndexErrorTest, MalformedIndexes) {
  write_index("{");
  EXPECT_TRUE(contains(read_error(env_, "d/i.json"), "d/i.json: the index is not valid JSON"));
  write_index(R"({"metadata":{}})");
  EXPECT_TRUE(contains(read_error(env_, "d/i.json"), "d/i.json: the index has no \"weight_map\" object"));
  write_index(R"({"weight_map":{"x":3}})");
  EXPECT_TRUE(contains(read_error(env_, "d/i.json"), "weight_map entry 'x' is not a file name string but 3"));
  write_index(R"({"weight_map":{"x":"a.safetensors","x":"b.safetensors"}})");
  EXPECT_TRUE(contains(read_error(env_, "d/i.json"), "d/i.json: the index has the key 'x' more than once"));
  write_index(R"({"weight_map":{"x":"../a.safetensors"}})");
  const std::string e = read_error(env_, "d/i.json");
  EXPECT_TRUE(contains(e, "weight_map puts tensor 'x' in '../a.safetensors', which is not a file "
                          "name in the index's directory")) << e;
}

}  // namespace
}  // namespace shardsim::checkpoint
