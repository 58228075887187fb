#include "shardsim/core/dtensor.h"

#include <ostream>
#include <sstream>

#include <ATen/ATen.h>

#include "shardsim/core/comm.h"
#include "shardsim/core/checked.h"
#include "shardsim/core/error.h"
#include "shardsim/core/sharding.h"

namespace shardsim {

std::string DTensorSpec::str() const {
  std::ostringstream os;
  os << "DTensorSpec(mesh=" << mesh << ", placements=" << placements_str(placements)
     << ", shape=" << shape_str(shape) << ", stride=" << shape_str(stride) << ")";
  return os.str();
}

bool operator==(const DTensorSpec& a, const DTensorSpec& b) {
  return a.mesh == b.mesh && a.placements == b.placements && a.shape == b.shape &&
         a.stride == b.stride;
}

std::ostream& operator<<(std::ostream& os, const DTensorSpec& spec) { return os << spec.str(); }

DTensor::DTensor(at::Tensor local, DTensorSpec spec) : local_(std::move(local)), spec_(std::move(spec)) {
  SHARDSIM_CHECK_ARG(static_cast<int64_t>(spec_.placements.size()) == spec_.mesh.ndim(),
                     spec_.placements.size(), " placements ", placements_str(spec_.placements),
                     " for a ", spec_.mesh.ndim(), "-dim mesh");
  SHARDSIM_CHECK_ARG(spec_.shape.size() == spec_.stride.size(), "DTensor shape ",
                     shape_str(spec_.shape), " and stride ", shape_str(spec_.stride),
                     " differ in length");
}

DTensor DTensor::to(c10::Device device, bool non_blocking) const {
  if (local_.device() == device) return *this;
  return DTensor(local_.to(device, local_.scalar_type(), non_blocking), spec_);
}

std::ostream& operator<<(std::ostream& os, const DTensor& t) {
  os << "DTensor(local=" << c10::toString(t.dtype()) << shape_str(t.local().sizes().vec())
     << " on " << t.device() << ", " << t.spec() << ")";
  return os;
}

DTensor from_local(at::Tensor local, const DeviceMesh& mesh, const Placements& placements,
                   c10::optional<Shape> shape, c10::optional<Shape> stride) {
  Shape global = shape ? *shape : Shape(local.sizes().begin(), local.sizes().end());
  validate_placements(global, mesh.shape(), placements);
  if (!shape) {
    for (size_t i = 0; i < placements.size(); ++i) {
      if (!placements[i].is_shard()) continue;
      int64_t& size = global[placements[i].dim()];
      size = checked_mul(size, mesh.shape()[i], "from_local: global size of a Shard dim");
    }
  }
  Shape global_stride = stride ? *stride : contiguous_strides(global);
  return DTensor(std::move(local), DTensorSpec{mesh, placements, global, global_stride});
}

namespace {

// Shape of this rank's piece after applying placements[0..k) (k = 0: global).
Shape stage_shape(const Shape& global, const DeviceMesh& mesh, const Shape& coord,
                  const Placements& placements, size_t k) {
  Placements prefix(placements.begin(), placements.begin() + k);
  Shape mesh_prefix(mesh.shape().begin(), mesh.shape().begin() + k);
  Shape coord_prefix(coord.begin(), coord.begin() + k);
  return compute_local_shape_and_global_offset(global, mesh_prefix, coord_prefix, prefix).shape;
}

// The additive identity that leaves every value's bits unchanged: -0.0 for
// floating types (x + -0.0 == x even for x == +0.0), zero otherwise.
at::Tensor additive_identity(const at::Tensor& like) {
  if (at::isFloatingType(like.scalar_type())) return at::full_like(like, -0.0);
  if (at::isComplexType(like.scalar_type())) {
    at::Tensor t = at::empty_like(like);
    at::view_as_real(t).fill_(-0.0);
    return t;
  }
  return at::zeros_like(like);
}

int64_t my_world_rank(const Comm& comm) { return comm.members()[comm.rank()]; }

}  // namespace

DTensor distribute_tensor(Comm& comm, const at::Tensor& full, const DeviceMesh& mesh,
                          const Placements& placements, c10::optional<c10::Device> device) {
  const Shape global(full.sizes().begin(), full.sizes().end());
  validate_placements(global, mesh.shape(), placements);
  const c10::Device dev = device ? *device : comm.device();
  const int64_t me = my_world_rank(comm);
  const Shape coord = mesh.coordinate(me);

  at::Tensor t = full.to(dev);
  for (size_t i = 0; i < placements.size(); ++i) {
    const Placement& p = placements[i];
    const int64_t c = coord[i];
    std::shared_ptr<Comm> group = comm.mesh_group(mesh, static_cast<int64_t>(i));
    if (p.is_shard()) {
      const int64_t d = p.dim();
      const int64_t n = mesh.shape()[i];
      const int64_t s = t.size(d);
      const int64_t slab = s == 0 ? 0 : t.numel() / s;
      const Counts counts = Counts::chunked(n, s, slab);
      std::vector<at::Tensor> inputs;
      for (int64_t k = 0; c == 0 && k < n; ++k) {
        const ChunkRange range = chunk_range(s, n, k);
        inputs.push_back(range.size == 0 ? at::empty({0}, t.options())
                                         : t.narrow(d, range.start, range.size).contiguous());
      }
      Shape out_shape(t.sizes().begin(), t.sizes().end());
      out_shape[d] = chunk_range(s, n, c).size;
      at::Tensor out = at::empty(out_shape, t.options());
      group->scatter(out, inputs, counts, /*root=*/0);
      t = out;
    } else if (p.is_replicate()) {
      if (c != 0) t = at::empty(t.sizes(), t.options());
      t = t.contiguous();
      group->broadcast(t, /*root=*/0);
    } else {
      if (c != 0) t = additive_identity(t);
    }
  }
  if (t.is_alias_of(full)) t = t.clone();
  return DTensor(t, DTensorSpec{mesh, placements, global, contiguous_strides(global)});
}

namespace {

// The redistribution to Replicate; with `discard`, the last collective's
// result is not materialised and an undefined tensor is returned.
at::Tensor gather_full(Comm& comm, const DTensor& t, bool discard,
                       c10::optional<c10::Device> device = c10::nullopt) {
  const DTensorSpec& spec = t.spec();
  const DeviceMesh& mesh = spec.mesh;
  const int64_t me = my_world_rank(comm);
  const Shape coord = mesh.coordinate(me);
  const size_t ndim = spec.placements.size();

  const Shape expected = stage_shape(spec.shape, mesh, coord, spec.placements, ndim);
  const Shape actual(t.local().sizes().begin(), t.local().sizes().end());
  SHARDSIM_CHECK(actual == expected, "full_tensor on rank ", me, ": local shape ",
                 shape_str(actual), " does not match ", shape_str(expected), " expected for ",
                 spec.str());

  // The first mesh dimension that is not Replicate is undone last.
  size_t last = ndim;
  for (size_t i = 0; i < ndim; ++i) {
    if (!spec.placements[i].is_replicate()) {
      last = i;
      break;
    }
  }
  at::Tensor cur = t.local();
  bool owned = false;  // whether `cur` is a fresh tensor rather than t.local()
  for (size_t i = ndim; i-- > 0;) {
    const Placement& p = spec.placements[i];
    if (p.is_replicate()) continue;
    std::shared_ptr<Comm> group = comm.mesh_group(mesh, static_cast<int64_t>(i));
    if (p.is_shard()) {
      const int64_t d = p.dim();
      const int64_t n = mesh.shape()[i];
      const int64_t s = stage_shape(spec.shape, mesh, coord, spec.placements, i)[d];
      if (discard && i == last) {
        int64_t slab = 1;
        for (int64_t k = 0; k < cur.dim(); ++k) {
          if (k != d) slab *= cur.size(k);
        }
        group->all_gather(cur.contiguous(), Counts::chunked(n, s, slab), PieceSink());
        return at::Tensor();
      }
      cur = all_gather_cat(*group, cur, d, Counts::chunked(n, s, 1),
                           i == last ? device : c10::nullopt);
      owned = true;
    } else {
      if (!owned) cur = cur.clone(at::MemoryFormat::Contiguous);
      cur = cur.contiguous();
      group->all_reduce_sum(cur);
      owned = true;
      if (discard && i == last) return at::Tensor();
    }
  }
  if (discard) return at::Tensor();
  if (device && cur.device() != *device) return cur.to(*device);
  if (!owned) cur = cur.clone(at::MemoryFormat::Contiguous);
  return cur;
}

}  // namespace

at::Tensor full_tensor(Comm& comm, const DTensor& t, c10::optional<c10::Device> device) {
  return gather_full(comm, t, false, device);
}

void full_tensor_discard(Comm& comm, const DTensor& t) { gather_full(comm, t, true); }

DTensor redistribute_to_replicate(Comm& comm, const DTensor& t) {
  at::Tensor full = full_tensor(comm, t);
  DTensorSpec spec = t.spec();
  for (Placement& p : spec.placements) p = Placement::replicate();
  return DTensor(full, spec);
}

}  // namespace shardsim
