// The Env seam: PosixEnv and MemoryEnv pass the same tests (same results,
// same errors), so tests that use MemoryEnv say something about real files.
#include <gtest/gtest.h>

#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <memory>

#include "shardsim/checkpoint/env.h"
#include "shardsim/checkpoint/memory_env.h"

namespace shardsim::checkpoint {
namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// Runs `f`, expects IoError, returns it.
template <typename F>
IoError io_error(F&& f) {
  try {
    f();
  } catch (const IoError& e) {
    return e;
  }
  ADD_FAILURE() << "no IoError thrown";
  return IoError("", 0);
}

enum class EnvKind { kPosix, kMemory };

class EnvTest : public ::testing::TestWithParam<EnvKind> {
 protected:
  void SetUp() override {
    if (GetParam() == EnvKind::kPosix) {
      std::string templ = (std::filesystem::temp_directory_path() / "shardsim-env-XXXXXX").string();
      ASSERT_NE(::mkdtemp(templ.data()), nullptr);
      root_ = templ;
      env_ = std::make_unique<PosixEnv>();
    } else {
      root_ = "/mem";
      env_ = std::make_unique<MemoryEnv>();
      env_->create_dirs(root_);
    }
  }
  void TearDown() override {
    if (GetParam() == EnvKind::kPosix) std::filesystem::remove_all(root_);
  }
  std::string path(const std::string& name) const { return root_ + "/" + name; }

