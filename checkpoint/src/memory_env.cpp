// MemoryEnv: an Env over maps in memory.
#include "shardsim/checkpoint/memory_env.h"

#include <cerrno>
#include <system_error>

#include "shardsim/core/checked.h"

namespace shardsim::checkpoint {

namespace {

[[noreturn]] void throw_os_error(const std::string& operation, const std::string& path,
                                 int error_number, const std::string& after = "") {
  throw IoError(operation + " '" + path + "'" + after + ": " +
                    std::error_code(error_number, std::generic_category()).message(),
                error_number);
}

// "a//b/./c/" -> "a/b/c"; "/x" keeps its leading '/'; ".." removes a segment.
std::string normalise(const std::string& path) {
  const bool absolute = !path.empty() && path[0] == '/';
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    std::string part = path.substr(start, slash - start);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(std::move(part));
    }
    start = slash + 1;
  }
  std::string out = absolute ? "/" : "";
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? "/" : "") + parts[i];
  return out;
}

// The normalised parent of a normalised path.
std::string normalised_parent(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return "";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

bool MemoryEnv::is_dir(const std::string& normalised) const {
  return normalised.empty() || normalised == "/" || dirs_.count(normalised) > 0;
}

std::string MemoryEnv::read_file(const std::string& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string key = normalise(path);
  auto it = files_.find(key);
  if (it == files_.end()) throw_os_error("open", path, is_dir(key) ? EISDIR : ENOENT, " for reading");
  return it->second;
}

std::string MemoryEnv::read_range(const std::string& path, int64_t offset, int64_t length) {
  SHARDSIM_CHECK_ARG(offset >= 0 && length >= 0, "read_range '", path, "': offset ", offset,
                     " and length ", length, " must not be negative");
  const int64_t end = checked_add(offset, length, "read_range '" + path + "': offset + length");
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string key = normalise(path);
  auto it = files_.find(key);
  if (it == files_.end()) throw_os_error("open", path, is_dir(key) ? EISDIR : ENOENT, " for reading");
  const int64_t size = static_cast<int64_t>(it->second.size());
  if (end > size) {
    const int64_t got = offset < size ? size - offset : 0;
    throw IoError("read '" + path + "': bytes [" + std::to_string(offset) + ", " +
                      std::to_string(end) + ") run past the end of the file (got " +
                      std::to_string(got) + " of " + std::to_string(length) + " bytes)",
                  0);
  }
  return it->second.substr(static_cast<size_t>(offset), static_cast<size_t>(length));
}

int64_t MemoryEnv::file_size(const std::string& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string key = normalise(path);
  auto it = files_.find(key);
  if (it == files_.end()) {
    if (is_dir(key)) throw_os_error("file_size", path, EISDIR);
    throw_os_error("stat", path, ENOENT);
  }
  return static_cast<int64_t>(it->second.size());
}

bool MemoryEnv::exists(const std::string& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string key = normalise(path);
  return files_.count(key) > 0 || is_dir(key);
}

void MemoryEnv::write_file_atomic(const std::string& path, std::string_view data) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string key = normalise(path);
  if (is_dir(key)) throw_os_error("rename a temporary file to", path, EISDIR);
  const std::string parent = normalised_parent(key);
  if (!is_dir(parent)) {
    throw_os_error("create a temporary file beside", path, files_.count(parent) ? ENOTDIR : ENOENT);
  }
  files_[key] = std::string(data);
}

std::vector<std::string> MemoryEnv::list_dir(const std::string& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string key = normalise(path);
  if (!is_dir(key)) throw_os_error("list directory", path, files_.count(key) ? ENOTDIR : ENOENT);
  std::set<std::string> names;
  auto add_child = [&](const std::string& entry) {
    if (entry == key || entry.empty() || entry == "/") return;
    if (normalised_parent(entry) != key) return;
    const size_t slash = entry.find_last_of('/');
    names.insert(slash == std::string::npos ? entry : entry.substr(slash + 1));
  };
  for (const auto& file : files_) add_child(file.first);
  for (const std::string& dir : dirs_) add_child(dir);
  return std::vector<std::string>(names.begin(), names.end());
}

void MemoryEnv::create_dirs(const std::string& path) {
  SHARDSIM_CHECK_ARG(!path.empty(), "create_dirs: the path is empty");
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string key = normalise(path);
  // Every prefix from the outermost in; none may be a file.
  std::vector<std::string> chain;
  for (std::string p = key; !p.empty() && p != "/"; p = normalised_parent(p)) chain.push_back(p);
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    if (files_.count(*it)) throw_os_error("create directory", *it, ENOTDIR);
    dirs_.insert(*it);
  }
}

void MemoryEnv::remove(const std::string& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string key = normalise(path);
  if (files_.erase(key)) return;
  if (key.empty() || key == "/") throw_os_error("remove", path, EBUSY);
  if (!dirs_.count(key)) throw_os_error("remove", path, ENOENT);
  const std::string prefix = key == "/" ? "/" : key + "/";
  auto inside = [&](const std::string& p) { return p.compare(0, prefix.size(), prefix) == 0; };
  auto file_after = files_.lower_bound(prefix);
  auto dir_after = dirs_.lower_bound(prefix);
  if ((file_after != files_.end() && inside(file_after->first)) ||
      (dir_after != dirs_.end() && inside(*dir_after))) {
    throw_os_error("remove", path, ENOTEMPTY);
  }
  dirs_.erase(key);
}

size_t MemoryEnv::file_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return files_.size();
}

}  // namespace shardsim::checkpoint
