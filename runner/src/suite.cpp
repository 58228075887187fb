// Suite files (TOML) and the expansion of suites and command lines into runs.
#include "shardsim/runner/suite.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "shardsim/core/error.h"
#include "shardsim/core/text.h"
#include "shardsim/runner/real_backends.h"

namespace shardsim::runner {

namespace {

std::string at(const std::string& path, const toml::node& node) {
  std::ostringstream os;
  os << path << ":" << node.source().begin.line;
  return os.str();
}

[[noreturn]] void bad(const std::string& where, const std::string& field, const std::string& what) {
  throw InvalidArgument(one_line(where + ": field '" + field + "': " + what));
}

constexpr int64_t kMaxWorld = int64_t{1} << 20;

int64_t to_int(const toml::node& n, const std::string& where, const std::string& field, int64_t lo,
               int64_t hi) {
  auto v = n.value<int64_t>();
  if (!n.is_integer() || !v) bad(where, field, "expected an integer");
  if (*v < lo || *v > hi) {
    bad(where, field, "value " + std::to_string(*v) + " out of range [" + std::to_string(lo) + ", " +
                          std::to_string(hi) + "]");
  }
  return *v;
}

std::string to_string(const toml::node& n, const std::string& where, const std::string& field) {
  if (!n.is_string()) bad(where, field, "expected a string");
  return *n.value<std::string>();
}

// A field that is one value or an array of them.
template <typename F>
void each(const toml::node& n, const std::string& where, const std::string& field, F&& f) {
  if (const toml::array* arr = n.as_array()) {
    if (arr->empty()) bad(where, field, "empty array");
    for (const toml::node& item : *arr) f(item);
  } else {
    f(n);
  }
}

SuiteEntry parse_entry(const toml::table& t, const std::string& path) {
  SuiteEntry e;
  e.origin = at(path, t);
  static const std::set<std::string> known = {"scenario", "world", "worlds", "mesh", "meshes",
                                              "seed", "seeds", "seed_count", "schedule_seed",
                                              "schedule_seeds", "backend", "backends", "faults",
                                              "fault", "expect", "timeout", "description"};
  int64_t seed_count = 0;
  for (auto&& [key, node] : t) {
    const std::string field(key.str());
    const std::string where = at(path, node);
    if (!known.count(field)) {
      bad(where, field, "unknown field (known: scenario, worlds, meshes, seeds, seed_count, "
                        "schedule_seeds, backends, faults, expect, timeout, description)");
    }
    if (field == "scenario") {
      e.scenario = to_string(node, where, field);
      if (e.scenario.empty()) bad(where, field, "empty scenario name");
    } else if (field == "world" || field == "worlds") {
      each(node, where, field, [&](const toml::node& n) { e.worlds.push_back(to_int(n, where, field, 1, kMaxWorld)); });
    } else if (field == "mesh" || field == "meshes") {
      each(node, where, field, [&](const toml::node& n) {
        try {
          e.meshes.push_back(parse_mesh_shape(to_string(n, where, field)));
        } catch (const InvalidArgument& err) {
          bad(where, field, err.what());
        }
      });
    } else if (field == "seed" || field == "seeds") {
      each(node, where, field, [&](const toml::node& n) {
        e.seeds.push_back(static_cast<uint64_t>(to_int(n, where, field, 0, INT64_MAX)));
      });
    } else if (field == "seed_count") {
      seed_count = to_int(node, where, field, 1, 100000);
    } else if (field == "schedule_seed" || field == "schedule_seeds") {
      each(node, where, field, [&](const toml::node& n) {
        e.schedule_seeds.push_back(static_cast<uint64_t>(to_int(n, where, field, 0, INT64_MAX)));
      });
    } else if (field == "backend" || field == "backends") {
      each(node, where, field, [&](const toml::node& n) {
        std::string b = to_string(n, where, field);
        if (b != "fiber" && b != "gloo" && b != "nccl") bad(where, field, "unknown backend '" + b + "' (fiber, gloo, nccl)");
        e.backends.push_back(b);
      });
    } else if (field == "fault" || field == "faults") {
      each(node, where, field, [&](const toml::node& n) {
        e.faults.push_back(parse_fault_at(to_string(n, where, field), e.origin));
      });
    } else if (field == "expect") {
      try {
        e.expect = parse_outcome(to_string(node, where, field));
      } catch (const InvalidArgument& err) {
        bad(where, field, err.what());
      }
    } else if (field == "timeout") {
      auto v = node.value<double>();
      if (!(node.is_floating_point() || node.is_integer()) || !v || !(*v > 0) || *v > 86400) {
        bad(where, field, "expected a positive number of seconds (at most 86400)");
      }
      e.timeout_s = *v;
    } else if (field == "description") {
      to_string(node, where, field);
    }
  }
  if (e.scenario.empty()) bad(e.origin, "scenario", "missing (every [[test]] names a scenario or glob)");
  if (seed_count > 0) {
    if (e.seeds.size() > 1) bad(e.origin, "seed_count", "use with a single 'seed', not a 'seeds' list");
    const uint64_t first = e.seeds.empty() ? 1 : e.seeds[0];
    if (first > UINT64_MAX - static_cast<uint64_t>(seed_count - 1)) {
      bad(e.origin, "seed_count",
          "seed " + std::to_string(first) + " with seed_count " + std::to_string(seed_count) +
              " runs past the largest seed (" + std::to_string(UINT64_MAX) + ")");
    }
    e.seeds.clear();
    for (int64_t i = 0; i < seed_count; ++i) e.seeds.push_back(first + static_cast<uint64_t>(i));
  }
  return e;
}

// toml++ 3.3 reaches undefined behaviour (__builtin_unreachable, found by
// fuzzing) when it asks whether some non-ASCII code points are whitespace:
// U+00A1..U+0499, U+2D6E..U+3167 and U+FB26..U+FEFE, apart from a few (this
// mirrors its is_non_ascii_horizontal_whitespace). It asks about any code
// point outside comments and strings, and about some inside them, so such
// code points never reach it: in comments they become '?', in basic strings
// \uXXXX escapes (the same value), anywhere else they are refused.
bool trips_toml(uint32_t cp) {
  if (cp <= 0xA0 || cp > 0xFEFF) return false;
  const uint64_t child = (cp - 0xA0u) / 0x3FAu;
  if ((uint64_t{1} << child) & 0x7FFFFFFFFFFFF75Eull) return false;
  if (cp == 0x3000 || cp == 0xFEFF) return false;
  return child != 5 && child != 7;
}

// The code point of the well-formed 2- or 3-byte UTF-8 sequence at text[i], or 0.
uint32_t utf8_at(const std::string& text, size_t i, size_t* length) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const auto cont = [&](size_t k) { return k < text.size() && (byte(k) & 0xC0) == 0x80; };
  if ((byte(i) & 0xE0) == 0xC0 && cont(i + 1)) {
    *length = 2;
    return ((byte(i) & 0x1Fu) << 6) | (byte(i + 1) & 0x3Fu);
  }
  if ((byte(i) & 0xF0) == 0xE0 && cont(i + 1) && cont(i + 2)) {
    *length = 3;
    return ((byte(i) & 0x0Fu) << 12) | ((byte(i + 1) & 0x3Fu) << 6) | (byte(i + 2) & 0x3Fu);
  }
  return 0;
}

// The suite text as toml++ may safely see it (see trips_toml).
std::string toml_safe(const std::string& text, const std::string& path) {
  enum class In { kCode, kComment, kBasic, kMultiBasic, kLiteral, kMultiLiteral };
  In in = In::kCode;
  std::string out;
  out.reserve(text.size());
  int64_t line = 1;
  bool escaped = false;  // the previous character of a basic string was an escaping backslash
  const auto run_of = [&](size_t i, char ch) {
    size_t n = 0;
    while (i + n < text.size() && text[i + n] == ch) ++n;
    return n;
  };
  for (size_t i = 0; i < text.size();) {
    const char ch = text[i];
    size_t length = 1;
    const uint32_t cp = static_cast<unsigned char>(ch) >= 0x80 ? utf8_at(text, i, &length) : 0;
    if (cp != 0 && trips_toml(cp)) {
      if (in == In::kComment || ((in == In::kBasic || in == In::kMultiBasic) && escaped)) {
        out += '?';
      } else if (in == In::kBasic || in == In::kMultiBasic) {
        char escape[8];
        std::snprintf(escape, sizeof escape, "\\u%04X", static_cast<unsigned>(cp));
        out += escape;
      } else {
        std::ostringstream os;
        os << path << ":" << line << ": character U+" << std::hex << std::uppercase << cp
           << " is only allowed in comments and double-quoted strings here (the TOML parser "
              "mishandles it elsewhere)";
        throw InvalidArgument(os.str());
      }
      escaped = false;
      i += length;
      continue;
    }
    if (ch == '\n') ++line;
    size_t take = 1;
    switch (in) {
      case In::kCode:
        if (ch == '#') {
          in = In::kComment;
        } else if (ch == '"') {
          take = run_of(i, '"') >= 3 ? 3 : 1;
          in = take == 3 ? In::kMultiBasic : In::kBasic;
        } else if (ch == '\'') {
          take = run_of(i, '\'') >= 3 ? 3 : 1;
          in = take == 3 ? In::kMultiLiteral : In::kLiteral;
        }
        break;
      case In::kComment:
        if (ch == '\n') in = In::kCode;
        break;
      case In::kBasic:
      case In::kMultiBasic:
        if (escaped) {
          escaped = false;
        } else if (ch == '\\') {
          escaped = true;
        } else if (in == In::kBasic && (ch == '"' || ch == '\n')) {
          in = In::kCode;
        } else if (in == In::kMultiBasic && ch == '"' && run_of(i, '"') >= 3) {
          take = std::min<size_t>(run_of(i, '"'), 5);  // up to two quotes end the content
          in = In::kCode;
        }
        break;
      case In::kLiteral:
        if (ch == '\'' || ch == '\n') in = In::kCode;
        break;
      case In::kMultiLiteral:
        if (ch == '\'' && run_of(i, '\'') >= 3) {
          take = std::min<size_t>(run_of(i, '\''), 5);
          in = In::kCode;
        }
        break;
    }
    if (static_cast<unsigned char>(ch) >= 0x80) take = length;
    out.append(text, i, take);
    i += take;
  }
  return out;
}

}  // namespace

