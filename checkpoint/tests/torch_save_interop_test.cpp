// read_torch_save against real torch.save files: tests/torch_save_interop.py
// (Debian's python3-torch on /usr/bin/python3) saves state dicts and writes,
// without shardsim, a JSON description of each (containers, key types,
// scalars, each tensor's dtype, shape, strides, offset and storage) plus a
// raw dump of every tensor's contiguous bytes. Each file read here must match
// its description exactly. The binary exits 77 (skipped) when
// /usr/bin/python3 or its torch is missing.
#include <gtest/gtest.h>

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "shardsim/checkpoint/env.h"
#include "shardsim/checkpoint/torch_save.h"
#include "shardsim/core/dtype.h"
#include "shardsim/core/error.h"

namespace shardsim::checkpoint {
namespace {

int run_shell(const std::string& line) {
  const int status = std::system(line.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Compares one file's contents with its Python-side description.
class TreeComparison {
 public:
  TreeComparison(const TorchSaveContents& contents, std::string raw)
      : contents_(contents), raw_(std::move(raw)) {}

  void compare(const nlohmann::json& node, const Value& value, const std::string& path) {
    SCOPED_TRACE("at '" + path + "'");
    const std::string type = node.at("type");
    if (type == "tensor") return compare_tensor(node, value);
    if (type == "none" || type == "bool" || type == "int" || type == "float" || type == "str") {
      Value expected;
      if (type == "bool") expected = Value(node.at("value").get<bool>());
      if (type == "int") expected = Value(node.at("value").get<int64_t>());
      if (type == "float") expected = Value(node.at("value").get<double>());
      if (type == "str") expected = Value(node.at("value").get<std::string>());
      EXPECT_EQ(value, expected);
      return;
    }
    if (type == "list" || type == "tuple") {
      ASSERT_EQ(value.type_name(), type);
      const std::vector<Value>& items = type == "list" ? value.list().items : value.tuple().items;
      ASSERT_EQ(items.size(), node.at("items").size());
      for (size_t i = 0; i < items.size(); ++i) {
        compare(node.at("items")[i], items[i], join_path(path, std::to_string(i)));
      }
      return;
    }
    ASSERT_EQ(type, "dict");
    ASSERT_TRUE(value.is_mapping()) << value.type_name();
    const Mapping& m = value.mapping();
    const nlohmann::json& entries = node.at("entries");
    ASSERT_EQ(m.size(), entries.size());
    for (size_t i = 0; i < m.size(); ++i) {
      const std::string key = entries[i].at("key");
      ASSERT_EQ(m.key(i), key);
      const std::string key_path = join_path(path, key);
      const auto& ints = contents_.int_key_paths;
      EXPECT_EQ(std::count(ints.begin(), ints.end(), key_path),
                entries[i].at("key_type") == "int" ? 1 : 0)
          << key_path;
      compare(entries[i].at("value"), m.value(i), key_path);
    }
    if (node.at("metadata").is_null()) {
      EXPECT_FALSE(contents_.module_metadata.contains(path));
    } else {
      ASSERT_TRUE(contents_.module_metadata.contains(path));
      compare(node.at("metadata"), contents_.module_metadata.at(path),
              join_path(path, "_metadata"));
    }
  }

  int tensors_seen() const { return tensors_seen_; }

 private:
  void compare_tensor(const nlohmann::json& node, const Value& value) {
    ASSERT_TRUE(value.is_tensor()) << value.type_name();
    const at::Tensor& t = value.tensor();
    ++tensors_seen_;
    EXPECT_EQ(dtype_name(t.scalar_type()), node.at("dtype").get<std::string>());
    EXPECT_EQ(t.sizes().vec(), node.at("shape").get<std::vector<int64_t>>());
    EXPECT_EQ(t.strides().vec(), node.at("stride").get<std::vector<int64_t>>());
    EXPECT_EQ(t.storage_offset(), node.at("storage_offset").get<int64_t>());
    EXPECT_TRUE(t.device().is_cpu());
    const at::Tensor c = t.contiguous();
    const size_t offset = node.at("offset"), nbytes = node.at("nbytes");
    ASSERT_EQ(static_cast<size_t>(c.nbytes()), nbytes);
    ASSERT_LE(offset + nbytes, raw_.size());
    EXPECT_TRUE(nbytes == 0 || std::memcmp(c.data_ptr(), raw_.data() + offset, nbytes) == 0)
        << "the bytes differ from Python's";
    // Tensors Python saw on one storage share one here, and only those.
    const int group = node.at("storage");
    for (const auto& [other_group, other] : storage_groups_) {
      EXPECT_EQ(t.storage().is_alias_of(other.storage()), group == other_group)
          << "storage group " << group << " vs " << other_group;
    }
    storage_groups_.emplace(group, t);
  }

  const TorchSaveContents& contents_;
  std::string raw_;
  std::map<int, at::Tensor> storage_groups_;
  int tensors_seen_ = 0;
};

class TorchSaveInteropTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string templ = (std::filesystem::temp_directory_path() / "shardsim-torch-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    ASSERT_EQ(run_shell(std::string(SHARDSIM_PYTHON) + " '" + SHARDSIM_TORCH_SCRIPT + "' write '" +
                        dir_ + "'"),
              0);
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }

