// An Env that keeps files and directories in memory: for tests, and as the
// base a fault-injecting Env can wrap. It behaves like PosixEnv (a write
// needs its parent directory, a directory must be empty to be removed) and
// fails with the same messages and errno values.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "shardsim/checkpoint/env.h"

namespace shardsim::checkpoint {

// Thread-safe; paths are normalised ("a//b/./c" is "a/b/c"), and "" and "/"
// are directories that always exist.
class MemoryEnv final : public Env {
 public:
  std::string read_file(const std::string& path) override;
  std::string read_range(const std::string& path, int64_t offset, int64_t length) override;
  int64_t file_size(const std::string& path) override;
  bool exists(const std::string& path) override;
  void write_file_atomic(const std::string& path, std::string_view data) override;
  std::vector<std::string> list_dir(const std::string& path) override;
  void create_dirs(const std::string& path) override;
  void remove(const std::string& path) override;

  // How many files the tree holds (every directory).
  size_t file_count() const;

 private:
  // REQUIRES: mutex_ held.
  bool is_dir(const std::string& normalised) const;

  mutable std::mutex mutex_;
  std::map<std::string, std::string> files_;  // normalised path -> contents
  std::set<std::string> dirs_;                // normalised paths, "" and "/" implied
};

}  // namespace shardsim::checkpoint