Suite parse_suite(const std::string& text, const std::string& path) {
  const std::string safe = toml_safe(text, path);
  toml::table root;
  try {
    root = toml::parse(safe, path);
  } catch (const toml::parse_error& err) {
    std::ostringstream os;
    os << path << ":" << err.source().begin.line << ":" << err.source().begin.column
       << ": syntax error: " << err.description();
    throw InvalidArgument(one_line(os.str()));
  }
  Suite suite;
  suite.path = path;
  for (auto&& [key, node] : root) {
    const std::string field(key.str());
    const std::string where = at(path, node);
    if (field == "title" || field == "description") {
      const std::string s = to_string(node, where, field);
      if (field == "title") suite.title = s;
    } else if (field == "test") {
      const toml::array* arr = node.as_array();
      if (arr == nullptr) bad(where, field, "expected [[test]] tables");
      for (const toml::node& item : *arr) {
        const toml::table* t = item.as_table();
        if (t == nullptr) bad(at(path, item), field, "expected a table");
        suite.entries.push_back(parse_entry(*t, path));
      }
    } else {
      bad(where, field, "unknown top-level field (known: title, description, [[test]])");
    }
  }
  if (suite.entries.empty()) throw InvalidArgument(path + ": no [[test]] entries");
  return suite;
}

