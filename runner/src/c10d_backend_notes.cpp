// Rank notes and rank 0's decision: pure functions over what ranks posted.
#include <algorithm>
#include <cctype>
#include <iomanip>
#include <sstream>

#include <nlohmann/json.hpp>

#include "c10d_backend.h"
#include "shardsim/core/digest.h"
#include "shardsim/core/error.h"

namespace shardsim::runner::real {

bool operator==(const RankNote& a, const RankNote& b) {
  return a.run.ok == b.run.ok && a.run.assertion == b.run.assertion &&
         a.run.crashed == b.run.crashed && a.run.exited == b.run.exited &&
         a.run.message == b.run.message && a.run.values == b.run.values && a.echo == b.echo &&
         a.comm == b.comm && a.fault_fired == b.fault_fired && a.fault_lines == b.fault_lines;
}

std::string encode_note(const RankNote& note) {
  const nlohmann::json j = {{"ok", note.run.ok},
                            {"assertion", note.run.assertion},
                            {"crashed", note.run.crashed},
                            {"exited", note.run.exited},
                            {"message", note.run.message},
                            {"values", hex64(note.run.values)},
                            {"echo", note.echo},
                            {"comm", note.comm},
                            {"fault_fired", note.fault_fired},
                            {"fault_lines", note.fault_lines}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

RankNote decode_note(const std::string& text) {
  RankNote note;
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    note.run.ok = j.at("ok").get<bool>();
    note.run.assertion = j.at("assertion").get<bool>();
    note.run.crashed = j.at("crashed").get<bool>();
    note.run.exited = j.at("exited").get<bool>();
    note.run.message = j.at("message").get<std::string>();
    note.run.values = std::stoull(j.at("values").get<std::string>(), nullptr, 16);
    note.echo = j.at("echo").get<bool>();
    note.comm = j.at("comm").get<bool>();
    note.fault_fired = j.at("fault_fired").get<std::vector<bool>>();
    note.fault_lines = j.at("fault_lines").get<std::vector<std::string>>();
  } catch (const std::exception& e) {
    throw Error(std::string("malformed rank note '") + text + "': " + e.what());
  }
  SHARDSIM_CHECK(note.fault_fired.size() == note.fault_lines.size(), "malformed rank note '", text,
                 "': fault lists of different lengths");
  return note;
}

namespace {

bool says_timeout(const std::string& message) {
  std::string lower = message;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower.find("timed out") != std::string::npos ||
         lower.find("within the timeout") != std::string::npos;
}

std::string ranks_str(const std::vector<int64_t>& ranks) {
  std::ostringstream os;
  for (size_t i = 0; i < ranks.size(); ++i) os << (i ? ", " : "") << ranks[i];
  return os.str();
}

}  // namespace

namespace {

// Merges what each rank saw of the faults: a fault's line comes from a rank
// it fired on, else from the first rank with a note.
void merge_faults(const std::vector<std::optional<RankNote>>& notes, WorldOutcome& out) {
  size_t count = 0;
  for (const auto& n : notes) count = std::max(count, n ? n->fault_lines.size() : 0);
  for (size_t i = 0; i < count; ++i) {
    std::string line;
    bool fired = false;
    for (const auto& n : notes) {
      if (!n || i >= n->fault_lines.size()) continue;
      if (n->fault_fired[i] && !fired) {
        line = n->fault_lines[i];
        fired = true;
      } else if (line.empty()) {
        line = n->fault_lines[i];
      }
    }
    out.injected.push_back(line);
    if (fired) out.fired.push_back(i);
  }
}

}  // namespace

WorldOutcome decide(const std::vector<std::optional<RankNote>>& notes, double waited_s) {
  WorldOutcome out;
  merge_faults(notes, out);
  std::vector<const RankNote*> failures, exits;  // in rank order
  std::vector<uint64_t> per_rank;
  for (size_t r = 0; r < notes.size(); ++r) {
    if (!notes[r]) {
      out.missing.push_back(static_cast<int64_t>(r));
      continue;
    }
    per_rank.push_back(notes[r]->run.values);
    if (!notes[r]->run.ok) failures.push_back(&*notes[r]);
    if (notes[r]->run.exited) exits.push_back(&*notes[r]);
  }
  out.any_failed = !failures.empty() || !exits.empty();
  if (!out.any_failed && out.missing.empty()) {
    out.values = combine_values(per_rank);
    return out;
  }
  // The root causes: every failure that is not an echo of another rank's abort.
  std::vector<const RankNote*> roots;
  for (const RankNote* n : failures) {
    if (!n->echo) roots.push_back(n);
  }
  // Only echoes of a rank that left early: the others would have waited for
  // it forever (a deadlock, as on fibers).
  const bool left_early = roots.empty() && !exits.empty() && out.missing.empty();
  if (left_early) roots = exits;
  if (roots.empty()) roots = failures;
  bool crash = false, assertion = false, timeout = false;
  std::ostringstream reason;
  if (!out.missing.empty()) {
    const bool one = out.missing.size() == 1;
    reason << (one ? "rank " : "ranks ") << ranks_str(out.missing) << " did not report "
           << (one ? "its result" : "their results") << " within " << std::fixed
           << std::setprecision(1) << waited_s << " s (dead or stuck)";
  }
  for (const RankNote* n : roots) {
    crash = crash || n->run.crashed;
    assertion = assertion || n->run.assertion;
    timeout = timeout || (n->comm && says_timeout(n->run.message));
    if (reason.tellp() > 0) reason << "\n";
    reason << n->run.message;
  }
  if (left_early && !failures.empty()) reason << "\n" << failures.front()->run.message;
  out.reason = reason.str();
  if (left_early) {
    out.outcome = Outcome::kDeadlock;
  } else if (crash) {
    out.outcome = Outcome::kCrash;
  } else if (assertion) {
    out.outcome = Outcome::kFailed;
  } else if (!out.missing.empty() || timeout) {
    out.outcome = Outcome::kTimeout;
  } else {
    out.outcome = Outcome::kError;
  }
  return out;
}

}  // namespace shardsim::runner::real
