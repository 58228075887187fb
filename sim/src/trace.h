// The event trace of a fiber world: every event (a rank starts, arrives at or
// leaves a collective, sleeps, finishes; the clock advances; the world stops)
// is folded into a digest in the order it happens, so the digest is fixed by
// the schedule seed. Readable lines are kept only on request.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shardsim/core/digest.h"

namespace shardsim {
namespace sim {
namespace detail {

enum class EventKind : uint64_t {
  kStart = 1,
  kArrive = 2,
  kLeave = 3,
  kSleep = 4,
  kClock = 5,
  kYield = 6,
  kFinish = 7,
  kStop = 8,
};
const char* event_kind_name(EventKind kind);

class Trace {
 public:
  explicit Trace(bool keep_lines) : keep_lines_(keep_lines) {}

  // Folds one event into the digest; `a`, `b`, `c` are its kind-specific fields.
  void record(EventKind kind, int64_t rank, uint64_t a = 0, uint64_t b = 0, uint64_t c = 0);
  // Whether readable lines are wanted (callers build them only then).
  bool keeps_lines() const { return keep_lines_; }
  void add_line(std::string line) { lines_.push_back(std::move(line)); }

  uint64_t events() const { return events_; }
  std::string hex() const { return digest_.hex(); }
  std::vector<std::string> take_lines() { return std::move(lines_); }

 private:
  bool keep_lines_;
  Digest digest_;
  uint64_t events_ = 0;
  std::vector<std::string> lines_;
};

}  // namespace detail
}  // namespace sim
}  // namespace shardsim
