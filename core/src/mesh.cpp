#include "shardsim/core/mesh.h"

#include <algorithm>

#include <ostream>

#include "shardsim/core/error.h"

namespace shardsim {

DeviceMesh::DeviceMesh(c10::DeviceType device_type, Shape shape, std::vector<int64_t> ranks)
    : device_type_(device_type), shape_(std::move(shape)) {
  SHARDSIM_CHECK_ARG(!shape_.empty(), "a device mesh needs at least one dimension");
  for (int64_t s : shape_) {
    SHARDSIM_CHECK_ARG(s >= 1, "mesh ", mesh_shape_str(shape_), ": every size must be at least 1");
  }
  size_ = numel_of(shape_);
  if (ranks.empty()) return;
  SHARDSIM_CHECK_ARG(static_cast<int64_t>(ranks.size()) == size_, "mesh ", mesh_shape_str(shape_),
                     " holds ", size_, " ranks but ", ranks.size(), " were given");
  bool identity = true;
  for (size_t i = 0; i < ranks.size(); ++i) identity = identity && ranks[i] == static_cast<int64_t>(i);
  if (identity) return;  // stored as the default: nothing per rank
  auto list = std::make_shared<RankList>();
  list->by_rank.reserve(ranks.size());
  for (size_t i = 0; i < ranks.size(); ++i) {
    SHARDSIM_CHECK_ARG(ranks[i] >= 0, "mesh ", mesh_shape_str(shape_), ": negative rank ", ranks[i]);
    list->by_rank.emplace_back(ranks[i], static_cast<int64_t>(i));
  }
  std::sort(list->by_rank.begin(), list->by_rank.end());
  for (size_t i = 1; i < list->by_rank.size(); ++i) {
    SHARDSIM_CHECK_ARG(list->by_rank[i].first != list->by_rank[i - 1].first, "mesh ", mesh_shape_str(shape_),
                       ": rank ", list->by_rank[i].first, " appears twice");
  }
  list->ranks = std::move(ranks);
  list_ = std::move(list);
}

int64_t DeviceMesh::size(int64_t dim) const {
  SHARDSIM_CHECK(dim >= 0 && dim < ndim(), "mesh dim ", dim, " out of range for a ", ndim(),
                 "-dim mesh");
  return shape_[dim];
}

std::vector<int64_t> DeviceMesh::ranks() const {
  if (list_) return list_->ranks;
  std::vector<int64_t> r(static_cast<size_t>(size_));
  for (int64_t i = 0; i < size_; ++i) r[static_cast<size_t>(i)] = i;
  return r;
}

int64_t DeviceMesh::rank_at_flat(int64_t flat) const {
  SHARDSIM_CHECK(flat >= 0 && flat < size_, "mesh position ", flat, " outside a mesh of ", size_);
  return list_ ? list_->ranks[static_cast<size_t>(flat)] : flat;
}

int64_t DeviceMesh::flat_index(int64_t rank) const {
  if (!list_) return rank >= 0 && rank < size_ ? rank : -1;
  auto it = std::lower_bound(list_->by_rank.begin(), list_->by_rank.end(),
                             std::make_pair(rank, int64_t{-1}));
  return it != list_->by_rank.end() && it->first == rank ? it->second : -1;
}

bool DeviceMesh::contains(int64_t rank) const { return flat_index(rank) >= 0; }

Shape DeviceMesh::coordinate(int64_t rank) const {
  int64_t flat = flat_index(rank);
  SHARDSIM_CHECK(flat >= 0, "rank ", rank, " is not in mesh ", mesh_shape_str(shape_));
  Shape coord(shape_.size());
  for (size_t d = shape_.size(); d-- > 0;) {
    coord[d] = flat % shape_[d];
    flat /= shape_[d];
  }
  return coord;
}

int64_t DeviceMesh::rank_at(const Shape& coord) const {
  SHARDSIM_CHECK(coord.size() == shape_.size(), "coordinate ", shape_str(coord), " has ",
                 coord.size(), " entries for a ", ndim(), "-dim mesh");
  int64_t flat = 0;
  for (size_t d = 0; d < shape_.size(); ++d) {
    SHARDSIM_CHECK(coord[d] >= 0 && coord[d] < shape_[d], "coordinate ", shape_str(coord),
                   " outside mesh ", mesh_shape_str(shape_));
    flat = flat * shape_[d] + coord[d];
  }
  return rank_at_flat(flat);
}

std::vector<int64_t> DeviceMesh::group_ranks(int64_t rank, int64_t dim) const {
  Shape coord = coordinate(rank);
  const int64_t n = size(dim);
  std::vector<int64_t> group(n);
  for (int64_t c = 0; c < n; ++c) {
    coord[dim] = c;
    group[c] = rank_at(coord);
  }
  return group;
}

bool operator==(const DeviceMesh& a, const DeviceMesh& b) {
  if (a.device_type_ != b.device_type_ || a.shape_ != b.shape_) return false;
  if (a.list_ == b.list_) return true;
  if (!a.list_ || !b.list_) return false;  // default vs explicit: explicit lists are never the identity
  return a.list_->ranks == b.list_->ranks;
}

std::ostream& operator<<(std::ostream& os, const DeviceMesh& mesh) {
  os << "DeviceMesh(" << c10::DeviceTypeName(mesh.device_type(), /*lower_case=*/true) << ", "
     << mesh_shape_str(mesh.shape()) << ", ranks=";
  if (mesh.has_default_ranks()) {
    os << "[0.." << mesh.size() - 1 << "]";
  } else {
    const std::vector<int64_t> r = mesh.ranks();
    bool contiguous = true;
    for (size_t i = 0; i < r.size(); ++i) contiguous = contiguous && r[i] == r[0] + int64_t(i);
    if (contiguous) {
      os << "[" << r.front() << ".." << r.back() << "]";
    } else {
      os << shape_str(r);
    }
  }
  return os << ")";
}

}  // namespace shardsim
