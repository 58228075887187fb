#include "shardsim/core/comm.h"

#include <ostream>
#include <sstream>

#include <ATen/ATen.h>

#include "shardsim/core/digest.h"
#include "shardsim/core/error.h"
#include "shardsim/core/mesh.h"

namespace shardsim {

const char* collective_kind_name(CollectiveKind kind) {
  switch (kind) {
    case CollectiveKind::kAllGather: return "all_gather";
    case CollectiveKind::kBroadcast: return "broadcast";
    case CollectiveKind::kBroadcastBytes: return "broadcast_bytes";
    case CollectiveKind::kScatter: return "scatter";
    case CollectiveKind::kAllReduce: return "all_reduce";
    case CollectiveKind::kBarrier: return "barrier";
  }
  return "?";
}

std::string Fingerprint::str() const {
  std::ostringstream os;
  os << collective_kind_name(kind) << "(group=" << group << ", seq=" << sequence;
  if (dtype) os << ", dtype=" << c10::toString(*dtype);
  if (root >= 0) os << ", root=" << root;
  if (!sizes.empty()) os << ", sizes=" << sizes.str();
  os << ")";
  return os.str();
}

bool operator==(const Fingerprint& a, const Fingerprint& b) {
  return a.kind == b.kind && a.group == b.group && a.sequence == b.sequence &&
         a.dtype == b.dtype && a.root == b.root && a.sizes == b.sizes;
}

std::ostream& operator<<(std::ostream& os, const Fingerprint& fp) { return os << fp.str(); }

std::shared_ptr<Comm> Comm::subgroup(const std::vector<int64_t>& members) {
  Digest key;
  for (int64_t m : members) key.update_i64(m);
  const uint64_t k = key.value();
  for (auto [it, end] = subgroups_.equal_range(k); it != end; ++it) {
    if (it->second->members() == members) return it->second;
  }
  const int64_t me = this->members()[rank()];
  bool found = false;
  for (int64_t m : members) found = found || m == me;
  SHARDSIM_CHECK(found, "rank ", me, " asked for sub-group ", shape_str(members),
                 " it is not a member of");
  std::shared_ptr<Comm> group = create_subgroup(members);
  subgroups_.emplace(k, group);
  return group;
}

std::shared_ptr<Comm> Comm::mesh_group(const DeviceMesh& mesh, int64_t dim) {
  if (mesh.ndim() == 1 && mesh.has_default_ranks() && mesh.size() == size() && name() == "world") {
    // The world group itself, without building a list of every rank.
    return std::shared_ptr<Comm>(std::shared_ptr<Comm>(), this);
  }
  const int64_t me = members()[rank()];
  return subgroup(mesh.group_ranks(me, dim));
}

at::Tensor Comm::all_gather_flat(const at::Tensor& input, const Counts& counts) {
  const int64_t total = counts.total();
  at::Tensor out;
  all_gather(input, counts, [&](int64_t src, const at::Tensor& piece) {
    if (!out.defined()) out = at::empty({total}, input.options());
    const int64_t n = counts[src];
    if (n > 0) out.narrow(0, counts.offset(src), n).copy_(piece);
  });
  if (!out.defined()) out = at::empty({total}, input.options());
  return out;
}

at::Tensor Comm::all_gather_flat_on(const at::Tensor& input, const Counts& counts,
                                   c10::Device device) {
  at::Tensor flat = all_gather_flat(input, counts);
  return flat.device() == device ? flat : flat.to(device);
}

at::Tensor all_gather_cat(Comm& comm, const at::Tensor& local, int64_t dim,
                          const Counts& sizes_along_dim, c10::optional<c10::Device> device) {
  const int64_t n = comm.size();
  SHARDSIM_CHECK(sizes_along_dim.size() == n, "all_gather_cat: ", sizes_along_dim.size(),
                 " sizes for a group of ", n);
  SHARDSIM_CHECK(dim >= 0 && dim < local.dim(), "all_gather_cat: dim ", dim, " of a ",
                 local.dim(), "-dim tensor");
  SHARDSIM_CHECK(local.size(dim) == sizes_along_dim[comm.rank()], "all_gather_cat: rank ",
                 comm.members()[comm.rank()], " holds ", local.size(dim), " along dim ", dim,
                 " but the agreed size is ", sizes_along_dim[comm.rank()]);
  // Elements of one size-1 slab along `dim`: the product of the other sizes.
  int64_t slab = 1;
  for (int64_t d = 0; d < local.dim(); ++d) {
    if (d != dim) slab *= local.size(d);
  }
  const Counts counts = sizes_along_dim.scaled(slab);
  std::vector<int64_t> out_shape(local.sizes().begin(), local.sizes().end());
  out_shape[dim] = sizes_along_dim.total();
  const at::Tensor flat = device && *device != local.device()
                              ? comm.all_gather_flat_on(local.contiguous(), counts, *device)
                              : comm.all_gather_flat(local.contiguous(), counts);
  // Along dim 0 (or with every earlier dim of size 1) the concatenation is
  // already laid out: no further copy.
  bool leading = true;
  for (int64_t d = 0; d < dim; ++d) leading = leading && local.size(d) == 1;
  if (leading) return flat.view(out_shape);
  std::vector<at::Tensor> pieces;
  for (int64_t r = 0; r < n; ++r) {
    std::vector<int64_t> piece_shape = out_shape;
    piece_shape[dim] = sizes_along_dim[r];
    pieces.push_back(flat.narrow(0, counts.offset(r), counts[r]).view(piece_shape));
  }
  return at::cat(pieces, dim);
}

}  // namespace shardsim