  // Reads <name>.pt and checks it against <name>.json and <name>.raw; returns
  // what it read and how many tensors it compared.
  std::pair<TorchSaveContents, int> check_case(const std::string& name) {
    PosixEnv env;
    TorchSaveContents contents = read_torch_save(env, dir_ + "/" + name + ".pt");
    const nlohmann::json tree = nlohmann::json::parse(env.read_file(dir_ + "/" + name + ".json"));
    TreeComparison comparison(contents, env.read_file(dir_ + "/" + name + ".raw"));
    comparison.compare(tree, contents.root, "");
    return {std::move(contents), comparison.tensors_seen()};
  }

  static std::string dir_;
};
std::string TorchSaveInteropTest::dir_;

TEST_F(TorchSaveInteropTest, PlainDict) {
  EXPECT_EQ(check_case("plain").second, 2);  // a tensor and an nn.Parameter
}

TEST_F(TorchSaveInteropTest, ModuleStateDictWithMetadata) {
  auto [contents, tensors] = check_case("module");
  EXPECT_EQ(tensors, 7);
  EXPECT_EQ(contents.module_metadata.keys(), std::vector<std::string>{""});
  const at::Tensor& batches = contents.root.mapping().at("1.num_batches_tracked").tensor();
  EXPECT_EQ(batches.dim(), 0);
  EXPECT_EQ(batches.item<int64_t>(), 1);
}

TEST_F(TorchSaveInteropTest, TiedWeightsStayTied) {
  auto [contents, tensors] = check_case("tied");
  EXPECT_EQ(tensors, 5);
  const Mapping& m = contents.root.mapping();
  m.at("embed.weight").tensor().add_(1);
  EXPECT_TRUE(at::equal(m.at("embed.weight").tensor(), m.at("lm_head.weight").tensor()));
  EXPECT_TRUE(at::equal(m.at("embed.weight").tensor()[2], m.at("row").tensor()));
}

TEST_F(TorchSaveInteropTest, NonContiguousViews) { EXPECT_EQ(check_case("noncontig").second, 3); }

TEST_F(TorchSaveInteropTest, EveryDtype) {
  auto [contents, tensors] = check_case("dtypes");
  EXPECT_EQ(tensors, 15);
  for (c10::ScalarType dtype : supported_dtypes()) {
    EXPECT_TRUE(contents.root.mapping().contains(dtype_name(dtype))) << dtype_name(dtype);
  }
}

TEST_F(TorchSaveInteropTest, NestedCheckpointWithOptimizerIntKeys) {
  auto [contents, tensors] = check_case("nested");
  EXPECT_GE(tensors, 14);
  EXPECT_TRUE(contents.module_metadata.contains("model"));
  EXPECT_NE(
      std::find(contents.int_key_paths.begin(), contents.int_key_paths.end(), "optim.state.0"),
      contents.int_key_paths.end());
}

// The message reading <name>.pt throws.
std::string error_reading(const std::string& path) {
  PosixEnv env;
  try {
    read_torch_save(env, path);
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "no error";
}

TEST_F(TorchSaveInteropTest, ForbiddenClassesAndTheLegacyFormatAreRefusedByName) {
  const std::string fraction = error_reading(dir_ + "/forbidden.pt");
  EXPECT_NE(fraction.find("'a.b': an object of class fractions.Fraction"), std::string::npos)
      << fraction;
  const std::string module = error_reading(dir_ + "/whole_module.pt");
  EXPECT_NE(
      module.find("the saved object: an object of class torch.nn.modules.container.Sequential"),
      std::string::npos)
      << module;
  const std::string legacy = error_reading(dir_ + "/legacy.pt");
  EXPECT_NE(legacy.find("a legacy (pre-1.6, not zip) torch.save file"), std::string::npos)
      << legacy;
}

}  // namespace
}  // namespace shardsim::checkpoint

int main(int argc, char** argv) {
  if (::access(SHARDSIM_PYTHON, X_OK) != 0) {
    std::printf("SKIPPED: %s is missing; the torch.save checks need it\n", SHARDSIM_PYTHON);
    return 77;
  }
  if (shardsim::checkpoint::run_shell(std::string(SHARDSIM_PYTHON) +
                                      " -c 'import torch' 2>/dev/null") != 0) {
    std::printf("SKIPPED: %s cannot import torch (apt-get install python3-torch)\n",
                SHARDSIM_PYTHON);
    return 77;
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
