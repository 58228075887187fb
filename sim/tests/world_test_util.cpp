#include "world_test_util.h"

#include <fstream>
#include <sstream>

namespace shardsim {
namespace sim {
namespace testing {

int64_t peak_rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      std::istringstream is(line.substr(6));
      int64_t kib = -1;
      is >> kib;
      return kib;
    }
  }
  return -1;
}

void reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
}

}  // namespace testing
}  // namespace sim
}  // namespace shardsim