Suite load_suite(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  SHARDSIM_CHECK_ARG(f.good(), path, ": cannot read suite file");
  std::ostringstream os;
  os << f.rdbuf();
  SHARDSIM_CHECK_ARG(!f.bad(), path, ": cannot read suite file");
  const std::string text = os.str();
  SHARDSIM_CHECK_ARG(text.size() <= (64u << 20), path, ": suite file larger than 64 MiB");
  return parse_suite(text, path);
}

namespace {

std::vector<uint64_t> seeds_from(const RunOverrides& o, const std::vector<uint64_t>& fallback) {
  if (o.seed || o.seed_count > 0) {
    const uint64_t first = o.seed ? *o.seed : 1;
    const int64_t count = o.seed_count > 0 ? o.seed_count : 1;
    SHARDSIM_CHECK_ARG(first <= UINT64_MAX - static_cast<uint64_t>(count - 1), "--seed ", first,
                       " --seeds ", count, " runs past the largest seed (", UINT64_MAX, ")");
    std::vector<uint64_t> seeds;
    for (int64_t i = 0; i < count; ++i) seeds.push_back(first + static_cast<uint64_t>(i));
    return seeds;
  }
  return fallback.empty() ? std::vector<uint64_t>{1} : fallback;
}

// More runs than this from one command is a mistake in a suite or on the
// command line (a few lines of TOML can ask for 10^15), not work to start.
constexpr uint64_t kMaxRuns = 1000000;

// A mesh holds exactly its world's ranks: a mesh that fits none of the worlds
// it would run with (the given ones, else the scenarios' defaults) could
// only give skips, so it is bad input. `where` leads the message.
void check_meshes_fit(const std::vector<Shape>& meshes, const std::vector<int64_t>& worlds,
                      const std::vector<const Scenario*>& scenarios, const std::string& where) {
  std::vector<int64_t> candidates = worlds;
  if (candidates.empty()) {
    for (const Scenario* s : scenarios) candidates.push_back(s->default_world);
  }
  if (candidates.empty()) return;
  for (const Shape& m : meshes) {
    const int64_t ranks = numel_of(m);
    if (std::find(candidates.begin(), candidates.end(), ranks) != candidates.end()) continue;
    std::ostringstream os;
    os << where << "mesh " << mesh_shape_str(m) << " holds " << ranks << " ranks, but "
       << (worlds.empty() ? "the default world of the selected scenarios is "
                          : "the worlds given are ");
    for (size_t i = 0; i < candidates.size() && i < 8; ++i) os << (i ? ", " : "") << candidates[i];
    if (candidates.size() > 8) os << ", ...";
    os << " (give a world of " << ranks << ")";
    throw InvalidArgument(os.str());
  }
}
void add_runs(std::vector<RunSpec>& out, const Scenario& s, const std::vector<std::string>& backends,
              const std::vector<int64_t>& worlds, const std::vector<Shape>& meshes,
              const std::vector<uint64_t>& seeds, const std::vector<uint64_t>& schedule_seeds,
              const std::vector<FaultSpec>& faults, c10::optional<Outcome> expect, double timeout,
              const std::string& origin) {
  const std::vector<int64_t> ws = worlds.empty() ? std::vector<int64_t>{0} : worlds;
  const std::vector<Shape> ms = meshes.empty() ? std::vector<Shape>{Shape{}} : meshes;
  std::vector<c10::optional<uint64_t>> ss;
  for (uint64_t t : schedule_seeds) ss.push_back(t);
  if (ss.empty()) ss.push_back(c10::nullopt);
  uint64_t runs = 1;  // saturates just above kMaxRuns
  for (const size_t factor : {backends.size(), ws.size(), ms.size(), seeds.size(), ss.size()}) {
    runs = factor == 0 ? 0 : (runs > kMaxRuns / factor ? kMaxRuns + 1 : runs * factor);
  }
  SHARDSIM_CHECK_ARG(out.size() + runs <= kMaxRuns, origin, ": asks for more than ", kMaxRuns,
                     " runs (backends x worlds x meshes x seeds x schedule seeds); split it up");
  for (const std::string& b : backends) {
    for (int64_t w : ws) {
      for (const Shape& m : ms) {
        for (uint64_t seed : seeds) {
          for (const auto& t : ss) {
            RunSpec spec;
            spec.scenario = s.name;
            spec.backend = b;
            spec.world = w;
            spec.mesh = m;
            spec.seed = seed;
            spec.schedule_seed = t;
            spec.faults = faults;
            spec.expect = expect;
            spec.timeout_s = timeout;
            spec.origin = origin;
            // A world a real backend's job decides (torchrun, srun) is checked there.
            if (w > 0 || !is_real_backend(b)) check_fault_ranks(spec, w > 0 ? w : s.default_world);
            out.push_back(spec);
          }
        }
      }
    }
  }
}

}  // namespace

