#include "watchdog.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <sstream>

namespace shardsim::cli {

Watchdog::Watchdog(double limit_s, std::string program)
    : limit_s_(limit_s), program_(std::move(program)) {
  if (limit_s_ > 0) thread_ = std::thread([this] { watch(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Watchdog::set_activity(std::string activity) {
  std::lock_guard<std::mutex> lock(mu_);
  activity_ = std::move(activity);
}

void Watchdog::watch() {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(limit_s_));
  std::unique_lock<std::mutex> lock(mu_);
  if (cv_.wait_until(lock, deadline, [this] { return done_; })) return;
  std::ostringstream os;
  os << program_ << ": time limit of " << limit_s_ << " s reached (--time-limit; 0 disables it)";
  if (!activity_.empty()) os << " while running:\n  " << activity_;
  os << "\n"
     << program_ << ": stopping; results printed above are complete, the rest did not run\n";
  const std::string text = os.str();
  // write(2) and _exit: no locks another thread might hold, no destructors
  // that might wait for the stuck work.
  ssize_t ignored = ::write(STDERR_FILENO, text.data(), text.size());
  (void)ignored;
  std::_Exit(1);
}

}  // namespace shardsim::cli
