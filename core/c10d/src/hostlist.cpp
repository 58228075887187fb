// Slurm hostlist expansion. A list is names separated by commas outside
// brackets; a name is literal text with bracket groups; a group is
// comma-separated numbers or lo-hi ranges, each expanded with the width of
// its lower bound when that has leading zeros.
#include "shardsim/c10d/hostlist.h"

#include <cctype>

#include "shardsim/core/error.h"

namespace shardsim::c10d {
namespace {

using ::shardsim::detail::concat;

// Bound on one bracket group's expansion, against "n[0-99999999999]".
constexpr uint64_t kMaxHosts = 1000000;

struct Context {
  const std::string& text;
  const std::string& what;

  [[noreturn]] void fail(const std::string& why) const {
    throw InvalidArgument(concat(what, " '", text, "': ", why));
  }
};

// Splits at commas that are not inside brackets; checks bracket balance.
std::vector<std::string> split_names(const Context& cx) {
  std::vector<std::string> names;
  std::string current;
  int depth = 0;
  for (char c : cx.text) {
    if (c == '[') {
      if (depth > 0) cx.fail("nested '['");
      ++depth;
    } else if (c == ']') {
      if (depth == 0) cx.fail("']' without '['");
      --depth;
    } else if (c == ',' && depth == 0) {
      names.push_back(current);
      current.clear();
      continue;
    }
    current += c;
  }
  if (depth != 0) cx.fail("'[' without ']'");
  names.push_back(current);
  for (const std::string& name : names) {
    if (name.empty()) cx.fail("empty host name");
  }
  return names;
}

bool all_digits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::string padded(uint64_t value, size_t width) {
  std::string digits = std::to_string(value);
  if (digits.size() < width) digits.insert(0, width - digits.size(), '0');
  return digits;
}

// The values of one bracket group ("01-04,07"); only the first when `first_only`
// (the rest is still checked).
std::vector<std::string> expand_group(const Context& cx, const std::string& group,
                                      bool first_only) {
  std::vector<std::string> values;
  size_t begin = 0;
  while (true) {
    const size_t end = std::min(group.find(',', begin), group.size());
    const std::string item = group.substr(begin, end - begin);
    const size_t dash = item.find('-');
    const std::string lo = item.substr(0, dash);
    const std::string hi = dash == std::string::npos ? lo : item.substr(dash + 1);
    if (!all_digits(lo) || !all_digits(hi) || lo.size() > 18 || hi.size() > 18) {
      cx.fail(concat("bad range '", item, "' in '[", group, "]'"));
    }
    const uint64_t from = std::stoull(lo);
    const uint64_t to = std::stoull(hi);
    if (to < from) cx.fail(concat("descending range '", item, "'"));
    const size_t width = lo.size() > 1 && lo[0] == '0' ? lo.size() : 0;
    if (!first_only && to - from >= kMaxHosts - values.size()) {
      cx.fail(concat("more than ", kMaxHosts, " hosts"));
    }
    for (uint64_t v = from; v <= to && !(first_only && !values.empty()); ++v) {
      values.push_back(padded(v, width));
    }
    if (end == group.size()) break;
    begin = end + 1;
  }
  return values;
}

// Every host of one name ("r[1-2]n[1-2]"), in order: the last group varies fastest.
std::vector<std::string> expand_name(const Context& cx, const std::string& name, bool first_only) {
  std::vector<std::string> hosts{""};
  size_t pos = 0;
  while (pos < name.size()) {
    const size_t open = name.find('[', pos);
    const std::string literal = name.substr(pos, open == std::string::npos ? open : open - pos);
    for (std::string& h : hosts) h += literal;
    if (open == std::string::npos) break;
    const size_t close = name.find(']', open);
    const std::string group = name.substr(open + 1, close - open - 1);
    if (group.empty()) cx.fail("empty '[]'");
    const std::vector<std::string> values = expand_group(cx, group, first_only);
    std::vector<std::string> next;
    next.reserve(hosts.size() * values.size());
    for (const std::string& h : hosts) {
      for (const std::string& v : values) next.push_back(h + v);
    }
    hosts = std::move(next);
    pos = close + 1;
  }
  return hosts;
}

}  // namespace

std::vector<std::string> expand_hostlist(const std::string& hostlist, const std::string& what) {
  const Context cx{hostlist, what};
  if (hostlist.empty()) cx.fail("empty");
  std::vector<std::string> hosts;
  for (const std::string& name : split_names(cx)) {
    for (std::string& h : expand_name(cx, name, false)) hosts.push_back(std::move(h));
  }
  return hosts;
}

std::string first_host(const std::string& hostlist, const std::string& what) {
  const Context cx{hostlist, what};
  if (hostlist.empty()) cx.fail("empty");
  // Validates the whole list, expands only the first name's first host.
  const std::vector<std::string> names = split_names(cx);
  for (size_t i = 1; i < names.size(); ++i) expand_name(cx, names[i], true);
  return expand_name(cx, names[0], true).front();
}

}  // namespace shardsim::c10d
