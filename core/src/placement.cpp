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

Placements parse_placements(const std::string& text) {
  Placements out;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty()) out.push_back(Placement::parse(cur));
    cur.clear();
  };
  for (char ch : text) {
    if (ch == ',' || ch == ' ' || ch == ';') {
      flush();
    } else {
      cur.push_back(ch);
    }
  }
  flush();
  SHARDSIM_CHECK_ARG(!out.empty(), "placements '", text, "' are empty (expected e.g. S0,R)");
  return out;
}

}  // namespace shardsim