  std::string root_;
  std::unique_ptr<Env> env_;
};

TEST_P(EnvTest, WritesAndReadsWholeFilesAndRanges) {
  const std::string data("0123456789\0abc", 14);
  env_->write_file_atomic(path("f"), data);
  EXPECT_EQ(env_->read_file(path("f")), data);
  EXPECT_EQ(env_->file_size(path("f")), 14);
  EXPECT_EQ(env_->read_range(path("f"), 3, 4), "3456");
  EXPECT_EQ(env_->read_range(path("f"), 14, 0), "");
  EXPECT_EQ(env_->read_range(path("f"), 10, 4), std::string("\0abc", 4));
  EXPECT_TRUE(env_->exists(path("f")));
  EXPECT_FALSE(env_->exists(path("g")));
}

TEST_P(EnvTest, ReadsRangesIntoMemory) {
  env_->write_file_atomic(path("f"), "abcdefgh");
  char out[4] = {};
  env_->read_range_into(path("f"), 2, 4, out);
  EXPECT_EQ(std::string(out, 4), "cdef");
  IoError short_read = io_error([&] { env_->read_range_into(path("f"), 6, 4, out); });
  EXPECT_TRUE(contains(short_read.what(), "got 2 of 4 bytes")) << short_read.what();
  IoError missing = io_error([&] { env_->read_range_into(path("g"), 0, 1, out); });
  EXPECT_EQ(missing.error_number(), ENOENT) << missing.what();
}

TEST_P(EnvTest, AtomicWriteReplacesAndLeavesNoTemporaryFile) {
  env_->write_file_atomic(path("f"), "old contents");
  env_->write_file_atomic(path("f"), "new");
  EXPECT_EQ(env_->read_file(path("f")), "new");
  EXPECT_EQ(env_->list_dir(root_), std::vector<std::string>{"f"});
  env_->write_file_atomic(path("empty"), "");
  EXPECT_EQ(env_->file_size(path("empty")), 0);
}

TEST_P(EnvTest, ListsCreatesAndRemovesDirectories) {
  env_->create_dirs(path("a/b/c"));
  env_->create_dirs(path("a/b"));  // existing: fine
  env_->write_file_atomic(path("a/z"), "1");
  env_->write_file_atomic(path("a/b/y"), "2");
  EXPECT_EQ(env_->list_dir(path("a")), (std::vector<std::string>{"b", "z"}));
  EXPECT_EQ(env_->list_dir(path("a/b")), (std::vector<std::string>{"c", "y"}));
  EXPECT_TRUE(env_->list_dir(path("a/b/c")).empty());

  IoError not_empty = io_error([&] { env_->remove(path("a/b")); });
  EXPECT_EQ(not_empty.error_number(), ENOTEMPTY) << not_empty.what();
  env_->remove(path("a/b/y"));
  env_->remove(path("a/b/c"));
  env_->remove(path("a/b"));
  EXPECT_EQ(env_->list_dir(path("a")), std::vector<std::string>{"z"});
  EXPECT_FALSE(env_->exists(path("a/b")));
}

TEST_P(EnvTest, ErrorsNameTheFileAndTheOsError) {
  IoError missing = io_error([&] { env_->read_file(path("nope.safetensors")); });
  EXPECT_EQ(missing.error_number(), ENOENT);
  EXPECT_TRUE(contains(missing.what(), path("nope.safetensors"))) << missing.what();
  EXPECT_TRUE(contains(missing.what(), "No such file or directory")) << missing.what();

  IoError size = io_error([&] { env_->file_size(path("nope")); });
  EXPECT_EQ(size.error_number(), ENOENT) << size.what();

  IoError no_parent = io_error([&] { env_->write_file_atomic(path("no/such/dir/f"), "x"); });
  EXPECT_EQ(no_parent.error_number(), ENOENT) << no_parent.what();
  EXPECT_TRUE(contains(no_parent.what(), path("no/such/dir/f"))) << no_parent.what();

  env_->write_file_atomic(path("short"), "abc");
  IoError past_end = io_error([&] { env_->read_range(path("short"), 2, 5); });
  EXPECT_TRUE(contains(past_end.what(), path("short"))) << past_end.what();
  EXPECT_TRUE(contains(past_end.what(), "[2, 7)")) << past_end.what();
  EXPECT_TRUE(contains(past_end.what(), "got 1 of 5 bytes")) << past_end.what();

  IoError list_missing = io_error([&] { env_->list_dir(path("nodir")); });
  EXPECT_EQ(list_missing.error_number(), ENOENT) << list_missing.what();
  IoError list_file = io_error([&] { env_->list_dir(path("short")); });
  EXPECT_EQ(list_file.error_number(), ENOTDIR) << list_file.what();
  IoError dir_over_file = io_error([&] { env_->create_dirs(path("short/sub")); });
  EXPECT_EQ(dir_over_file.error_number(), ENOTDIR) << dir_over_file.what();
  IoError remove_missing = io_error([&] { env_->remove(path("nope")); });
  EXPECT_EQ(remove_missing.error_number(), ENOENT) << remove_missing.what();
  IoError read_dir = io_error([&] { env_->read_file(root_); });
  EXPECT_EQ(read_dir.error_number(), EISDIR) << read_dir.what();
}

INSTANTIATE_TEST_SUITE_P(BothEnvs, EnvTest, ::testing::Values(EnvKind::kPosix, EnvKind::kMemory),
                         [](const ::testing::TestParamInfo<EnvKind>& info) {
                           return info.param == EnvKind::kPosix ? std::string("Posix")
                                                                : std::string("Memory");
                         });

TEST(MemoryEnvTest, NormalisesPaths) {
  MemoryEnv env;
  env.create_dirs("d/e");
  env.write_file_atomic("d//e/./f", "x");
  EXPECT_EQ(env.read_file("d/e/f"), "x");
  EXPECT_EQ(env.read_file("d/e/../e/f"), "x");
  EXPECT_EQ(env.list_dir(""), std::vector<std::string>{"d"});
  EXPECT_EQ(env.file_count(), 1u);
}

TEST(FilePathTest, JoinsAndSplits) {
  EXPECT_EQ(join_file_path("", "a"), "a");
  EXPECT_EQ(join_file_path("d", "a"), "d/a");
  EXPECT_EQ(join_file_path("d/", "a"), "d/a");
  EXPECT_EQ(parent_dir("a"), "");
  EXPECT_EQ(parent_dir("/a"), "/");
  EXPECT_EQ(parent_dir("d/e/a"), "d/e");
}

}  // namespace
}  // namespace shardsim::checkpoint
