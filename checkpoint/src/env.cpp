// What every Env shares: path helpers and the default ranged read.
#include <cstring>

#include "shardsim/checkpoint/env.h"

namespace shardsim::checkpoint {

void Env::read_range_into(const std::string& path, int64_t offset, int64_t length, void* out) {
  const std::string bytes = read_range(path, offset, length);
  if (!bytes.empty()) std::memcpy(out, bytes.data(), bytes.size());
}

std::string join_file_path(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  if (dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

std::string parent_dir(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return "";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace shardsim::checkpoint
