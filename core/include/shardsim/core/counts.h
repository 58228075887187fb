// Per-member element counts of a collective, kept compact.
//
// A DTensor gather along a mesh dimension of n members gives member i the
// elements of torch.chunk's i-th piece: `chunked(n, slabs, slab)` says so in
// O(1) space, where an explicit list would cost O(n) per member and O(n^2)
// across a world of n fibers waiting in one collective. Explicit lists are
// still accepted (implicitly, from std::vector<int64_t>) for anything else.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

namespace shardsim {

class Counts {
 public:
  // No members (an empty explicit list: every explicit Counts has a list).
  Counts() : Counts(std::vector<int64_t>{}) {}
  // An explicit list, one count per member.
  Counts(std::vector<int64_t> counts);  // NOLINT(google-explicit-constructor): a list is a Counts
  Counts(std::initializer_list<int64_t> counts) : Counts(std::vector<int64_t>(counts)) {}

  // `n` members with `each` elements.
  static Counts uniform(int64_t n, int64_t each);
  // `n` members; member i holds torch.chunk's i-th piece of `slabs` slabs,
  // each of `slab` elements (chunk_range(slabs, n, i).size * slab).
  static Counts chunked(int64_t n, int64_t slabs, int64_t slab);

  int64_t size() const { return n_; }
  // Whether this is an explicit list (the other forms are never negative).
  bool is_explicit() const { return kind_ == Kind::kExplicit; }
  bool empty() const { return n_ == 0; }
  int64_t operator[](int64_t i) const;
  // Elements before member i (the sum of counts [0, i)).
  int64_t offset(int64_t i) const;
  int64_t total() const;
  int64_t max() const;
  // Every count multiplied by `factor`.
  Counts scaled(int64_t factor) const;
  std::vector<int64_t> to_vector() const;
  operator std::vector<int64_t>() const { return to_vector(); }  // NOLINT

  // Short form for messages: "[3,3,1,0]" or "chunk(7 over 4) x 6".
  std::string str() const;

  friend bool operator==(const Counts& a, const Counts& b);
  friend bool operator!=(const Counts& a, const Counts& b) { return !(a == b); }

  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = int64_t;
    using difference_type = std::ptrdiff_t;
    using pointer = const int64_t*;
    using reference = int64_t;
    const_iterator(const Counts* c, int64_t i) : c_(c), i_(i) {}
    int64_t operator*() const { return (*c_)[i_]; }
    const_iterator& operator++() {
      ++i_;
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator t = *this;
      ++i_;
      return t;
    }
    bool operator==(const const_iterator& o) const { return i_ == o.i_; }
    bool operator!=(const const_iterator& o) const { return i_ != o.i_; }

   private:
    const Counts* c_;
    int64_t i_;
  };
  const_iterator begin() const { return const_iterator(this, 0); }
  const_iterator end() const { return const_iterator(this, n_); }

 private:
  enum class Kind { kExplicit, kUniform, kChunked };
  Kind kind_ = Kind::kExplicit;
  int64_t n_ = 0;
  int64_t slabs_ = 0;  // kChunked: slabs split by the chunk rule; kUniform: the count
  int64_t slab_ = 1;   // kChunked: elements per slab
  std::shared_ptr<const std::vector<int64_t>> list_;  // kExplicit
};

std::ostream& operator<<(std::ostream& os, const Counts& c);

}  // namespace shardsim
