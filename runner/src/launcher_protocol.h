// What rank 0 of a launched world tells the local launcher, one line each on
// a pipe of its own:
//
//   begin <index>            it starts spec <index>
//   result <index> <json>    the backend's result of that spec
//   stop <json string>       the world cannot go on (why)
//   done                     every spec ran and the world finished
#pragma once

#include <cstddef>
#include <string>

#include "shardsim/runner/run.h"

namespace shardsim::runner::launcher {

// The exit status of a worker that stops because rank 0 said the world
// cannot go on (not a death of its own).
constexpr int kStoppedExit = 4;
// Whether a waitpid status is that exit.
bool stopped_exit(int status);

std::string begin_line(size_t index);
// Carries outcome, reason, values, seconds, injected and fired of `r`.
std::string result_line(size_t index, const RunResult& r);
std::string stop_line(const std::string& why);
std::string done_line();

struct Message {
  enum class Kind { kBegin, kResult, kStop, kDone };
  Kind kind = Kind::kDone;
  size_t index = 0;
  RunResult result;  // kResult: outcome, reason, values, seconds, injected, fired
  std::string why;   // kStop
};
// Throws Error on a line that is none of the above.
Message parse_line(const std::string& line);

}  // namespace shardsim::runner::launcher
