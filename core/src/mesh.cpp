#include "shardsim/core/mesh.h"

#include <ostream>
#include <set>

#include "shardsim/core/error.h"

namespace shardsim {

DeviceMesh::DeviceMesh(c10::DeviceType device_type, Shape shape, std::vector<int64_t> ranks)
    : device_type_(device_type), shape_(std::move(shape)), ranks_(std::move(ranks)) {
  SHARDSIM_CHECK_ARG(!shape_.empty(), "a device mesh needs at least one dimension");
  for (int64_t s : shape_) {
    SHARDSIM_CHECK_ARG(s >= 1, "mesh ", mesh_shape_str(shape_), ": every size must be at least 1");
  }
  const int64_t n = numel_of(shape_);
  if (ranks_.empty()) {
    ranks_.resize(n);
    for (int64_t i = 0; i < n; ++i) ranks_[i] = i;
  }
  SHARDSIM_CHECK_ARG(static_cast<int64_t>(ranks_.size()) == n, "mesh ", mesh_shape_str(shape_),
                     " holds ", n, " ranks but ", ranks_.size(), " were given");
  std::set<int64_t> seen;
  for (int64_t r : ranks_) {
    SHARDSIM_CHECK_ARG(r >= 0, "mesh ", mesh_shape_str(shape_), ": negative rank ", r);
    SHARDSIM_CHECK_ARG(seen.insert(r).second, "mesh ", mesh_shape_str(shape_), ": rank ", r,
                       " appears twice");
  }
}

int64_t DeviceMesh::size(int64_t dim) const {
  SHARDSIM_CHECK(dim >= 0 && dim < ndim(), "mesh dim ", dim, " out of range for a ", ndim(),
                 "-dim mesh");
  return shape_[dim];
}

bool DeviceMesh::contains(int64_t rank) const {
  for (int64_t r : ranks_) {
    if (r == rank) return true;
  }
  return false;
}

Shape DeviceMesh::coordinate(int64_t rank) const {
  int64_t flat = -1;
  for (size_t i = 0; i < ranks_.size(); ++i) {
    if (ranks_[i] == rank) {
      flat = static_cast<int64_t>(i);
      break;
    }
  }
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
  return ranks_[flat];
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
  return a.device_type_ == b.device_type_ && a.shape_ == b.shape_ && a.ranks_ == b.ranks_;
}

std::ostream& operator<<(std::ostream& os, const DeviceMesh& mesh) {
  os << "DeviceMesh(" << c10::DeviceTypeName(mesh.device_type(), /*lower_case=*/true) << ", "
     << mesh_shape_str(mesh.shape()) << ", ranks=";
  const auto& r = mesh.ranks();
  bool contiguous = true;
  for (size_t i = 0; i < r.size(); ++i) contiguous = contiguous && r[i] == r[0] + int64_t(i);
  if (contiguous) {
    os << "[" << r.front() << ".." << r.back() << "]";
  } else {
    os << shape_str(r);
  }
  return os << ")";
}

}  // namespace shardsim