std::vector<RunSpec> expand_suite(const Suite& suite, const ScenarioRegistry& registry,
                                  const RunOverrides& o) {
  std::vector<RunSpec> out;
  for (const SuiteEntry& e : suite.entries) {
    const std::vector<const Scenario*> matched = registry.match(e.scenario);
    SHARDSIM_CHECK_ARG(!matched.empty(), e.origin, ": scenario '", one_line(e.scenario),
                       "' matches no scenario (see `shardsim list`)");
    std::vector<const Scenario*> selected;
    for (const Scenario* s : matched) {
      if (!o.scenario_glob || glob_match(*o.scenario_glob, s->name)) selected.push_back(s);
    }
    if (selected.empty()) continue;
    check_meshes_fit(o.mesh ? std::vector<Shape>{*o.mesh} : e.meshes,
                     o.worlds.empty() ? e.worlds : o.worlds, selected,
                     o.mesh ? "--mesh: " : e.origin + ": field 'meshes': ");
    for (const Scenario* s : selected) {
      std::vector<std::string> backends = e.backends.empty() ? std::vector<std::string>{"fiber"} : e.backends;
      if (o.backend) backends = {*o.backend};
      std::vector<uint64_t> sched = e.schedule_seeds;
      if (o.schedule_seed) sched = {*o.schedule_seed};
      std::vector<FaultSpec> faults = e.faults;
      faults.insert(faults.end(), o.faults.begin(), o.faults.end());
      add_runs(out, *s, backends, o.worlds.empty() ? e.worlds : o.worlds,
               o.mesh ? std::vector<Shape>{*o.mesh} : e.meshes, seeds_from(o, e.seeds), sched, faults,
               o.expect ? o.expect : e.expect, o.timeout_s ? *o.timeout_s : e.timeout_s, e.origin);
    }
  }
  return out;
}

std::vector<RunSpec> expand_command_line(const ScenarioRegistry& registry, const RunOverrides& o) {
  const std::string glob = o.scenario_glob ? *o.scenario_glob : "*";
  const std::vector<const Scenario*> matched = registry.match(glob);
  SHARDSIM_CHECK_ARG(!matched.empty(), "--scenario '", glob, "' matches no scenario (see `shardsim list`)");
  if (o.mesh) check_meshes_fit({*o.mesh}, o.worlds, matched, "--mesh: ");
  std::vector<RunSpec> out;
  std::vector<uint64_t> sched;
  if (o.schedule_seed) sched = {*o.schedule_seed};
  for (const Scenario* s : matched) {
    add_runs(out, *s, {o.backend ? *o.backend : "fiber"}, o.worlds,
             o.mesh ? std::vector<Shape>{*o.mesh} : std::vector<Shape>{}, seeds_from(o, {}), sched, o.faults,
             o.expect, o.timeout_s ? *o.timeout_s : 0, "command line");
  }
  return out;
}

}  // namespace shardsim::runner
