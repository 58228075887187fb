#include "shardsim/core/sharded_tensor.h"

#include <ostream>
#include <sstream>

#include <ATen/ATen.h>

#include "shardsim/core/checked.h"
#include "shardsim/core/error.h"

namespace shardsim {

int64_t ShardMetadata::rank() const {
  const std::string prefix = "rank:";
  if (placement.compare(0, prefix.size(), prefix) != 0) return -1;
  int64_t r = 0;
  size_t i = prefix.size();
  if (i >= placement.size() || placement[i] < '0' || placement[i] > '9') return -1;
  for (; i < placement.size() && placement[i] >= '0' && placement[i] <= '9'; ++i) {
    r = r * 10 + (placement[i] - '0');
    if (r > (int64_t{1} << 40)) return -1;
  }
  return r;
}

std::ostream& operator<<(std::ostream& os, const ShardMetadata& m) {
  return os << "ShardMetadata(offsets=" << shape_str(m.offsets) << ", sizes=" << shape_str(m.sizes)
            << ", placement=" << m.placement << ")";
}

namespace {

std::string describe(size_t index, const ShardMetadata& m) {
  std::ostringstream os;
  os << "shard " << index << " " << m;
  return os.str();
}

// Whether two boxes share at least one element.
bool overlaps(const ShardMetadata& a, const ShardMetadata& b) {
  for (size_t d = 0; d < a.offsets.size(); ++d) {
    if (a.sizes[d] == 0 || b.sizes[d] == 0) return false;
    const int64_t lo = std::max(a.offsets[d], b.offsets[d]);
    const int64_t hi = std::min(a.offsets[d] + a.sizes[d], b.offsets[d] + b.sizes[d]);
    if (lo >= hi) return false;
  }
  return true;
}

void validate_one(const Shape& global_size, size_t index, const ShardMetadata& m) {
  SHARDSIM_CHECK_ARG(m.offsets.size() == global_size.size() && m.sizes.size() == global_size.size(),
                     describe(index, m), " does not have the ", global_size.size(),
                     " dims of global size ", shape_str(global_size));
  for (size_t d = 0; d < global_size.size(); ++d) {
    SHARDSIM_CHECK_ARG(m.offsets[d] >= 0 && m.sizes[d] >= 0, describe(index, m),
                       " has a negative offset or size on dim ", d);
    // offset + size <= global, written so that it cannot overflow.
    SHARDSIM_CHECK_ARG(m.sizes[d] <= global_size[d] && m.offsets[d] <= global_size[d] - m.sizes[d],
                       describe(index, m),
                       " is out of bounds on dim ", d, ": ", m.offsets[d], " + ", m.sizes[d],
                       " > ", global_size[d], " (global size ", shape_str(global_size), ")");
  }
  SHARDSIM_CHECK_ARG(m.rank() >= 0, describe(index, m),
                     " has a placement without a rank (expected rank:R/<device>)");
}

}  // namespace

void ShardedTensor::validate_tiling(const Shape& global_size, const std::vector<ShardMetadata>& all) {
  for (int64_t s : global_size) {
    SHARDSIM_CHECK_ARG(s >= 0, "ShardedTensor global size ", shape_str(global_size),
                       " has a negative size");
  }
  int64_t volume = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    validate_one(global_size, i, all[i]);
    volume = checked_add(volume, numel_of(all[i].sizes), "ShardedTensor: the shards' total volume");
  }
  for (size_t i = 0; i < all.size(); ++i) {
    for (size_t j = i + 1; j < all.size(); ++j) {
      SHARDSIM_CHECK_ARG(!overlaps(all[i], all[j]), describe(i, all[i]), " overlaps ",
                         describe(j, all[j]));
    }
  }
  SHARDSIM_CHECK_ARG(volume == numel_of(global_size), "the shards cover ", volume, " of the ",
                     numel_of(global_size), " elements of global size ", shape_str(global_size),
                     " (they must tile it exactly)");
}

ShardedTensor::ShardedTensor(Shape global_size, std::vector<LocalShard> local_shards,
                             std::vector<ShardMetadata> all_shards,
                             c10::optional<c10::ScalarType> dtype)
    : global_size_(std::move(global_size)),
      shards_(std::move(local_shards)),
      all_shards_(std::move(all_shards)),
      dtype_(dtype ? *dtype
                   : (!shards_.empty() && shards_[0].tensor.defined() ? shards_[0].tensor.scalar_type()
                                                                      : at::kFloat)) {
  validate_tiling(global_size_, all_shards_);
  for (size_t i = 0; i < shards_.size(); ++i) {
    const LocalShard& s = shards_[i];
    bool listed = false;
    for (const ShardMetadata& m : all_shards_) listed = listed || m == s.metadata;
    SHARDSIM_CHECK_ARG(listed, "local shard ", i, " ", s.metadata,
                       " is not among the tensor's shards metadata");
    SHARDSIM_CHECK_ARG(s.tensor.defined(), "local shard ", i, " ", s.metadata, " has no tensor");
    const Shape actual(s.tensor.sizes().begin(), s.tensor.sizes().end());
    SHARDSIM_CHECK_ARG(actual == s.metadata.sizes, "local shard ", i, " ", s.metadata,
                       " holds a tensor of shape ", shape_str(actual));
    SHARDSIM_CHECK_ARG(s.tensor.scalar_type() == dtype_, "local shard ", i, " ", s.metadata,
                       " has dtype ", c10::toString(s.tensor.scalar_type()), " but the tensor's is ",
                       c10::toString(dtype_));
  }
}

ShardedTensor ShardedTensor::to(c10::Device device, bool non_blocking) const {
  std::vector<LocalShard> moved;
  moved.reserve(shards_.size());
  for (const LocalShard& s : shards_) {
    at::Tensor t = s.tensor.device() == device
                       ? s.tensor
                       : s.tensor.to(device, s.tensor.scalar_type(), non_blocking);
    moved.push_back(LocalShard{t, s.metadata});
  }
  ShardedTensor out = *this;
  out.shards_ = std::move(moved);
  return out;
}

std::ostream& operator<<(std::ostream& os, const ShardedTensor& t) {
  os << "ShardedTensor(size=" << shape_str(t.size()) << ", local_shards=[";
  for (size_t i = 0; i < t.local_shards().size(); ++i) {
    const LocalShard& s = t.local_shards()[i];
    os << (i ? ", " : "") << c10::toString(s.tensor.scalar_type()) << " on " << s.tensor.device()
       << " " << s.metadata;
  }
  return os << "], shards=" << t.shards_metadata().size() << ")";
}

std::string shard_placement(int64_t rank, c10::Device device) {
  std::ostringstream os;
  os << "rank:" << rank << "/" << device;
  return os.str();
}

}  // namespace shardsim
