#include "trace.h"

namespace shardsim {
namespace sim {
namespace detail {

const char* event_kind_name(EventKind kind) {
  switch (kind) {
    case EventKind::kStart:
      return "start";
    case EventKind::kArrive:
      return "arrive";
    case EventKind::kLeave:
      return "leave";
    case EventKind::kSleep:
      return "sleep";
    case EventKind::kClock:
      return "clock";
    case EventKind::kYield:
      return "yield";
    case EventKind::kFinish:
      return "finish";
    case EventKind::kStop:
      return "stop";
  }
  return "?";
}

void Trace::record(EventKind kind, int64_t rank, uint64_t a, uint64_t b, uint64_t c) {
  digest_.update_u64(static_cast<uint64_t>(kind));
  digest_.update_i64(rank);
  digest_.update_u64(a);
  digest_.update_u64(b);
  digest_.update_u64(c);
  ++events_;
}

}  // namespace detail
}  // namespace sim
}  // namespace shardsim
