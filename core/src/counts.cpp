#include "shardsim/core/counts.h"

#include <algorithm>
#include <ostream>
#include <sstream>

#include "shardsim/core/error.h"
#include "shardsim/core/sharding.h"

namespace shardsim {

Counts::Counts(std::vector<int64_t> counts)
    : kind_(Kind::kExplicit),
      n_(static_cast<int64_t>(counts.size())),
      list_(std::make_shared<const std::vector<int64_t>>(std::move(counts))) {}

Counts Counts::uniform(int64_t n, int64_t each) {
  SHARDSIM_CHECK(n >= 0 && each >= 0, "Counts::uniform(", n, ", ", each, ")");
  Counts c;
  c.kind_ = Kind::kUniform;
  c.n_ = n;
  c.slabs_ = each;
  return c;
}

Counts Counts::chunked(int64_t n, int64_t slabs, int64_t slab) {
  SHARDSIM_CHECK(n >= 1 && slabs >= 0 && slab >= 0, "Counts::chunked(", n, ", ", slabs, ", ", slab, ")");
  Counts c;
  c.kind_ = Kind::kChunked;
  c.n_ = n;
  c.slabs_ = slabs;
  c.slab_ = slab;
  return c;
}

int64_t Counts::operator[](int64_t i) const {
  SHARDSIM_CHECK(i >= 0 && i < n_, "Counts index ", i, " of ", n_);
  switch (kind_) {
    case Kind::kExplicit: return (*list_)[static_cast<size_t>(i)];
    case Kind::kUniform: return slabs_;
    case Kind::kChunked: return chunk_range(slabs_, n_, i).size * slab_;
  }
  return 0;
}

int64_t Counts::offset(int64_t i) const {
  SHARDSIM_CHECK(i >= 0 && i <= n_, "Counts offset ", i, " of ", n_);
  switch (kind_) {
    case Kind::kExplicit: {
      int64_t total = 0;
      for (int64_t k = 0; k < i; ++k) total += (*list_)[static_cast<size_t>(k)];
      return total;
    }
    case Kind::kUniform: return i * slabs_;
    case Kind::kChunked: {
      if (i == n_) return slabs_ * slab_;
      // Chunks are contiguous and in order: member i starts at its chunk's
      // start, clipped to the end for empty trailing pieces.
      return std::min(chunk_range(slabs_, n_, i).start, slabs_) * slab_;
    }
  }
  return 0;
}

int64_t Counts::total() const { return offset(n_); }

int64_t Counts::max() const {
  switch (kind_) {
    case Kind::kExplicit: return list_->empty() ? 0 : *std::max_element(list_->begin(), list_->end());
    case Kind::kUniform: return slabs_;
    case Kind::kChunked: return n_ == 0 ? 0 : (*this)[0];
  }
  return 0;
}

Counts Counts::scaled(int64_t factor) const {
  SHARDSIM_CHECK(factor >= 0, "Counts::scaled(", factor, ")");
  switch (kind_) {
    case Kind::kExplicit: {
      std::vector<int64_t> v = *list_;
      for (int64_t& x : v) x *= factor;
      return Counts(std::move(v));
    }
    case Kind::kUniform: return uniform(n_, slabs_ * factor);
    case Kind::kChunked: return chunked(n_, slabs_, slab_ * factor);
  }
  return *this;
}

std::vector<int64_t> Counts::to_vector() const {
  if (kind_ == Kind::kExplicit) return *list_;
  std::vector<int64_t> v(static_cast<size_t>(n_));
  for (int64_t i = 0; i < n_; ++i) v[static_cast<size_t>(i)] = (*this)[i];
  return v;
}

std::string Counts::str() const {
  std::ostringstream os;
  switch (kind_) {
    case Kind::kExplicit: {
      os << "[";
      const size_t shown = std::min<size_t>(list_->size(), 16);
      for (size_t i = 0; i < shown; ++i) os << (i ? "," : "") << (*list_)[i];
      if (shown < list_->size()) os << ",...(" << list_->size() << " entries)";
      os << "]";
      break;
    }
    case Kind::kUniform: os << n_ << " x " << slabs_; break;
    case Kind::kChunked:
      os << "chunk(" << slabs_ << " over " << n_ << ")";
      if (slab_ != 1) os << " x " << slab_;
      break;
  }
  return os.str();
}

bool operator==(const Counts& a, const Counts& b) {
  if (a.n_ != b.n_) return false;
  if (a.kind_ == b.kind_) {
    switch (a.kind_) {
      case Counts::Kind::kExplicit: return *a.list_ == *b.list_;
      case Counts::Kind::kUniform: return a.slabs_ == b.slabs_;
      case Counts::Kind::kChunked:
        if (a.slabs_ == b.slabs_ && a.slab_ == b.slab_) return true;
        break;  // different parameters can still give equal counts (e.g. all zero)
    }
  }
  for (int64_t i = 0; i < a.n_; ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

std::ostream& operator<<(std::ostream& os, const Counts& c) { return os << c.str(); }

}  // namespace shardsim
