#include "launcher_protocol.h"

#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "shardsim/core/error.h"
#include "shardsim/core/faults.h"

namespace shardsim::runner::launcher {

bool stopped_exit(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == kStoppedExit; }

std::string begin_line(size_t index) { return "begin " + std::to_string(index); }

std::string result_line(size_t index, const RunResult& r) {
  std::vector<std::string> fired;
  for (const FaultSpec& f : r.fired) fired.push_back(f.str());
  const nlohmann::json j = {{"outcome", outcome_name(r.outcome)},
                            {"reason", r.reason},
                            {"values", r.values},
                            {"seconds", r.seconds},
                            {"injected", r.injected},
                            {"fired", fired}};
  // Replacement characters keep a message with stray bytes on one valid line.
  return "result " + std::to_string(index) + " " +
         j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string stop_line(const std::string& why) {
  return "stop " +
         nlohmann::json(why).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string done_line() { return "done"; }

Message parse_line(const std::string& line) {
  Message m;
  const size_t space = line.find(' ');
  const std::string word = line.substr(0, space);
  const std::string rest = space == std::string::npos ? "" : line.substr(space + 1);
  try {
    if (word == "begin") {
      m.kind = Message::Kind::kBegin;
      m.index = std::stoul(rest);
    } else if (word == "result") {
      m.kind = Message::Kind::kResult;
      const size_t gap = rest.find(' ');
      m.index = std::stoul(rest.substr(0, gap));
      const nlohmann::json j = nlohmann::json::parse(rest.substr(gap + 1));
      m.result.outcome = parse_outcome(j.at("outcome").get<std::string>());
      m.result.reason = j.at("reason").get<std::string>();
      m.result.values = j.at("values").get<std::string>();
      m.result.seconds = j.at("seconds").get<double>();
      m.result.injected = j.at("injected").get<std::vector<std::string>>();
      m.result.fired = parse_faults(j.at("fired").get<std::vector<std::string>>());
    } else if (word == "stop") {
      m.kind = Message::Kind::kStop;
      m.why = nlohmann::json::parse(rest).get<std::string>();
    } else if (word == "done" && rest.empty()) {
      m.kind = Message::Kind::kDone;
    } else {
      throw Error("unknown message");
    }
  } catch (const std::exception& e) {
    throw Error("malformed line from a worker: '" + line + "' (" + e.what() + ")");
  }
  return m;
}

}  // namespace shardsim::runner::launcher
