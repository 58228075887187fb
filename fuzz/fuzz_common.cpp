#include <cstdio>
#include <cstdlib>

#include "fuzz_target.h"

namespace shardsim::fuzz {

std::map<std::string, TargetFn>& targets() {
  static std::map<std::string, TargetFn> table;
  return table;
}

void finding(const std::string& what) {
  std::fprintf(stderr, "shardsim fuzz finding: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

void check_message(const std::string& message, const std::string& source) {
  if (message.compare(0, source.size(), source) != 0) {
    finding("error message does not name the source '" + source + "': " + message);
  }
  if (message.find('\n') != std::string::npos) {
    finding("error message spans several lines: " + message);
  }
}

}  // namespace shardsim::fuzz
