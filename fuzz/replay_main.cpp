// Reruns fuzz inputs without libFuzzer (any compiler):
//   shardsim_fuzz_replay TARGET FILE_OR_DIR...   every file through one target
//   shardsim_fuzz_replay --corpus DIR             DIR/<target>/* through each target
// Exits 0 when every input passed (a finding aborts), 2 on bad usage.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz_target.h"

namespace {

bool is_dir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Regular files under `path` (itself when a file), sorted by name.
std::vector<std::string> files_under(const std::string& path) {
  if (!is_dir(path)) return {path};
  std::vector<std::string> out;
  if (DIR* dir = ::opendir(path.c_str())) {
    while (const dirent* entry = ::readdir(dir)) {
      const std::string name = entry->d_name;
      if (name == "." || name == "..") continue;
      const std::string child = path + "/" + name;
      if (!is_dir(child)) out.push_back(child);
    }
    ::closedir(dir);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Runs every file through `fn`; the number of inputs, or -1 when one is unreadable.
int replay(const std::string& target, shardsim::fuzz::TargetFn fn, const std::string& path) {
  int n = 0;
  for (const std::string& file : files_under(path)) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "shardsim_fuzz_replay: cannot read %s\n", file.c_str());
      return -1;
    }
    std::ostringstream bytes;
    bytes << in.rdbuf();
    const std::string data = bytes.str();
    std::fprintf(stderr, "%s: %s\n", target.c_str(), file.c_str());
    fn(reinterpret_cast<const uint8_t*>(data.data()), data.size());
    ++n;
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  const auto& targets = shardsim::fuzz::targets();
  const std::string first = argc > 1 ? argv[1] : "";
  if (argc == 3 && first == "--corpus") {
    int total = 0;
    for (const auto& [name, fn] : targets) {
      const std::string dir = std::string(argv[2]) + "/" + name;
      if (!is_dir(dir)) continue;
      const int n = replay(name, fn, dir);
      if (n < 0) return 1;
      total += n;
    }
    std::printf("replayed %d inputs through %zu targets\n", total, targets.size());
    return 0;
  }
  auto it = targets.find(first);
  if (argc < 3 || it == targets.end()) {
    std::fprintf(stderr, "usage: shardsim_fuzz_replay TARGET FILE_OR_DIR... | --corpus DIR\ntargets:");
    for (const auto& entry : targets) std::fprintf(stderr, " %s", entry.first.c_str());
    std::fprintf(stderr, "\n");
    return 2;
  }
  int total = 0;
  for (int i = 2; i < argc; ++i) {
    const int n = replay(first, it->second, argv[i]);
    if (n < 0) return 1;
    total += n;
  }
  std::printf("replayed %d inputs through %s\n", total, first.c_str());
  return 0;
}
