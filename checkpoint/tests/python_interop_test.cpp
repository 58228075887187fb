// safetensors against an independent implementation in both directions:
// tests/safetensors_interop.py (struct + json, no torch, no shardsim code)
// writes files that shardsim must read, and checks byte by byte the files
// shardsim writes. Both sides build the same fixture from its definition.
// Without /usr/bin/python3 the binary exits 77, which ctest reports as skipped.
#include <gtest/gtest.h>

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ATen/ATen.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>

#include "shardsim/checkpoint/env.h"
#include "shardsim/checkpoint/safetensors.h"
#include "shardsim/checkpoint/safetensors_index.h"

namespace shardsim::checkpoint {
namespace {

// The fixture of safetensors_interop.py, in its order.
Mapping fixture() {
  auto ints = [](std::vector<int64_t> v, at::ScalarType dtype) {
    return at::tensor(v, at::TensorOptions().dtype(at::kLong)).to(dtype);
  };
  return Mapping{
      {"f32", at::tensor({-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f}).reshape({2, 3})},
      {"f64", at::tensor({0.0, 1.0 / 3, 2.0 / 3}, at::TensorOptions().dtype(at::kDouble))},
      {"f16", at::tensor({-1.5f, -0.5f, 0.5f, 1.5f}).to(at::kHalf)},
      {"bf16", at::tensor({1.0f, 1.25f, 1.5f, 1.75f}).reshape({2, 2}).to(at::kBFloat16)},
      {"i64", ints({-(int64_t{1} << 40), (int64_t{1} << 40) + 3}, at::kLong)},
      {"i32", ints({-7, 0, 2147483647}, at::kInt)},
      {"i16", ints({-300, 300}, at::kShort)},
      {"i8", ints({-128, 0, 127}, at::kChar)},
      {"u8", ints({0, 1, 254, 255}, at::kByte).reshape({2, 2})},
      {"bool", ints({1, 0, 1}, at::kBool)},
      {"scalar", at::scalar_tensor(3.5, at::kFloat)},
      {"empty", at::zeros({0, 4}, at::kFloat)},
      {"\u00fcn\u00ef.weight", at::tensor({2.0f})},
  };
}

// Runs the Python side; returns its exit status.
int run_python(const std::string& command, const std::string& path) {
  const std::string line = std::string(SHARDSIM_PYTHON) + " '" + SHARDSIM_INTEROP_SCRIPT + "' " +
                           command + " '" + path + "'";
  const int status = std::system(line.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void expect_fixture(const Mapping& actual) {
  const Mapping expected = fixture();
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    const std::string& key = expected.key(i);
    ASSERT_TRUE(actual.contains(key)) << key;
    const at::Tensor& a = actual.at(key).tensor();
    const at::Tensor& e = expected.value(i).tensor();
    EXPECT_EQ(a.scalar_type(), e.scalar_type()) << key;
    EXPECT_EQ(a.sizes(), e.sizes()) << key;
    EXPECT_TRUE(a.scalar_type() == e.scalar_type() && at::equal(a, e)) << key;
  }
}

class PythonInteropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (std::filesystem::temp_directory_path() / "shardsim-interop-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
  PosixEnv env_;
};

TEST_F(PythonInteropTest, ReadsAFilePythonWrote) {
  const std::string path = dir_ + "/python.safetensors";
  ASSERT_EQ(run_python("write-file", path), 0);
  SafetensorsContents c = read_safetensors(env_, path);
  expect_fixture(c.tensors);
  // Python laid the tensors out in fixture order; reading keeps the file's order.
  EXPECT_EQ(c.tensors.keys(), fixture().keys());
  EXPECT_EQ(c.metadata, (SafetensorsMetadata{{"writer", "python"}}));
}

TEST_F(PythonInteropTest, ReadsAnIndexPythonWrote) {
  ASSERT_EQ(run_python("write-index", dir_ + "/hf"), 0);
  SafetensorsContents c = read_safetensors_index(env_, dir_ + "/hf/model.safetensors.index.json");
  expect_fixture(c.tensors);
  EXPECT_EQ(c.tensors.keys(), fixture().keys());
  ASSERT_EQ(c.metadata.count("total_size"), 1u);
}

TEST_F(PythonInteropTest, PythonReadsAFileShardsimWrote) {
  const std::string path = dir_ + "/shardsim.safetensors";
  write_safetensors(env_, path, fixture(), {{"writer", "shardsim"}});
  EXPECT_EQ(run_python("check-file", path), 0);
}

TEST_F(PythonInteropTest, PythonReadsAnIndexShardsimWrote) {
  std::vector<std::string> written =
      write_safetensors_sharded(env_, dir_ + "/out", fixture(), ShardedWriteOptions{48, "model"});
  EXPECT_GE(written.size(), 3u);
  EXPECT_EQ(run_python("check-index", dir_ + "/out"), 0);
}

}  // namespace
}  // namespace shardsim::checkpoint

int main(int argc, char** argv) {
  if (::access(SHARDSIM_PYTHON, X_OK) != 0) {
    std::printf("SKIPPED: %s is missing; the Python interop checks need it\n", SHARDSIM_PYTHON);
    return 77;
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
