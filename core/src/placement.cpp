#include "shardsim/core/placement.h"

#include <ostream>
#include <sstream>

#include "shardsim/core/error.h"

namespace shardsim {

Placement Placement::shard(int64_t dim) {
  SHARDSIM_CHECK_ARG(dim >= 0, "Shard dim must be non-negative, got ", dim);
  return Placement(Kind::kShard, dim);
}
Placement Placement::replicate() { return Placement(Kind::kReplicate, -1); }
Placement Placement::partial() { return Placement(Kind::kPartial, -1); }

int64_t Placement::dim() const {
  SHARDSIM_CHECK(is_shard(), "Placement::dim() on ", str());
  return dim_;
}

Placement Placement::parse(const std::string& word) {
  if (word == "R" || word == "r") return replicate();
  if (word == "P" || word == "p") return partial();
  if (word.size() >= 2 && (word[0] == 'S' || word[0] == 's') && word.size() <= 4) {
    int64_t d = 0;
    for (size_t i = 1; i < word.size(); ++i) {
      SHARDSIM_CHECK_ARG(word[i] >= '0' && word[i] <= '9', "placement '", word,
                         "' is malformed (expected S<d>, R or P)");
      d = d * 10 + (word[i] - '0');
    }
    return shard(d);
  }
  throw InvalidArgument("placement '" + word + "' is malformed (expected S<d>, R or P)");
}

std::string Placement::word() const {
  switch (kind_) {
    case Kind::kShard: return "S" + std::to_string(dim_);
    case Kind::kReplicate: return "R";
    case Kind::kPartial: return "P";
  }
  return "?";
}

std::string Placement::str() const {
  switch (kind_) {
    case Kind::kShard: return "Shard(" + std::to_string(dim_) + ")";
    case Kind::kReplicate: return "Replicate()";
    case Kind::kPartial: return "Partial(sum)";
  }
  return "?";
}

std::ostream& operator<<(std::ostream& os, const Placement& p) { return os << p.str(); }

std::string placements_str(const Placements& ps) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < ps.size(); ++i) os << (i ? ", " : "") << ps[i].str();
  os << "]";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Placements& ps) { return os << placements_str(ps); }

namespace {

bool is_space(char ch) { return ch == ' ' || ch == '\t'; }

std::string trimmed(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

}  // namespace

// Words are separated by ',' or ';' (spaces around them allowed), or, in a
// list without either, by spaces. An empty word between separators is an
// error, not a shorter list: "S0,,R" must not pass for a 2-dim mesh.
Placements parse_placements(const std::string& text) {
  SHARDSIM_CHECK_ARG(!trimmed(text).empty(), "placements '", text,
                     "' are empty (expected e.g. S0,R)");
  const bool listed = text.find_first_of(",;") != std::string::npos;
  std::vector<std::string> words;
  std::string cur;
  for (char ch : text) {
    if (listed ? (ch == ',' || ch == ';') : is_space(ch)) {
      words.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(ch);
    }
  }
  words.push_back(cur);
  Placements out;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string word = trimmed(words[i]);
    if (word.empty() && !listed) continue;  // runs of spaces
    SHARDSIM_CHECK_ARG(!word.empty(), "placements '", text, "': word ", i + 1,
                       " is empty (expected e.g. S0,R)");
    out.push_back(Placement::parse(word));
  }
  return out;
}

}  // namespace shardsim
