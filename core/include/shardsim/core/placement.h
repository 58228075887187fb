// Placements of a DTensor on one mesh dimension: Shard(d), Replicate, Partial.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace shardsim {

class Placement {
 public:
  enum class Kind { kShard, kReplicate, kPartial };

  static Placement shard(int64_t dim);
  static Placement replicate();
  // A pending sum across the mesh dimension (PyTorch's Partial("sum")).
  static Placement partial();

  // Parses a CLI word: "S<d>", "R" or "P". Throws InvalidArgument.
  static Placement parse(const std::string& word);

  Kind kind() const { return kind_; }
  bool is_shard() const { return kind_ == Kind::kShard; }
  bool is_replicate() const { return kind_ == Kind::kReplicate; }
  bool is_partial() const { return kind_ == Kind::kPartial; }
  // The sharded tensor dimension. REQUIRES: is_shard().
  int64_t dim() const;

  // "S0", "R", "P": the CLI word.
  std::string word() const;
  // "Shard(0)", "Replicate()", "Partial(sum)".
  std::string str() const;

  friend bool operator==(const Placement& a, const Placement& b) {
    return a.kind_ == b.kind_ && a.dim_ == b.dim_;
  }
  friend bool operator!=(const Placement& a, const Placement& b) { return !(a == b); }

 private:
  Placement(Kind kind, int64_t dim) : kind_(kind), dim_(dim) {}
  Kind kind_;
  int64_t dim_;  // -1 unless Shard
};

using Placements = std::vector<Placement>;

std::ostream& operator<<(std::ostream& os, const Placement& p);
// "[Shard(0), Replicate()]"
std::string placements_str(const Placements& ps);
std::ostream& operator<<(std::ostream& os, const Placements& ps);
// Parses "S0,S1" or "S0 R". Throws InvalidArgument naming the bad word.
Placements parse_placements(const std::string& text);

}  // namespace shardsim
