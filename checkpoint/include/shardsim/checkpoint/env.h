// The file-system seam of the checkpoint module (leveldb's Env is the model).
//
// Every read and write of a checkpoint passes through an Env, so a test can
// hand the module an in-memory file system (memory_env.h) and a
// fault-injecting wrapper can fail, shorten or tear a write. Paths are plain
// strings joined with '/'; a relative path is relative to the process's
// working directory (PosixEnv) or to the root of the in-memory tree.
//
// Every failure throws IoError naming the operation, the path and the OS
// error text (strerror), e.g.
//   "open 'ckpt/model.safetensors' for reading: No such file or directory".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shardsim/core/error.h"

namespace shardsim::checkpoint {

// A failed file-system operation; error_number() is the errno it failed with.
class IoError : public Error {
 public:
  IoError(const std::string& message, int error_number) : Error(message), error_number_(error_number) {}
  // The errno value (ENOENT, EISDIR, ...) of the failure.
  int error_number() const { return error_number_; }

 private:
  int error_number_;
};

// What a checkpoint reader or writer needs from a file system.
class Env {
 public:
  virtual ~Env() = default;

  // The whole contents of the file at `path`.
  virtual std::string read_file(const std::string& path) = 0;
  // Exactly `length` bytes from byte `offset` of `path`; IoError when the file
  // is shorter than offset + length. REQUIRES: offset >= 0, length >= 0.
  virtual std::string read_range(const std::string& path, int64_t offset, int64_t length) = 0;
  // Like read_range, but into `out` (at least `length` bytes), so a reader can
  // fill a tensor's memory without an intermediate copy. The default calls read_range.
  virtual void read_range_into(const std::string& path, int64_t offset, int64_t length, void* out);
  // Size in bytes of the regular file at `path`.
  virtual int64_t file_size(const std::string& path) = 0;
  // Whether anything (file or directory) exists at `path`.
  virtual bool exists(const std::string& path) = 0;
  // Replaces `path` with `data` so that no reader ever sees a partial file:
  // the data go to a temporary file in the same directory, are synced, and
  // the temporary is renamed over `path`. The parent directory must exist.
  virtual void write_file_atomic(const std::string& path, std::string_view data) = 0;
  // Names (not paths) of the entries of directory `path`, sorted, without "." and "..".
  virtual std::vector<std::string> list_dir(const std::string& path) = 0;
  // Creates directory `path` and any missing parents; an existing directory is fine.
  virtual void create_dirs(const std::string& path) = 0;
  // Removes the file or empty directory at `path`.
  virtual void remove(const std::string& path) = 0;
};

// The real file system through POSIX calls (open/pread/fsync/rename/...).
// Stateless: one instance may be shared by every thread.
class PosixEnv final : public Env {
 public:
  std::string read_file(const std::string& path) override;
  std::string read_range(const std::string& path, int64_t offset, int64_t length) override;
  void read_range_into(const std::string& path, int64_t offset, int64_t length, void* out) override;
  int64_t file_size(const std::string& path) override;
  bool exists(const std::string& path) override;
  void write_file_atomic(const std::string& path, std::string_view data) override;
  std::vector<std::string> list_dir(const std::string& path) override;
  void create_dirs(const std::string& path) override;
  void remove(const std::string& path) override;
};

// `dir` + "/" + `name`, or `name` alone when `dir` is empty.
std::string join_file_path(const std::string& dir, const std::string& name);
// The directory part of `path` ("" for a bare name, "/" for a file in the root).
std::string parent_dir(const std::string& path);

}  // namespace shardsim::checkpoint
