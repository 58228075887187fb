#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "shardsim/bench/bench.h"
#include "shardsim/core/error.h"

namespace shardsim::bench {

int64_t parse_bytes(const std::string& text, const std::string& what) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  SHARDSIM_CHECK_ARG(i > 0 && i <= 15, what, " '", text, "': expected a size like 256MiB, 64MB or 4096");
  const int64_t n = std::stoll(text.substr(0, i));
  const std::string unit = text.substr(i);
  int64_t mult = 0;
  if (unit.empty() || unit == "B") mult = 1;
  if (unit == "KiB" || unit == "K") mult = int64_t{1} << 10;
  if (unit == "MiB" || unit == "M") mult = int64_t{1} << 20;
  if (unit == "GiB" || unit == "G") mult = int64_t{1} << 30;
  if (unit == "KB") mult = 1000;
  if (unit == "MB") mult = 1000 * 1000;
  if (unit == "GB") mult = 1000 * 1000 * 1000;
  SHARDSIM_CHECK_ARG(mult > 0, what, " '", text, "': unknown unit '", unit, "' (B, KiB, MiB, GiB, KB, MB, GB)");
  SHARDSIM_CHECK_ARG(n <= (int64_t{1} << 40) / mult, what, " '", text, "' is too large");
  return n * mult;
}

std::string self_exe() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  SHARDSIM_CHECK(n > 0, "cannot find this executable (/proc/self/exe)");
  return std::string(buf, static_cast<size_t>(n));
}

std::string bytes_str(double bytes) {
  char buf[64];
  if (bytes >= double(int64_t{1} << 30)) {
    std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / double(int64_t{1} << 30));
  } else if (bytes >= double(1 << 20)) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / double(1 << 20));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f KiB", bytes / 1024.0);
  }
  return buf;
}

namespace {
int64_t status_kb(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const std::string k = std::string(key) + ":";
  while (std::getline(f, line)) {
    if (line.compare(0, k.size(), k) == 0) {
      std::istringstream in(line.substr(k.size()));
      int64_t kb = -1;
      in >> kb;
      return kb;
    }
  }
  return -1;
}
}  // namespace

int64_t rss_bytes() { return status_kb("VmRSS") * 1024; }
int64_t peak_rss_bytes() { return status_kb("VmHWM") * 1024; }

bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  if (!f.good()) return false;
  f << "5";
  f.close();
  return f.good();
}

}  // namespace shardsim::bench
