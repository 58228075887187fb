// A device mesh: an n-dimensional arrangement of ranks, numbered row-major.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <c10/core/DeviceType.h>

#include "shardsim/core/shape.h"

namespace shardsim {

class DeviceMesh {
 public:
  // A mesh of `shape` over `ranks` (row-major); `ranks` defaults to
  // 0..prod(shape)-1. Throws InvalidArgument on a size < 1, a rank count that
  // does not match the shape, or a repeated rank.
  DeviceMesh(c10::DeviceType device_type, Shape shape, std::vector<int64_t> ranks = {});

  c10::DeviceType device_type() const { return device_type_; }
  const Shape& shape() const { return shape_; }
  int64_t ndim() const { return static_cast<int64_t>(shape_.size()); }
  // Number of ranks in the mesh.
  int64_t size() const { return size_; }
  int64_t size(int64_t dim) const;
  // The ranks in row-major order (a fresh list; O(size)).
  std::vector<int64_t> ranks() const;
  // Whether the ranks are 0..size-1 in order (then nothing is stored per
  // rank, so a mesh over 65536 ranks costs a few bytes in every DTensor).
  bool has_default_ranks() const { return list_ == nullptr; }
  // The rank at row-major position `flat`.
  int64_t rank_at_flat(int64_t flat) const;
  // The row-major position of `rank`, or -1 when it is not in the mesh.
  int64_t flat_index(int64_t rank) const;

  bool contains(int64_t rank) const;
  // Coordinate of `rank` on every mesh dimension. Throws if not in the mesh.
  Shape coordinate(int64_t rank) const;
  // The rank at `coord`.
  int64_t rank_at(const Shape& coord) const;
  // The ranks that share every coordinate of `rank` except the one on `dim`,
  // ordered by their coordinate on `dim` (the group of a collective along `dim`).
  std::vector<int64_t> group_ranks(int64_t rank, int64_t dim) const;

  friend bool operator==(const DeviceMesh& a, const DeviceMesh& b);
  friend bool operator!=(const DeviceMesh& a, const DeviceMesh& b) { return !(a == b); }

 private:
  // An explicit rank list and its index, shared by every copy of the mesh.
  struct RankList {
    std::vector<int64_t> ranks;                          // row-major
    std::vector<std::pair<int64_t, int64_t>> by_rank;    // (rank, flat), sorted
  };

  c10::DeviceType device_type_;
  Shape shape_;
  int64_t size_ = 0;
  std::shared_ptr<const RankList> list_;  // null: ranks 0..size-1
};

// "DeviceMesh(privateuseone, 2x4, ranks=[0..7])"
std::ostream& operator<<(std::ostream& os, const DeviceMesh& mesh);

}  // namespace shardsim
